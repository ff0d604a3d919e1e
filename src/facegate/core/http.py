"""HTTP plumbing shared by every feature's routes: the wiring of the running app, bounded uploads.

The app (``facegate.app.http``) puts its ``Container`` on ``app.state.container``; features read their
own services from it by attribute, so they never import the app layer."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request, UploadFile

from facegate.core.auth.principal import Principal
from facegate.core.errors import FaceGateError, ImageTooLargeError


def get_container(request: Request) -> Any:
    """The running app's service wiring (``facegate.app.bootstrap.Container``)."""
    return request.app.state.container


ContainerDep = Annotated[Any, Depends(get_container)]


def principal_of(request: Request) -> Principal | None:
    """The authenticated caller the authentication layer put on the request (None: none yet).

    Services treat None as an unauthenticated, non-admin caller of every group."""
    value = getattr(request.state, "principal", None)
    return value if isinstance(value, Principal) else None


PrincipalDep = Annotated[Principal | None, Depends(principal_of)]


async def read_upload(upload: UploadFile, max_bytes: int) -> bytes:
    """Read an uploaded file, refusing it as soon as it passes ``max_bytes``."""
    data = await upload.read(max_bytes + 1)
    if len(data) > max_bytes:
        name = upload.filename or "upload"
        raise ImageTooLargeError(f"{name}: file is larger than the limit of {max_bytes} bytes")
    return data


# Every error code FaceGate raises on purpose → its HTTP status. A subclass without an entry answers
# with the status of the nearest base class that has one (e.g. ``csrf_failed`` → ``forbidden``).
HTTP_STATUS: dict[str, int] = {
    "error": 400,
    "invalid_request": 422,
    "invalid_image": 422,
    "image_too_large": 413,
    "no_face": 422,
    "face_quality": 422,
    "model_unavailable": 500,
    "bad_configuration": 500,
    "model_mismatch": 409,
    "not_found": 404,
    "conflict": 409,
    "unauthorized": 401,
    "forbidden": 403,
    "rate_limited": 429,
    "unknown_model": 400,
    "template_key": 500,
    "invalid_frames": 422,
    "invalid_steps": 422,
    "invalid_dataset": 400,
    "liveness_expired": 410,
    "too_many_frames": 413,
    "no_face_images": 409,
    "lfw_data": 400,
    "bad_frame": 400,
    "invalid_device_name": 422,
    "capture_error": 422,
    "invalid_key_format": 422,
    "locker_secret": 500,
    "csrf_failed": 403,
    "access_denied": 403,
    "key_refused": 403,
    "locker_unavailable": 409,
    "speed_data": 400,
    "anchor_unavailable": 400,
    "invalid_group_name": 422,
    "group_not_empty": 409,
    "duplicate_face": 409,
    "actuator_error": 502,  # the lock controller failed: a gateway error, not the caller's
}


def http_status(exc: FaceGateError) -> int:
    """The HTTP status for ``exc``: its code's entry, else the nearest base class's."""
    for cls in type(exc).__mro__:
        code = vars(cls).get("code")
        if code in HTTP_STATUS:
            return HTTP_STATUS[code]
    return 400
