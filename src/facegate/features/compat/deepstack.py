"""The DeepStack / CodeProject.AI face API over FaceGate, mounted at ``/v1/vision``.

Requests are multipart forms (``api_key`` and ``min_confidence`` fields, images in file fields);
answers are ``{"success": true, ...}`` or ``{"success": false, "error": ...}``. A request that
finds no face is a success with no predictions, as DeepStack answers it.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException as StarletteHTTPException

from facegate.core.auth.principal import SCOPE_PEOPLE_READ, SCOPE_PEOPLE_WRITE, SCOPE_RECOGNIZE
from facegate.core.errors import (
    FaceGateError,
    ImageTooLargeError,
    InvalidImageError,
    NoFaceError,
    PermissionDeniedError,
)
from facegate.features.compat import inputs as q
from facegate.features.compat.auth import KeyProblem
from facegate.features.compat.errors import UnknownSubjectError
from facegate.features.compat.inputs import BadInput
from facegate.features.compat.services import CompatServices, services
from facegate.features.compat.vision import Caller, FoundFace

log = logging.getLogger("facegate.compat")
DEFAULT_RECOGNIZE_CONFIDENCE = 0.67  # DeepStack's defaults when the field is absent
DEFAULT_DETECT_CONFIDENCE = 0.55


def fail(status: int, message: str) -> JSONResponse:
    return JSONResponse({"success": False, "error": message, "duration": 0}, status_code=status)


router = APIRouter()


def build(container: Any) -> FastAPI:
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app.state.container = container
    app.state.compat = CompatServices.of(container)
    _install_handlers(app)
    app.include_router(router)
    return app


def _box(f: FoundFace) -> dict[str, int]:
    x0, y0, x1, y1 = f.box
    return {"x_min": x0, "y_min": y0, "x_max": x1, "y_max": y1}


def _min_confidence(form: FormData, default: float) -> float:
    raw = form.get("min_confidence")
    if not isinstance(raw, str) or raw.strip().lower() in q.UNSET:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise BadInput("argument", "Invalid value for min_confidence") from None
    if value > 1:
        raise BadInput("argument", "min_confidence cannot be greater than 1")
    if not value >= 0:
        raise BadInput("argument", "Invalid value for min_confidence")
    return value


async def authorised(request: Request, scope: str) -> tuple[Caller, FormData]:
    svc = services(request)
    form = await q.read_form(request, svc.max_bytes)
    raw = form.get("api_key")
    return svc.caller(request, raw if isinstance(raw, str) else None, scope, "deepstack"), form

async def images(request: Request, form: FormData) -> list[tuple[str, bytes]]:
    found = await q.form_images(form, services(request).max_bytes)
    if not found:
        raise BadInput("argument", "No valid image file found")
    return found

@router.post("/face")
@router.post("/face/", include_in_schema=False)
async def detect(request: Request) -> dict[str, Any]:
    svc = services(request)
    _, form = await authorised(request, SCOPE_RECOGNIZE)
    threshold = _min_confidence(form, DEFAULT_DETECT_CONFIDENCE)
    label, data = (await images(request, form))[0]

    def run() -> dict[str, Any]:
        faces = svc.vision.find(svc.vision.decode(data, label), threshold)
        preds = [{"confidence": f.probability, **_box(f)} for f in faces]
        return {"success": True, "predictions": preds, "duration": 0}

    return await run_in_threadpool(run)

@router.post("/face/recognize")
async def recognize(request: Request) -> dict[str, Any]:
    svc = services(request)
    who, form = await authorised(request, SCOPE_RECOGNIZE)
    threshold = _min_confidence(form, DEFAULT_RECOGNIZE_CONFIDENCE)
    label, data = (await images(request, form))[0]

    def run() -> dict[str, Any]:
        res = svc.vision.recognize(who, svc.vision.decode(data, label), 0.0, 0, 1, threshold)
        preds = []
        for f, matches in res.faces:
            if matches:
                preds.append({"confidence": matches[0].similarity, "userid": matches[0].subject,
                              **_box(f)})
            else:
                preds.append({"confidence": 0, "userid": "unknown", **_box(f)})
        return {"success": True, "predictions": preds, "duration": 0}

    return await run_in_threadpool(run)

@router.post("/face/register")
async def register(request: Request) -> dict[str, Any]:
    svc = services(request)
    who, form = await authorised(request, SCOPE_PEOPLE_WRITE)
    userid = form.get("userid")
    if not isinstance(userid, str) or not userid.strip():
        raise BadInput("argument", "userid not specified")
    files = await images(request, form)

    def run() -> dict[str, Any]:
        decoded = [(label, svc.vision.decode(data, label), data) for label, data in files]
        created = svc.gallery.register(who, userid, decoded)
        return {"success": True, "message": "face added" if created else "face updated",
                "duration": 0}

    return await run_in_threadpool(run)

@router.post("/face/list")
async def list_faces(request: Request) -> dict[str, Any]:
    svc = services(request)
    who, _ = await authorised(request, SCOPE_PEOPLE_READ)
    return {"success": True, "faces": await run_in_threadpool(svc.gallery.subjects, who), "duration": 0}

@router.post("/face/delete")
async def delete(request: Request) -> dict[str, Any]:
    svc = services(request)
    who, form = await authorised(request, SCOPE_PEOPLE_WRITE)
    userid = form.get("userid")
    if not isinstance(userid, str) or not userid.strip():
        raise BadInput("argument", "userid not specified")

    def run() -> None:
        with contextlib.suppress(UnknownSubjectError):  # DeepStack: success for unknown users
            svc.gallery.delete_subject(who, userid)

    await run_in_threadpool(run)
    return {"success": True, "duration": 0}

@router.post("/face/match")
async def match(request: Request) -> dict[str, Any]:
    svc = services(request)
    who, form = await authorised(request, SCOPE_RECOGNIZE)
    files = await images(request, form)
    if len(files) < 2:
        raise BadInput("argument", "expected two image files, only one found")
    if len(files) > 2:
        raise BadInput("argument", "only two images allowed")

    def run() -> dict[str, Any]:
        a, b = (svc.vision.one_face(svc.vision.decode(d, lbl), strict=False) for lbl, d in files)
        assert b.face.embedding is not None
        sim, cos = svc.vision.similarity(a.face, b.face.embedding.vector)
        svc.vision.audit_verify(who, None, cos, "match")
        return {"success": True, "similarity": sim, "duration": 0}

    return await run_in_threadpool(run)


def _install_handlers(app: FastAPI) -> None:
    @app.exception_handler(KeyProblem)
    async def _key(_: Request, exc: KeyProblem) -> JSONResponse:
        if exc.kind == "scope":
            return fail(403, f"this API key lacks the '{exc.detail}' scope")
        return fail(401, "Incorrect api key")

    @app.exception_handler(BadInput)
    async def _input(_: Request, exc: BadInput) -> JSONResponse:
        return fail(413 if exc.kind == "too_large" else 400, exc.message)

    @app.exception_handler(FaceGateError)
    async def _facegate(_: Request, exc: FaceGateError) -> JSONResponse:
        if isinstance(exc, NoFaceError):
            return fail(400, "no face detected")
        if isinstance(exc, ImageTooLargeError):
            return fail(413, exc.message)
        if isinstance(exc, InvalidImageError):
            return fail(400, f"invalid image: {exc.message}")
        if isinstance(exc, PermissionDeniedError):
            return fail(403, exc.message)
        return fail(400, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return fail(400, "invalid request")

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return fail(exc.status_code, str(exc.detail))

    @app.middleware("http")
    async def _unexpected(request: Request, call_next: Any) -> Any:
        # answered here, not re-raised: the mounting app must not see it (nor close the connection)
        try:
            return await call_next(request)
        except Exception as exc:
            log.exception("unhandled error", exc_info=exc)
            return fail(500, "error occured on the server")
