"""Keep MediaPipe's native start-up chatter (TFLite, absl/glog) out of the product's output.

MediaPipe's C++ side writes straight to file descriptor 2, before and regardless of Python's
logging: "INFO: Created TensorFlow Lite XNNPACK delegate", "WARNING: All log messages before
absl::InitializeLog() …" and glog-style ``W0000 … file.cc:123] …`` lines, ~5 of them on every
start. The environment variables those libraries read are set before MediaPipe is imported, and
the model start-up and first frames run with fd 2 sent to a temporary file; afterwards every line
that is not such chatter (a real error, another thread's output) is written back to stderr.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator
from typing import IO

QUIET_ENV = {"GLOG_minloglevel": "2", "TF_CPP_MIN_LOG_LEVEL": "3", "GLOG_logtostderr": "0"}

NOISE = re.compile(
    rb"^(INFO: Created TensorFlow Lite"
    rb"|WARNING: All log messages before absl::InitializeLog\(\)"
    rb"|[IW]\d{4} [\d:.]+\s+\d+ [\w./-]+\.cc:\d+\])"
)

_lock = threading.Lock()
_depth = 0
_saved_fd: int | None = None
_capture: IO[bytes] | None = None


def quiet_environment() -> None:
    """Ask TFLite/glog for errors only (read when MediaPipe is first imported)."""
    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)
    with contextlib.suppress(ImportError):  # absl's Python logging (MediaPipe depends on absl)
        from absl import logging as absl_logging

        absl_logging.set_verbosity(absl_logging.ERROR)


def filter_noise(data: bytes) -> bytes:
    """``data`` without the native chatter lines."""
    return b"".join(line for line in data.splitlines(keepends=True) if not NOISE.match(line))


@contextlib.contextmanager
def native_noise_filtered() -> Iterator[None]:
    """Run the block with fd 2 captured; re-emit what is not chatter. Re-entrant, thread-safe."""
    global _depth, _saved_fd, _capture
    with _lock:
        if _depth == 0:
            capture: IO[bytes] | None = None
            saved: int | None = None
            try:
                sys.stderr.flush()
                capture = tempfile.TemporaryFile()  # noqa: SIM115 - closed when the block ends
                saved = os.dup(2)
                os.dup2(capture.fileno(), 2)
            except (OSError, ValueError):  # no fd 2 (embedded use): nothing to filter
                capture, saved = None, None
            _capture, _saved_fd = capture, saved
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _saved_fd is not None and _capture is not None:
                with contextlib.suppress(ValueError):
                    sys.stderr.flush()
                os.dup2(_saved_fd, 2)
                os.close(_saved_fd)
                _capture.seek(0)
                kept = filter_noise(_capture.read())
                _capture.close()
                _capture, _saved_fd = None, None
                if kept:
                    os.write(2, kept)
