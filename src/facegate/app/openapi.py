"""The OpenAPI document declares what the API really answers: every error status FaceGate uses
(``core.http.HTTP_STATUS``), with the one error body ``{"error": {"code", "message", …}}``, and
``Retry-After`` on 429. FastAPI's own 422 schema (``HTTPValidationError``) is replaced, since the
error handlers answer validation errors with that same body."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from facegate.core.http import HTTP_STATUS

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "description": "Stable machine-readable code"},
                "message": {"type": "string"},
                "reasons": {"type": "array", "items": {"type": "string"}},
                "retry_after_s": {"type": "integer", "minimum": 1},
            },
        }
    },
}
# client errors every operation may answer (bad input, auth, limits), besides its own
COMMON = (400, 401, 403, 404, 409, 413, 422, 429)
DESCRIPTIONS = {
    400: "Bad request", 401: "Not authenticated", 403: "Forbidden", 404: "Not found",
    409: "Conflict", 410: "Gone (expired)", 413: "Too large (bytes, pixels, images, frames)",
    422: "Invalid input", 429: "Rate limited (see Retry-After)", 502: "Upstream device failed",
    503: "Rate-limit store unreachable (refused, not served unthrottled)",
}


def _error_response(status: int) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": DESCRIPTIONS.get(status, "Error"),
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    if status == 429:
        response["headers"] = {
            "Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}
        }
    return response


def install_openapi(app: FastAPI) -> None:
    """Replace ``app.openapi`` by one that adds the error responses to every operation."""
    statuses = sorted({*COMMON, *(s for s in HTTP_STATUS.values() if 400 <= s < 600 and s != 500)})

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, description=app.description,
                             routes=app.routes)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components["Error"] = ERROR_SCHEMA
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
        for operations in schema.get("paths", {}).values():
            for op in operations.values():
                responses = op.setdefault("responses", {})
                for status in statuses:
                    responses[str(status)] = _error_response(status)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


# The docs pages may load nothing from elsewhere: ReDoc's footer logo would come from its CDN.
DOCS_CSP = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self' 'unsafe-inline' blob:; worker-src 'self' blob:; font-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'"
)
DOCS_PATHS = frozenset({"/docs", "/redoc"})


class DocsPolicy:
    """ASGI middleware: a Content-Security-Policy of 'self' on the two docs pages only."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("path") not in DOCS_PATHS:
            await self.app(scope, receive, send)
            return

        async def send_with_policy(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"content-security-policy", DOCS_CSP.encode("ascii")))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_policy)
