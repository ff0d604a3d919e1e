"""``/v1/verify`` (1:1 against a person) and ``/v1/identify`` (1:N, every face)."""

from __future__ import annotations

from fastapi import APIRouter, File, Form, UploadFile
from starlette.concurrency import run_in_threadpool

from facegate.core.http import ContainerDep, PrincipalDep, read_upload
from facegate.core.store.groups import parse_groups
from facegate.features.faces.schemas import IdentifiedFaceOut, IdentifyOut, VerifyOut

router = APIRouter(prefix="/v1", tags=["identify"])
ACTOR = "api"
GROUP_HELP = "Search only these groups (repeat the field or give a comma list); default: every "\
    "group the credential may see"


@router.post("/verify", response_model=VerifyOut)
async def verify(
    container: ContainerDep,
    principal: PrincipalDep,
    external_id: str = Form(..., min_length=1, max_length=200),
    image: UploadFile = File(...),
    group: list[str] | None = Form(None, description=GROUP_HELP),
) -> VerifyOut:
    """Is the largest face of the image the claimed person? 404 if the person is unknown (or
    outside the groups named)."""
    groups = parse_groups(group)
    data = await read_upload(image, container.settings.max_upload_bytes)
    result = await run_in_threadpool(
        container.identification.verify_bytes, external_id, data, image.filename or "image", ACTOR,
        groups, principal,
    )
    return VerifyOut.of(result)


@router.post("/identify", response_model=IdentifyOut)
async def identify(
    container: ContainerDep,
    principal: PrincipalDep,
    image: UploadFile = File(...),
    group: list[str] | None = Form(None, description=GROUP_HELP),
) -> IdentifyOut:
    """Every face: the best enrolled person of the groups, or unknown below the threshold, + top
    candidates."""
    groups = parse_groups(group)
    data = await read_upload(image, container.settings.max_upload_bytes)
    results = await run_in_threadpool(
        container.identification.identify_bytes, data, image.filename or "image", ACTOR, groups,
        principal,
    )
    return IdentifyOut(
        threshold=container.identification.threshold,
        faces=[IdentifiedFaceOut.of(r) for r in results],
    )
