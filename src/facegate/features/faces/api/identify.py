"""``/v1/verify`` (1:1 against a person) and ``/v1/identify`` (1:N, every face)."""

from __future__ import annotations

from fastapi import APIRouter, File, Form, UploadFile
from starlette.concurrency import run_in_threadpool

from facegate.core.http import ContainerDep, read_upload
from facegate.core.ratelimit.deps import rate_limit
from facegate.features.faces.schemas import IdentifiedFaceOut, IdentifyOut, VerifyOut

router = APIRouter(prefix="/v1", tags=["identify"])
ACTOR = "api"


@router.post("/verify", response_model=VerifyOut, dependencies=[rate_limit("recognition")])
async def verify(
    container: ContainerDep,
    external_id: str = Form(..., min_length=1, max_length=200),
    image: UploadFile = File(...),
) -> VerifyOut:
    """Is the largest face of the image the claimed person? 404 if the person is unknown."""
    data = await read_upload(image, container.settings.max_upload_bytes)
    result = await run_in_threadpool(
        container.identification.verify_bytes, external_id, data, image.filename or "image", ACTOR
    )
    return VerifyOut.of(result)


@router.post("/identify", response_model=IdentifyOut, dependencies=[rate_limit("recognition")])
async def identify(container: ContainerDep, image: UploadFile = File(...)) -> IdentifyOut:
    """Every face: the best enrolled person, or unknown below the threshold, + top candidates."""
    data = await read_upload(image, container.settings.max_upload_bytes)
    results = await run_in_threadpool(
        container.identification.identify_bytes, data, image.filename or "image", ACTOR
    )
    return IdentifyOut(
        threshold=container.identification.threshold,
        faces=[IdentifiedFaceOut.of(r) for r in results],
    )
