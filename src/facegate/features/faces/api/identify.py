"""``/v1/verify`` (1:1 against a person) and ``/v1/identify`` (1:N, every face)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile
from starlette.concurrency import run_in_threadpool

from facegate.core.auth.principal import SCOPE_RECOGNIZE, Principal
from facegate.core.http import ContainerDep, read_upload, require_scope
from facegate.core.ratelimit.deps import rate_limit
from facegate.core.store.groups import parse_groups
from facegate.features.faces.schemas import IdentifiedFaceOut, IdentifyOut, VerifyOut

router = APIRouter(prefix="/v1", tags=["identify"])
Recognizer = Annotated[Principal, require_scope(SCOPE_RECOGNIZE)]
GROUP_HELP = "Search only these groups (repeat the field or give a comma list); default: every "\
    "group the credential may see"


@router.post("/verify", response_model=VerifyOut, dependencies=[rate_limit("recognition")])
async def verify(
    container: ContainerDep,
    caller: Recognizer,
    external_id: str = Form(..., min_length=1, max_length=200),
    image: UploadFile = File(...),
    group: list[str] | None = Form(None, description=GROUP_HELP),
) -> VerifyOut:
    """Is the largest face of the image the claimed person (1:1 threshold)? 404 if the person is
    unknown (or outside the groups named)."""
    groups = parse_groups(group)
    data = await read_upload(image, container.settings.max_upload_bytes)
    label = image.filename or "image"
    result = await run_in_threadpool(  # the first call builds the service (loads the models)
        lambda: container.identification.verify_bytes(
            external_id, data, label, caller.name, groups, caller
        )
    )
    return VerifyOut.of(result)


@router.post("/identify", response_model=IdentifyOut, dependencies=[rate_limit("recognition")])
async def identify(
    container: ContainerDep,
    caller: Recognizer,
    image: UploadFile = File(...),
    group: list[str] | None = Form(None, description=GROUP_HELP),
) -> IdentifyOut:
    """Every face: the best enrolled person of the groups, or unknown below the threshold, + top
    candidates."""
    groups = parse_groups(group)
    data = await read_upload(image, container.settings.max_upload_bytes)
    label = image.filename or "image"
    results = await run_in_threadpool(
        lambda: container.identification.identify_bytes(data, label, caller.name, groups, caller)
    )
    return IdentifyOut(
        threshold=container.identification.threshold,
        faces=[IdentifiedFaceOut.of(r) for r in results],
    )
