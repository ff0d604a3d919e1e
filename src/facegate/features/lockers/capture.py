"""Frames for the kiosk flows from a camera index (``0``) or a video file.

The reading itself is ``facegate.core.vision.capture`` (shared with ``facegate liveness``); this
module collects a bounded recording at the kiosk page's rate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from facegate.core.domain import ImageArray
from facegate.core.vision.capture import CaptureError, capture_frames, is_camera_index

DEFAULT_MAX_FRAMES = 300
DEFAULT_CAMERA_SECONDS = 8.0
DEFAULT_MAX_FPS = 15.0

__all__ = [
    "DEFAULT_CAMERA_SECONDS",
    "DEFAULT_MAX_FPS",
    "DEFAULT_MAX_FRAMES",
    "CaptureError",
    "Recording",
    "is_camera_index",
    "read_frames",
]


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

    Files are thinned to at most ``max_fps`` (every 2nd frame of a 30 fps file at the default
    15), the rate the kiosk page records at; a camera is read as it comes.
    ``on_frame(n)`` is called after each frame (progress bars). Raises ``NotFoundError`` for a
    missing file and ``CaptureError`` when nothing could be read.
    """
    camera = is_camera_index(source)
    frames: list[ImageArray] = []
    stamps: list[float] = []
    first: int | None = None
    for f in capture_frames(source, max_fps=max_fps, max_frames=max_frames,
                            max_seconds=camera_seconds if camera else None):
        frames.append(f.image)
        first = f.timestamp_ms if first is None else first
        stamps.append(float(f.timestamp_ms - first))
        if on_frame is not None:
            on_frame(len(frames))
    if not frames:
        raise CaptureError(f"no frames could be read from {source}")
    return Recording(frames, stamps)
