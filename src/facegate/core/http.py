"""HTTP plumbing shared by every feature's routes: the wiring of the running app, bounded uploads,
and the one place that authenticates API callers (``require_scope``).

The app (``facegate.app.http``) puts its ``Container`` on ``app.state.container``; features read their
own services from it by attribute, so they never import the app layer.

Credentials: ``Authorization: Bearer <key>`` or ``X-API-Key: <key>`` (an API key or a device token,
``facegate.core.auth.credentials``). A kiosk browser instead holds its key in the HttpOnly,
SameSite=Strict ``fg_kiosk`` cookie (set by the kiosk setup page); it is accepted only together with
the ``X-FaceGate-Kiosk: 1`` header (which a cross-site form cannot send) and only for a key whose
scopes are ``kiosk`` alone."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import Depends, Request, Security, UploadFile, WebSocket
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from facegate.core.auth.principal import SCOPE_KIOSK, Principal
from facegate.core.errors import AuthError, FaceGateError, ImageTooLargeError
from facegate.core.store.audit import current_client

KIOSK_COOKIE = "fg_kiosk"
KIOSK_HEADER = "x-facegate-kiosk"


def get_container(request: Request) -> Any:
    """The running app's service wiring (``facegate.app.bootstrap.Container``)."""
    return request.app.state.container


ContainerDep = Annotated[Any, Depends(get_container)]


async def read_upload(upload: UploadFile, max_bytes: int) -> bytes:
    """Read an uploaded file, refusing it as soon as it passes ``max_bytes``."""
    data = await upload.read(max_bytes + 1)
    if len(data) > max_bytes:
        name = upload.filename or "upload"
        raise ImageTooLargeError(f"{name}: file is larger than the limit of {max_bytes} bytes")
    return data


def client_host(scope: Scope) -> str:
    """The peer address of a request (proxies' X-Forwarded-For is not trusted)."""
    client = scope.get("client")
    return (client[0] if client else "unknown")[:64]


class ClientAddressMiddleware:
    """Binds the caller's address for the request, so every audit line records where from."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        token = current_client.set(client_host(scope))
        try:
            await self.app(scope, receive, send)
        finally:
            current_client.reset(token)


def presented_key(headers: Mapping[str, str], cookies: Mapping[str, str]) -> tuple[str | None, bool]:
    """The key a request carries, and whether it came from the kiosk cookie."""
    scheme, _, value = (headers.get("authorization") or "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip(), False
    if headers.get("x-api-key"):
        return headers["x-api-key"].strip(), False
    if cookies.get(KIOSK_COOKIE) and headers.get(KIOSK_HEADER) == "1":
        return cookies[KIOSK_COOKIE], True
    return None, False


def _check(credentials: Any, key: str | None, from_cookie: bool, client: str, where: str,
           scope: str) -> Principal:
    principal: Principal = credentials.authenticate(key, client, where)
    if from_cookie and principal.scopes != frozenset({SCOPE_KIOSK}):
        raise AuthError("the kiosk cookie only carries kiosk keys")
    credentials.check_scope(principal, scope, where)
    return principal


async def authenticate(conn: Request | WebSocket, scope: str) -> Principal:
    """The caller of an HTTP request or WebSocket, holding ``scope``; ``AuthError`` (401) or
    ``InsufficientScopeError`` (403) otherwise. Both are audited with the client address."""
    key, from_cookie = presented_key(conn.headers, conn.cookies)
    credentials = conn.app.state.container.credentials
    where = f"{conn.scope.get('method', 'WS')} {conn.url.path}"
    return await run_in_threadpool(
        _check, credentials, key, from_cookie, client_host(conn.scope), where, scope
    )


# Declared for the OpenAPI docs only (their "Authorize" button); ``authenticate`` reads the headers.
_BEARER_DOC = HTTPBearer(auto_error=False, description="An API key: `facegate apikeys create`")
_HEADER_DOC = APIKeyHeader(name="X-API-Key", auto_error=False, description="The same key")


def require_scope(scope: str) -> Any:
    """A dependency: the authenticated ``Principal`` holding ``scope``. Use it as
    ``caller: Annotated[Principal, require_scope(SCOPE_X)]`` or in ``dependencies=[...]``."""

    async def dependency(
        request: Request,
        _bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_BEARER_DOC)] = None,
        _header: Annotated[str | None, Security(_HEADER_DOC)] = None,
    ) -> Principal:
        return await authenticate(request, scope)

    dependency.__name__ = f"require_scope_{scope.replace(':', '_')}"
    return Depends(dependency)


# Every error code FaceGate raises on purpose → its HTTP status. A subclass without an entry answers
# with the status of the nearest base class that has one (e.g. ``csrf_failed`` → ``forbidden``).
HTTP_STATUS: dict[str, int] = {
    "error": 400,
    "invalid_request": 422,
    "invalid_image": 422,
    "image_too_large": 413,
    "too_many_images": 413,
    "no_face": 422,
    "face_quality": 422,
    "model_unavailable": 500,
    "bad_configuration": 500,
    "model_mismatch": 409,
    "not_found": 404,
    "conflict": 409,
    "unauthorized": 401,
    "forbidden": 403,
    "insufficient_scope": 403,
    "scope_escalation": 403,
    "invalid_credential": 422,
    "rate_limited": 429,
    "rate_limit_unavailable": 503,
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
    "multiple_faces": 422,
    "unknown_subject": 404,
    "unknown_image": 404,
    "subject_exists": 409,
    "invalid_group_name": 422,
    "group_not_empty": 409,
    "duplicate_face": 409,
    "actuator_error": 502,  # the lock controller failed: a gateway error, not the caller's
    "server_unreachable": 502,  # the stream client could not reach the server
}


def http_status(exc: FaceGateError) -> int:
    """The HTTP status for ``exc``: its code's entry, else the nearest base class's."""
    for cls in type(exc).__mro__:
        code = vars(cls).get("code")
        if code in HTTP_STATUS:
            return HTTP_STATUS[code]
    return 400
