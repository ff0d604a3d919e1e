"""What the locker routes and kiosk pages share: who is calling, and the uploaded frames."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any

from fastapi import Depends, Request, UploadFile
from starlette.concurrency import run_in_threadpool

from facegate.core.auth.principal import SCOPE_ADMIN, SCOPE_KIOSK, Principal
from facegate.core.domain import ImageArray
from facegate.core.errors import FaceGateError, PermissionDeniedError
from facegate.core.http import authenticate, presented_key, read_upload, require_scope
from facegate.core.vision.images import ImageLimits, check_request_budget, decode_labeled

MAX_FRAMES = 300


def require_staff(request: Request) -> str:
    """Pages: the logged-in admin's username (a redirect to /login without a session)."""
    from facegate.core.web.deps import require_admin, web_context

    return require_admin(web_context(request)).username


async def require_staff_api(request: Request) -> str:
    """/v1: an ``admin`` key's name, or a logged-in web admin whose POSTs carry the CSRF header."""
    from facegate.core.web.deps import check_csrf, web_context

    if presented_key(request.headers, {})[0] is not None:
        return (await authenticate(request, SCOPE_ADMIN)).name
    ctx = await run_in_threadpool(web_context, request)
    if ctx.user is None:  # neither a key nor a web session: the usual (audited) 401
        return (await authenticate(request, SCOPE_ADMIN)).name
    if not ctx.user.is_admin:
        raise PermissionDeniedError("administrators only")
    if request.method not in ("GET", "HEAD"):
        check_csrf(ctx, None)
    return ctx.user.username


Staff = Annotated[str, Depends(require_staff)]
StaffApi = Annotated[str, Depends(require_staff_api)]
Kiosk = Annotated[Principal, require_scope(SCOPE_KIOSK)]


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
    budget = replace(limits, max_images=MAX_FRAMES, max_total_pixels=s.max_frame_batch_pixels)

    def decode() -> list[ImageArray]:
        check_request_budget(blobs, budget, "frames")  # headers only, before decoding
        return [decode_labeled(data, limits, label) for label, data in blobs]

    return await run_in_threadpool(decode)
