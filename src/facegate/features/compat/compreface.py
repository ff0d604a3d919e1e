"""The CompreFace REST API (recognition, detection, verification services) over FaceGate.

Mounted at ``/api/v1`` by ``facegate.features.compat.install``. Every answer is CompreFace JSON:
results as CompreFace returns them, errors as ``{"message", "code"}`` with CompreFace's codes.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from facegate.core.auth.principal import SCOPE_PEOPLE_READ, SCOPE_PEOPLE_WRITE, SCOPE_RECOGNIZE
from facegate.core.errors import NoFaceError
from facegate.features.compat import inputs as q
from facegate.features.compat.compreface_json import face_json, install_handlers, result_json
from facegate.features.compat.errors import UnknownImageError
from facegate.features.compat.inputs import BadInput
from facegate.features.compat.services import CompatServices, services
from facegate.features.compat.vision import Caller

REC, DET, VER = "Recognition", "Detection", "Verification"
NO_FACE = "No face is found in the given image"


router = APIRouter()


def build(container: Any) -> FastAPI:
    """The CompreFace sub-application (its own error handlers: nothing of FaceGate's envelope)."""
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app.state.container = container
    app.state.compat = CompatServices.of(container)
    install_handlers(app)
    app.include_router(router)
    return app


def _caller(request: Request, scope: str, service: str) -> Caller:
    request.state.service = service
    return services(request).caller(request, request.headers.get("x-api-key"), scope, "compreface")


async def one_image(request: Request, name: str = "file") -> bytes:
    return (await q.image_parts(request, (name,), services(request).max_bytes))[name]


# ---- subjects ----------------------------------------------------------------------------
@router.post("/recognition/subjects", status_code=201)
@router.post("/recognition/subjects/", status_code=201, include_in_schema=False)
async def add_subject(request: Request) -> dict[str, Any]:
    svc = services(request)
    who = _caller(request, SCOPE_PEOPLE_WRITE, REC)
    body = await q.read_json(request, 64 * 1024)
    name = body.get("subject") if isinstance(body, dict) else None
    if not isinstance(name, str) or not name.strip():
        raise BadInput("missing", "subject: must not be empty")
    return {"subject": await run_in_threadpool(svc.gallery.add_subject, who, name)}

@router.get("/recognition/subjects")
@router.get("/recognition/subjects/", include_in_schema=False)
async def list_subjects(request: Request) -> dict[str, Any]:
    svc = services(request)
    who = _caller(request, SCOPE_PEOPLE_READ, REC)
    return {"subjects": await run_in_threadpool(svc.gallery.subjects, who)}

@router.delete("/recognition/subjects")
@router.delete("/recognition/subjects/", include_in_schema=False)
async def delete_all_subjects(request: Request) -> dict[str, Any]:
    svc = services(request)
    who = _caller(request, SCOPE_PEOPLE_WRITE, REC)
    return {"deleted": await run_in_threadpool(svc.gallery.delete_all_subjects, who)}

@router.put("/recognition/subjects/{subject}")
async def rename_subject(request: Request, subject: str) -> dict[str, Any]:
    svc = services(request)
    who = _caller(request, SCOPE_PEOPLE_WRITE, REC)
    body = await q.read_json(request, 64 * 1024)
    new = body.get("subject") if isinstance(body, dict) else None  # other keys are ignored
    if not isinstance(new, str) or not new.strip():
        raise BadInput("missing", "subject: must not be empty")
    await run_in_threadpool(svc.gallery.rename_subject, who, subject, new)
    return {"updated": True}

@router.delete("/recognition/subjects/{subject}")
async def delete_subject(request: Request, subject: str) -> dict[str, Any]:
    svc = services(request)
    who = _caller(request, SCOPE_PEOPLE_WRITE, REC)
    return {"subject": await run_in_threadpool(svc.gallery.delete_subject, who, subject)}

# ---- faces -------------------------------------------------------------------------------
@router.post("/recognition/faces", status_code=201)
async def add_face(request: Request) -> dict[str, Any]:
    svc = services(request)
    who = _caller(request, SCOPE_PEOPLE_WRITE, REC)
    subject = request.query_params.get("subject")
    if not subject or not subject.strip():
        raise BadInput("missing_param", "Required request parameter 'subject' is not present")
    q.q_float(request, "det_prob_threshold", 0.0)  # validated; enrolment has its own gate
    data = await one_image(request)

    def run() -> dict[str, Any]:
        image = svc.vision.decode(data, "file")
        image_id, name = svc.gallery.add_face(who, subject, image, data)
        return {"image_id": image_id, "subject": name}

    return await run_in_threadpool(run)

@router.get("/recognition/faces")
async def list_faces(request: Request) -> dict[str, Any]:
    svc = services(request)
    who = _caller(request, SCOPE_PEOPLE_READ, REC)
    page = q.q_int(request, "page", 0)
    size = q.q_int(request, "size", 20, lo=1, hi=10_000)
    subject = request.query_params.get("subject") or None
    rows, total = await run_in_threadpool(svc.gallery.faces, who, subject, page, size)
    return {"faces": [{"image_id": i, "subject": s} for i, s in rows], "page_number": page,
            "page_size": size, "total_pages": -(-total // size), "total_elements": total}

@router.delete("/recognition/faces")
async def delete_faces(request: Request) -> dict[str, Any]:
    svc = services(request)
    who = _caller(request, SCOPE_PEOPLE_WRITE, REC)
    subject = request.query_params.get("subject") or None
    return {"deleted": await run_in_threadpool(svc.gallery.delete_faces, who, subject)}

@router.post("/recognition/faces/delete")
async def delete_many(request: Request) -> list[dict[str, str]]:
    svc = services(request)
    who = _caller(request, SCOPE_PEOPLE_WRITE, REC)
    body = await q.read_json(request, 1024 * 1024)
    if not isinstance(body, list) or not all(isinstance(x, str) for x in body):
        raise BadInput("argument", "the body must be a JSON list of image ids")
    rows = await run_in_threadpool(svc.gallery.delete_face_ids, who, body)
    return [{"image_id": i, "subject": s} for i, s in rows]

@router.delete("/recognition/faces/{image_id}")
async def delete_face(request: Request, image_id: str) -> dict[str, Any]:
    svc = services(request)
    who = _caller(request, SCOPE_PEOPLE_WRITE, REC)
    rows = await run_in_threadpool(svc.gallery.delete_face_ids, who, [image_id])
    if not rows:
        raise UnknownImageError(f"Image {image_id} not found")
    return {"image_id": rows[0][0], "subject": rows[0][1]}

@router.get("/recognition/faces/{image_id}/img", response_model=None)
async def face_img(request: Request, image_id: str) -> Response:
    svc = services(request)
    who = _caller(request, SCOPE_PEOPLE_READ, REC)
    png = await run_in_threadpool(svc.gallery.face_png, who, image_id)
    if png is None:
        return JSONResponse({"message": f"No image is stored for {image_id} "
                             "(FACEGATE_STORE_FACE_IMAGES is off)", "code": 11}, status_code=404)
    return Response(png, media_type="image/png")

@router.post("/recognition/faces/{image_id}/verify")
async def verify_face(request: Request, image_id: str) -> dict[str, Any]:
    svc = services(request)
    who = _caller(request, SCOPE_RECOGNIZE, REC)
    opts = _options(request)
    data = await one_image(request)

    def run() -> dict[str, Any]:
        subject, vector = svc.gallery.face(who, image_id)
        image = svc.vision.decode(data, "file")
        faces, timing = svc.vision.find_timed(image, opts["det"], opts["limit"])
        if not faces:
            raise _no_face()
        items = []
        for f in faces:
            sim, cos = svc.vision.similarity(f.face, vector)
            svc.vision.audit_verify(who, subject, cos, f"image {image_id}")
            items.append((sim, face_json(f, opts["plugins"], opts["status"], timing)
                          | {"similarity": sim}))
        items.sort(key=lambda x: x[0], reverse=True)
        return result_json([i for _, i in items], opts["status"], svc.vision.versions)

    return await run_in_threadpool(run)

# ---- recognize / detect / verify -------------------------------------------------------
@router.post("/recognition/recognize")
async def recognize(request: Request) -> dict[str, Any]:
    svc = services(request)
    who = _caller(request, SCOPE_RECOGNIZE, REC)
    opts = _options(request)
    count = q.q_int(request, "prediction_count", 1, lo=0, hi=1000)
    data = await one_image(request)

    def run() -> dict[str, Any]:
        res = svc.vision.recognize(who, svc.vision.decode(data, "file"), opts["det"], opts["limit"], count)
        if not res.faces:
            raise _no_face()
        items = [face_json(f, opts["plugins"], opts["status"], res.timing)
                 | {"subjects": [{"subject": m.subject, "similarity": m.similarity} for m in ms]}
                 for f, ms in res.faces]
        return result_json(items, opts["status"], svc.vision.versions)

    return await run_in_threadpool(run)

@router.post("/detection/detect")
async def detect(request: Request) -> dict[str, Any]:
    svc = services(request)
    _caller(request, SCOPE_RECOGNIZE, DET)
    opts = _options(request)
    data = await one_image(request)

    def run() -> dict[str, Any]:
        faces, timing = svc.vision.find_timed(svc.vision.decode(data, "file"), opts["det"], opts["limit"])
        if not faces:
            raise _no_face()
        items = [face_json(f, opts["plugins"], opts["status"], timing) for f in faces]
        return result_json(items, opts["status"], svc.vision.versions)

    return await run_in_threadpool(run)

@router.post("/verification/verify")
async def verification(request: Request) -> dict[str, Any]:
    svc = services(request)
    who = _caller(request, SCOPE_RECOGNIZE, VER)
    opts = _options(request)
    parts = await q.image_parts(request, ("source_image", "target_image"), svc.max_bytes)

    def run() -> dict[str, Any]:
        src = svc.vision.one_face(svc.vision.decode(parts["source_image"], "source_image"), opts["det"])
        target = svc.vision.decode(parts["target_image"], "target_image")
        faces, timing = svc.vision.find_timed(target, opts["det"], opts["limit"])
        if not faces:
            raise _no_face()
        assert src.face.embedding is not None
        matches = []
        for f in faces:
            sim, cos = svc.vision.similarity(f.face, src.face.embedding.vector)
            svc.vision.audit_verify(who, None, cos, "verification")
            matches.append(face_json(f, opts["plugins"], opts["status"], timing) | {"similarity": sim})
        matches.sort(key=lambda m: m["similarity"], reverse=True)
        item: dict[str, Any] = {
            "source_image_face": face_json(src, opts["plugins"], opts["status"], timing),
            "face_matches": matches,
        }
        if opts["status"]:
            item["plugins_versions"] = svc.vision.versions
        return {"result": [item]}

    return await run_in_threadpool(run)


def _options(request: Request) -> dict[str, Any]:
    return {
        "det": q.q_float(request, "det_prob_threshold", 0.0),
        "limit": q.q_int(request, "limit", 0),
        "status": q.q_bool(request, "status"),
        "plugins": q.q_plugins(request),
    }


def _no_face() -> Exception:
    return NoFaceError(NO_FACE)
