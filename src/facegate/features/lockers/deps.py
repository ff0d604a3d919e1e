"""What the locker routes and kiosk pages share: who is calling, and the uploaded frames."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request, UploadFile
from starlette.concurrency import run_in_threadpool

from facegate.core.domain import ImageArray
from facegate.core.errors import FaceGateError
from facegate.core.http import read_upload
from facegate.core.vision.images import ImageLimits, decode_labeled

MAX_FRAMES = 300


def require_staff(request: Request) -> str:
    """The logged-in admin's username; POSTs must carry the CSRF token header."""
    from facegate.core.web.deps import check_csrf, require_admin, web_context

    ctx = web_context(request)
    user = require_admin(ctx)
    if request.method not in ("GET", "HEAD"):
        check_csrf(ctx, None)
    return user.username


Staff = Annotated[str, Depends(require_staff)]


def kiosk_actor(request: Request) -> str:
    host = request.client.host if request.client else "unknown"
    return f"kiosk:{host}"[:200]


async def read_frames(c: Any, frames: list[UploadFile]) -> list[ImageArray]:
    """The uploaded frames, size-checked, decoded in the thread pool."""
    if not frames:
        raise FaceGateError("no frames uploaded")
    if len(frames) > MAX_FRAMES:
        raise FaceGateError(f"too many frames: at most {MAX_FRAMES}")
    s = c.settings
    limits = ImageLimits(max_pixels=s.stream_max_frame_pixels, max_bytes=s.stream_max_frame_bytes)
    blobs = [(f.filename or f"frame {i + 1}", await read_upload(f, limits.max_bytes))
             for i, f in enumerate(frames)]
    return await run_in_threadpool(
        lambda: [decode_labeled(data, limits, label) for label, data in blobs]
    )
