"""Frames for the kiosk flows from a camera index (``0``) or a video file."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from facegate.core.domain import ImageArray
from facegate.core.errors import FaceGateError, NotFoundError

DEFAULT_MAX_FRAMES = 300
DEFAULT_CAMERA_SECONDS = 8.0
DEFAULT_MAX_FPS = 15.0


class CaptureError(FaceGateError):
    code = "capture_error"


def is_camera_index(source: str) -> bool:
    return source.strip().isdigit()


@dataclass(frozen=True)
class Recording:
    """Frames and their capture times in ms from the first frame (strictly increasing)."""

    frames: list[ImageArray]
    timestamps_ms: list[float]


def read_frames(
    source: str,
    max_frames: int = DEFAULT_MAX_FRAMES,
    camera_seconds: float = DEFAULT_CAMERA_SECONDS,
    on_frame: Callable[[int], None] | None = None,
    max_fps: float = DEFAULT_MAX_FPS,
) -> Recording:
    """Every frame of a video file (up to ``max_frames``), or ``camera_seconds`` of a camera.

    Times: a file's frame rate (its container's, 30 fps when unknown); a camera's clock. Files
    are thinned to at most ``max_fps`` (every 2nd frame of a 30 fps file at the default 15), the
    rate the kiosk page records at; a camera is read as it comes.
    ``on_frame(n)`` is called after each frame (progress bars). Raises ``NotFoundError`` for a
    missing file and ``CaptureError`` when nothing could be read.
    """
    import cv2

    camera = is_camera_index(source)
    if not camera and not Path(source).is_file():
        raise NotFoundError(f"video file not found: {source}")
    cap = cv2.VideoCapture(int(source)) if camera else cv2.VideoCapture(str(source))
    if not cap.isOpened():
        what = f"camera {source}" if camera else f"video {source}"
        raise CaptureError(f"cannot open {what}")
    frames: list[ImageArray] = []
    stamps: list[float] = []
    fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
    if not camera and not 1.0 <= fps <= 240.0:
        fps = 30.0
    stride = 1 if camera else max(1, round(fps / max_fps))
    t0 = time.monotonic()
    deadline = t0 + camera_seconds
    n = -1
    try:
        while len(frames) < max_frames:
            ok, frame = cap.read()
            if not ok or frame is None:
                break
            n += 1
            if n % stride:
                continue
            if camera:
                t = round((time.monotonic() - t0) * 1000.0)
                if stamps and t <= stamps[-1]:
                    continue  # the driver handed the same instant twice
                stamps.append(t)
            else:
                stamps.append(round(n * 1000.0 / fps))
            frames.append(frame)
            if on_frame is not None:
                on_frame(len(frames))
            if camera and time.monotonic() >= deadline:
                break
    finally:
        cap.release()
    if not frames:
        raise CaptureError(f"no frames could be read from {source}")
    return Recording(frames, stamps)
