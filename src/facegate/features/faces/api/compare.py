from __future__ import annotations

from fastapi import APIRouter, File, UploadFile
from starlette.concurrency import run_in_threadpool

from facegate.core.auth.principal import SCOPE_RECOGNIZE
from facegate.core.http import ContainerDep, read_upload, require_scope
from facegate.core.ratelimit.deps import rate_limit
from facegate.features.faces.schemas import CompareOut, FaceOut, ImageFaceOut

router = APIRouter(prefix="/v1", tags=["compare"], dependencies=[require_scope(SCOPE_RECOGNIZE)])


@router.post("/compare", response_model=CompareOut, dependencies=[rate_limit("recognition")])
async def compare(
    container: ContainerDep,
    image_a: UploadFile = File(..., description="First image (JPEG, PNG, …)"),
    image_b: UploadFile = File(..., description="Second image"),
) -> CompareOut:
    """Compare the largest face of each image: similarity, SAME/DIFFERENT, faces found, quality."""
    limit = container.settings.max_upload_bytes
    data_a, data_b = await read_upload(image_a, limit), await read_upload(image_b, limit)
    labels = (image_a.filename or "image_a", image_b.filename or "image_b")
    result = await run_in_threadpool(  # the first call builds the service (loads the models)
        lambda: container.compare.compare_bytes(data_a, data_b, labels)
    )
    c = result.comparison
    return CompareOut(
        similarity=round(c.similarity, 4),
        threshold=c.threshold,
        decision=c.decision,
        same=c.same,
        model=result.model,
        a=ImageFaceOut(faces_found=result.a.faces_found, face=FaceOut.of(result.a.face)),
        b=ImageFaceOut(faces_found=result.b.faces_found, face=FaceOut.of(result.b.face)),
    )
