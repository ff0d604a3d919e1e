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
from facegate.features.compat.auth import Gatekeeper
from facegate.features.compat.compreface_json import face_json, install_handlers, result_json
from facegate.features.compat.errors import UnknownImageError
from facegate.features.compat.gallery import CompatGallery
from facegate.features.compat.inputs import BadInput
from facegate.features.compat.vision import Caller, CompatVision

REC, DET, VER = "Recognition", "Detection", "Verification"
NO_FACE = "No face is found in the given image"


def build(container: Any) -> FastAPI:
    """The CompreFace sub-application (its own error handlers: nothing of FaceGate's envelope)."""
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app.state.container = container
    install_handlers(app)
    app.include_router(_routes(container))
    return app


def _routes(container: Any) -> APIRouter:
    r = APIRouter()
    gate = Gatekeeper(container)
    vision = CompatVision(container)
    gallery = CompatGallery(container)

    def caller(request: Request, scope: str, service: str) -> Caller:
        client = request.client.host if request.client else ""
        request.state.service = service
        principal = gate.check(request.headers.get("x-api-key"), client, scope, "compreface",
                               uuid_only=True)
        return Caller(principal, client, "compreface")

    def max_bytes() -> int:
        return int(container.settings.max_upload_bytes)

    async def one_image(request: Request, name: str = "file") -> bytes:
        return (await q.image_parts(request, (name,), max_bytes()))[name]

    # ---- subjects ----------------------------------------------------------------------------
    @r.post("/recognition/subjects", status_code=201)
    @r.post("/recognition/subjects/", status_code=201, include_in_schema=False)
    async def add_subject(request: Request) -> dict[str, Any]:
        who = caller(request, SCOPE_PEOPLE_WRITE, REC)
        body = await q.read_json(request, 64 * 1024)
        name = body.get("subject") if isinstance(body, dict) else None
        if not isinstance(name, str) or not name.strip():
            raise BadInput("missing", "subject: must not be empty")
        return {"subject": await run_in_threadpool(gallery.add_subject, who, name)}

    @r.get("/recognition/subjects")
    @r.get("/recognition/subjects/", include_in_schema=False)
    async def list_subjects(request: Request) -> dict[str, Any]:
        who = caller(request, SCOPE_PEOPLE_READ, REC)
        return {"subjects": await run_in_threadpool(gallery.subjects, who)}

    @r.delete("/recognition/subjects")
    @r.delete("/recognition/subjects/", include_in_schema=False)
    async def delete_all_subjects(request: Request) -> dict[str, Any]:
        who = caller(request, SCOPE_PEOPLE_WRITE, REC)
        return {"deleted": await run_in_threadpool(gallery.delete_all_subjects, who)}

    @r.put("/recognition/subjects/{subject}")
    async def rename_subject(request: Request, subject: str) -> dict[str, Any]:
        who = caller(request, SCOPE_PEOPLE_WRITE, REC)
        body = await q.read_json(request, 64 * 1024)
        new = body.get("subject") if isinstance(body, dict) else None  # other keys are ignored
        if not isinstance(new, str) or not new.strip():
            raise BadInput("missing", "subject: must not be empty")
        await run_in_threadpool(gallery.rename_subject, who, subject, new)
        return {"updated": True}

    @r.delete("/recognition/subjects/{subject}")
    async def delete_subject(request: Request, subject: str) -> dict[str, Any]:
        who = caller(request, SCOPE_PEOPLE_WRITE, REC)
        return {"subject": await run_in_threadpool(gallery.delete_subject, who, subject)}

    # ---- faces -------------------------------------------------------------------------------
    @r.post("/recognition/faces", status_code=201)
    async def add_face(request: Request) -> dict[str, Any]:
        who = caller(request, SCOPE_PEOPLE_WRITE, REC)
        subject = request.query_params.get("subject")
        if not subject or not subject.strip():
            raise BadInput("missing_param", "Required request parameter 'subject' is not present")
        q.q_float(request, "det_prob_threshold", 0.0)  # validated; enrolment has its own gate
        data = await one_image(request)

        def run() -> dict[str, Any]:
            image = vision.decode(data, "file")
            image_id, name = gallery.add_face(who, subject, image, data)
            return {"image_id": image_id, "subject": name}

        return await run_in_threadpool(run)

    @r.get("/recognition/faces")
    async def list_faces(request: Request) -> dict[str, Any]:
        who = caller(request, SCOPE_PEOPLE_READ, REC)
        page = q.q_int(request, "page", 0)
        size = q.q_int(request, "size", 20, lo=1, hi=10_000)
        subject = request.query_params.get("subject") or None
        rows, total = await run_in_threadpool(gallery.faces, who, subject, page, size)
        return {"faces": [{"image_id": i, "subject": s} for i, s in rows], "page_number": page,
                "page_size": size, "total_pages": -(-total // size), "total_elements": total}

    @r.delete("/recognition/faces")
    async def delete_faces(request: Request) -> dict[str, Any]:
        who = caller(request, SCOPE_PEOPLE_WRITE, REC)
        subject = request.query_params.get("subject") or None
        return {"deleted": await run_in_threadpool(gallery.delete_faces, who, subject)}

    @r.post("/recognition/faces/delete")
    async def delete_many(request: Request) -> list[dict[str, str]]:
        who = caller(request, SCOPE_PEOPLE_WRITE, REC)
        body = await q.read_json(request, 1024 * 1024)
        if not isinstance(body, list) or not all(isinstance(x, str) for x in body):
            raise BadInput("argument", "the body must be a JSON list of image ids")
        rows = await run_in_threadpool(gallery.delete_face_ids, who, body)
        return [{"image_id": i, "subject": s} for i, s in rows]

    @r.delete("/recognition/faces/{image_id}")
    async def delete_face(request: Request, image_id: str) -> dict[str, Any]:
        who = caller(request, SCOPE_PEOPLE_WRITE, REC)
        rows = await run_in_threadpool(gallery.delete_face_ids, who, [image_id])
        if not rows:
            raise UnknownImageError(f"Image {image_id} not found")
        return {"image_id": rows[0][0], "subject": rows[0][1]}

    @r.get("/recognition/faces/{image_id}/img", response_model=None)
    async def face_img(request: Request, image_id: str) -> Response:
        who = caller(request, SCOPE_PEOPLE_READ, REC)
        png = await run_in_threadpool(gallery.face_png, who, image_id)
        if png is None:
            return JSONResponse({"message": f"No image is stored for {image_id} "
                                 "(FACEGATE_STORE_FACE_IMAGES is off)", "code": 11}, status_code=404)
        return Response(png, media_type="image/png")

    @r.post("/recognition/faces/{image_id}/verify")
    async def verify_face(request: Request, image_id: str) -> dict[str, Any]:
        who = caller(request, SCOPE_RECOGNIZE, REC)
        opts = _options(request)
        data = await one_image(request)

        def run() -> dict[str, Any]:
            subject, vector = gallery.face(who, image_id)
            image = vision.decode(data, "file")
            faces, timing = vision.find_timed(image, opts["det"], opts["limit"])
            if not faces:
                raise _no_face()
            items = []
            for f in faces:
                sim, cos = vision.similarity(f.face, vector)
                vision.audit_verify(who, subject, cos, f"image {image_id}")
                items.append((sim, face_json(f, opts["plugins"], opts["status"], timing)
                              | {"similarity": sim}))
            items.sort(key=lambda x: x[0], reverse=True)
            return result_json([i for _, i in items], opts["status"], vision.versions)

        return await run_in_threadpool(run)

    # ---- recognize / detect / verify -------------------------------------------------------
    @r.post("/recognition/recognize")
    async def recognize(request: Request) -> dict[str, Any]:
        who = caller(request, SCOPE_RECOGNIZE, REC)
        opts = _options(request)
        count = q.q_int(request, "prediction_count", 1, lo=0, hi=1000)
        data = await one_image(request)

        def run() -> dict[str, Any]:
            res = vision.recognize(who, vision.decode(data, "file"), opts["det"], opts["limit"], count)
            if not res.faces:
                raise _no_face()
            items = [face_json(f, opts["plugins"], opts["status"], res.timing)
                     | {"subjects": [{"subject": m.subject, "similarity": m.similarity} for m in ms]}
                     for f, ms in res.faces]
            return result_json(items, opts["status"], vision.versions)

        return await run_in_threadpool(run)

    @r.post("/detection/detect")
    async def detect(request: Request) -> dict[str, Any]:
        caller(request, SCOPE_RECOGNIZE, DET)
        opts = _options(request)
        data = await one_image(request)

        def run() -> dict[str, Any]:
            faces, timing = vision.find_timed(vision.decode(data, "file"), opts["det"], opts["limit"])
            if not faces:
                raise _no_face()
            items = [face_json(f, opts["plugins"], opts["status"], timing) for f in faces]
            return result_json(items, opts["status"], vision.versions)

        return await run_in_threadpool(run)

    @r.post("/verification/verify")
    async def verification(request: Request) -> dict[str, Any]:
        who = caller(request, SCOPE_RECOGNIZE, VER)
        opts = _options(request)
        parts = await q.image_parts(request, ("source_image", "target_image"), max_bytes())

        def run() -> dict[str, Any]:
            src = vision.one_face(vision.decode(parts["source_image"], "source_image"), opts["det"])
            target = vision.decode(parts["target_image"], "target_image")
            faces, timing = vision.find_timed(target, opts["det"], opts["limit"])
            if not faces:
                raise _no_face()
            assert src.face.embedding is not None
            matches = []
            for f in faces:
                sim, cos = vision.similarity(f.face, src.face.embedding.vector)
                vision.audit_verify(who, None, cos, "verification")
                matches.append(face_json(f, opts["plugins"], opts["status"], timing) | {"similarity": sim})
            matches.sort(key=lambda m: m["similarity"], reverse=True)
            item: dict[str, Any] = {
                "source_image_face": face_json(src, opts["plugins"], opts["status"], timing),
                "face_matches": matches,
            }
            if opts["status"]:
                item["plugins_versions"] = vision.versions
            return {"result": [item]}

        return await run_in_threadpool(run)

    return r


def _options(request: Request) -> dict[str, Any]:
    return {
        "det": q.q_float(request, "det_prob_threshold", 0.0),
        "limit": q.q_int(request, "limit", 0),
        "status": q.q_bool(request, "status"),
        "plugins": q.q_plugins(request),
    }


def _no_face() -> Exception:
    return NoFaceError(NO_FACE)
