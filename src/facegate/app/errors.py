"""Map every error to one JSON shape: ``{"error": {"code": ..., "message": ...}}``."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from facegate.core.errors import FaceGateError, FaceQualityError, RateLimitedError
from facegate.core.http import http_status

log = logging.getLogger("facegate.api")


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message}
    body.update(extra)
    return {"error": body}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(FaceGateError)
    async def _facegate(_: Request, exc: FaceGateError) -> JSONResponse:
        extra: dict[str, Any] = {}
        if isinstance(exc, FaceQualityError):
            extra["reasons"] = list(exc.reasons)
        status = http_status(exc)
        headers: dict[str, str] = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
        if isinstance(exc, RateLimitedError):
            extra["retry_after_s"] = exc.retry_after_s
            headers["Retry-After"] = str(exc.retry_after_s)
        return JSONResponse(error_body(exc.code, exc.message, **extra), status_code=status,
                            headers=headers or None)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
            parts.append(f"{where}: {err.get('msg', 'invalid')}")
        return JSONResponse(
            error_body("invalid_request", "; ".join(parts) or "invalid request"), status_code=422
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(
            exc.status_code, "http_error"
        )
        return JSONResponse(
            error_body(code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(OverflowError)
    @app.exception_handler(DataError)
    async def _out_of_range(_: Request, exc: Exception) -> JSONResponse:
        # a number from the request that the database column cannot hold (SQLite: OverflowError,
        # PostgreSQL: numeric value out of range): the caller's mistake, not the server's
        log.info("value out of range: %s", type(exc).__name__)
        return JSONResponse(
            error_body("invalid_request", "a number in the request is out of range"), status_code=422
        )

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return JSONResponse(error_body("internal_error", "internal server error"), status_code=500)
