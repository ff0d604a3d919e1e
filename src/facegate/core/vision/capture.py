"""The one frame reader for a camera index (``0``) or a video file, with capture times in ms.

Used by ``facegate liveness check|collect`` and by the locker kiosk commands. Times: a file's
own timestamps (its container's position; its frame rate when the container gives none), a
camera's monotonic clock from the first frame; always strictly increasing (a repeated or
backwards time is moved one frame period on). Opening happens at once, so a missing file or an
unusable camera is an error before any model loads; frames are then read lazily.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from facegate.core.domain import ImageArray
from facegate.core.errors import FaceGateError, NotFoundError

DEFAULT_FPS = 30.0
"""A file's frame rate when its container states none or an implausible one."""


class CaptureError(FaceGateError):
    code = "capture_error"


def is_camera_index(source: str) -> bool:
    return source.strip().isdigit()


@dataclass(frozen=True)
class CapturedFrame:
    image: ImageArray
    timestamp_ms: int


def capture_frames(
    source: str,
    *,
    every: int = 1,
    max_fps: float | None = None,
    max_frames: int | None = None,
    max_seconds: float | None = None,
) -> Iterator[CapturedFrame]:
    """Every ``every``-th frame of ``source`` (files further thinned to at most ``max_fps``).

    Stops at the end of the source, after ``max_frames`` frames, or after the first frame later
    than ``max_seconds``. Raises ``NotFoundError`` for a missing file and ``CaptureError`` when
    the source cannot be opened (at once, before the first frame is asked for).
    """
    import cv2

    camera = is_camera_index(source)
    if not camera and not Path(source).is_file():
        raise NotFoundError(f"cannot open video {source}: video file not found")
    cap = cv2.VideoCapture(int(source)) if camera else cv2.VideoCapture(str(source))
    if not cap.isOpened():
        raise CaptureError(f"cannot open {'camera' if camera else 'video'} {source}")
    fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
    if not 1.0 <= fps <= 240.0:
        fps = DEFAULT_FPS
    stride = max(1, every) * (1 if camera or max_fps is None else max(1, round(fps / max_fps)))
    return _read(cap, camera, fps, stride, max_frames, max_seconds)


def _read(
    cap: Any, camera: bool, fps: float, stride: int, max_frames: int | None,
    max_seconds: float | None,
) -> Iterator[CapturedFrame]:
    import cv2

    start = time.monotonic()
    period = max(1, round(1000.0 / fps))
    last_t, index, count = -1, -1, 0
    try:
        while max_frames is None or count < max_frames:
            ok, frame = cap.read()
            if not ok or frame is None:
                break
            index += 1
            if camera:
                t = round((time.monotonic() - start) * 1000)
            else:
                pos = cap.get(cv2.CAP_PROP_POS_MSEC)
                t = round(pos) if pos > 0 or index == 0 else round(index * 1000.0 / fps)
            if index % stride == 0:
                if t <= last_t:  # a repeated timestamp (some containers, camera drivers)
                    t = last_t + period
                last_t = t
                count += 1
                yield CapturedFrame(frame, t)
            if max_seconds is not None and t > max_seconds * 1000:
                break
    finally:
        cap.release()
