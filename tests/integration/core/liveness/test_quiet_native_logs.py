"""MediaPipe/TFLite/absl start-up chatter stays out of the product's output (a real subprocess:
the chatter is written by C++ straight to file descriptor 2)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from facegate.core.liveness.native_logs import filter_noise, native_noise_filtered

REPO = Path(__file__).resolve().parents[4]
CHATTER = [
    b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n",
    b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n",
    b"W0000 00:00:1795959822.264142   14271 inference_feedback_manager.cc:114] Feedback manager "
    b"requires a model with a single signature inference. Disabling support for feedback tensors.\n",
    b"I0000 00:00:1795959822.264142   14271 gl_context.cc:357] GL version: 3.2\n",
]


def test_filter_keeps_everything_but_the_chatter() -> None:
    real = b"error: something real\nE0000 00:00:1.0 1 x.cc:1] a native error stays\n"
    assert filter_noise(b"".join(CHATTER) + real) == real


def test_block_drops_native_chatter_and_keeps_other_output(capfd: pytest.CaptureFixture[str]) -> None:
    with native_noise_filtered():
        for line in CHATTER:
            os.write(2, line)
        os.write(2, b"a real warning\n")
        with native_noise_filtered():  # re-entrant
            os.write(2, CHATTER[0])
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "a real warning\nafter\n"


def test_liveness_cli_prints_no_native_warnings(data_dir: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FACEGATE_", "GLOG_", "TF_CPP"))}
    env.update(FACEGATE_DATA_DIR=str(tmp_path / "data"), PYTHONPATH=str(REPO / "src"))
    video = data_dir / "video" / "webcam_blink_turns.webm"
    r = subprocess.run(
        [sys.executable, "-m", "facegate", "liveness", "check-offline", str(video), "--steps",
         "blink,left,right"],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )
    assert r.returncode == 0, r.stderr
    assert "PASSED" in r.stdout
    assert r.stderr == "", r.stderr  # before: ~5 lines of TFLite / absl / glog warnings
