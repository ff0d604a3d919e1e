"""CompreFace's JSON: face items, result envelopes and every error as ``{"message", "code"}``."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from facegate.core.errors import (
    ConflictError,
    FaceGateError,
    FaceQualityError,
    ImageTooLargeError,
    InvalidImageError,
    NoFaceError,
    NotFoundError,
    PermissionDeniedError,
)
from facegate.features.compat.auth import KeyProblem
from facegate.features.compat.errors import (
    MultipleFacesError,
    SubjectExistsError,
    UnknownImageError,
    UnknownSubjectError,
)
from facegate.features.compat.inputs import BadInput
from facegate.features.compat.vision import FoundFace, Timing

log = logging.getLogger("facegate.compat")

# FaceGate error → (HTTP status, CompreFace code); the first matching class wins.
ERROR_CODES: tuple[tuple[type[FaceGateError], int, int], ...] = (
    (NoFaceError, 400, 28),
    (MultipleFacesError, 400, 31),
    (UnknownImageError, 404, 11),
    (UnknownSubjectError, 404, 42),
    (SubjectExistsError, 400, 43),
    (ConflictError, 400, 43),
    (ImageTooLargeError, 413, 21),
    (InvalidImageError, 400, 21),
    (FaceQualityError, 400, 36),
    (PermissionDeniedError, 403, 1),
    (NotFoundError, 404, 0),
)
INPUT_CODES = {"missing": (400, 34), "missing_param": (400, 33), "base64": (400, 21),
               "argument": (400, 36), "too_large": (413, 21)}


def error(status: int, code: int, message: str) -> JSONResponse:
    return JSONResponse({"message": message, "code": code}, status_code=status)


def face_json(f: FoundFace, plugins: frozenset[str], status: bool, timing: Timing) -> dict[str, Any]:
    x0, y0, x1, y1 = f.box
    item: dict[str, Any] = {"box": {"probability": f.probability, "x_max": x1, "y_max": y1,
                                    "x_min": x0, "y_min": y0}}
    if "landmarks" in plugins:
        item["landmarks"] = [[round(x), round(y)] for x, y in f.face.face.landmarks.points]
    if "calculator" in plugins and f.face.embedding is not None:
        item["embedding"] = [round(float(v), 8) for v in f.face.embedding.vector]
    if status:
        item["execution_time"] = {"detector": timing.detector_ms, "calculator": timing.calculator_ms}
    return item


def result_json(items: list[dict[str, Any]], status: bool, versions: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {"result": items}
    if status:
        out["plugins_versions"] = versions
    return out


def _key_error(request: Request, exc: KeyProblem) -> JSONResponse:
    service = getattr(request.state, "service", "Recognition")
    if exc.kind == "missing":
        return error(400, 20, "Missing header: x-api-key")
    if exc.kind == "malformed":
        return error(400, 26, "Service API key should be UUID")
    if exc.kind == "scope":
        return error(403, 1, f"This API key may not use the {service.lower()} service "
                             f"(it lacks the '{exc.detail}' scope)")
    return error(404, 10, f"{service} service with this API Key not found")


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(KeyProblem)
    async def _key(request: Request, exc: KeyProblem) -> JSONResponse:
        return _key_error(request, exc)

    @app.exception_handler(BadInput)
    async def _input(_: Request, exc: BadInput) -> JSONResponse:
        status, code = INPUT_CODES.get(exc.kind, (400, 0))
        return error(status, code, exc.message)

    @app.exception_handler(FaceGateError)
    async def _facegate(_: Request, exc: FaceGateError) -> JSONResponse:
        for cls, status, code in ERROR_CODES:
            if isinstance(exc, cls):
                return error(status, code, exc.message)
        return error(400, 36, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return error(400, 36, "invalid request")

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error(exc.status_code, 0, str(exc.detail))

    @app.middleware("http")
    async def _unexpected(request: Request, call_next: Any) -> Any:
        # answered here, not re-raised: the mounting app must not see it (nor close the connection)
        try:
            return await call_next(request)
        except Exception as exc:
            log.exception("unhandled error", exc_info=exc)
            return error(500, 0, "internal server error")
