"""``/v1/people``: enrol (create), add faces, list, show and erase people."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Query, UploadFile
from starlette.concurrency import run_in_threadpool

from facegate.core.auth.principal import SCOPE_PEOPLE_READ, SCOPE_PEOPLE_WRITE, Principal
from facegate.core.errors import TooManyImagesError
from facegate.core.http import ContainerDep, read_upload, require_scope
from facegate.core.people.enrollment import EnrollMode, EnrollOptions
from facegate.core.ratelimit.deps import rate_limit
from facegate.core.store.groups import parse_groups
from facegate.features.faces.schemas import EnrollmentOut, PeopleOut, PersonOut

router = APIRouter(prefix="/v1/people", tags=["people"])
Reader = Annotated[Principal, require_scope(SCOPE_PEOPLE_READ)]
Writer = Annotated[Principal, require_scope(SCOPE_PEOPLE_WRITE)]
DUPLICATE_HELP = "Administrators only: enrol even if the face matches another person (audited)"


async def _files(container: ContainerDep, images: list[UploadFile]) -> list[tuple[str, bytes]]:
    limit, most = container.settings.max_upload_bytes, container.settings.max_images_per_request
    if len(images) > most:  # before reading any file
        raise TooManyImagesError(f"{len(images)} images in one request; at most {most}")
    return [(f.filename or f"image {i + 1}", await read_upload(f, limit)) for i, f in enumerate(images)]


@router.post("", response_model=EnrollmentOut, status_code=201, dependencies=[rate_limit("enrol")])
async def create_person(
    container: ContainerDep,
    caller: Writer,
    external_id: str = Form(..., min_length=1, max_length=200, description="Username, customer id, …"),
    display_name: str | None = Form(None, max_length=200),
    images: list[UploadFile] = File(default=[], description="Images with exactly one face each"),
    group: list[str] | None = Form(
        None, description="Groups to join (repeat or comma list); default: 'default'"
    ),
    allow_duplicate: bool = Form(False, description=DUPLICATE_HELP),
) -> EnrollmentOut:
    """Create a person (409 if the id exists) and enrol the given images (422 if none is usable;
    409 ``duplicate_face`` if the face is already enrolled as another person of the groups)."""
    options = EnrollOptions(parse_groups(group), caller, allow_duplicate)
    files = await _files(container, images)
    result = await run_in_threadpool(  # the first call builds the service (loads the models)
        lambda: container.enrollment.enroll_bytes(
            external_id, files, display_name, mode=EnrollMode.CREATE, source="upload",
            actor=caller.name, options=options,
        )
    )
    return EnrollmentOut.of(result)


@router.get("", response_model=PeopleOut)
async def list_people(
    container: ContainerDep,
    caller: Reader,
    limit: int = Query(100, ge=1, le=10_000),
    offset: int = Query(0, ge=0, le=2**31 - 1),
) -> PeopleOut:
    people = await run_in_threadpool(lambda: container.enrollment.list_people(limit, offset))
    return PeopleOut(people=[PersonOut.of(p) for p in people], count=len(people))


@router.get("/{external_id}", response_model=PersonOut)
async def show_person(container: ContainerDep, caller: Reader, external_id: str) -> PersonOut:
    person = await run_in_threadpool(lambda: container.enrollment.show_person(external_id))
    return PersonOut.of(person, with_templates=True)


@router.delete("/{external_id}", response_model=PersonOut)
async def remove_person(container: ContainerDep, caller: Writer, external_id: str) -> PersonOut:
    """Erase the person with every template (right to erasure); 404 if unknown."""
    info = await run_in_threadpool(lambda: container.enrollment.remove_person(external_id, caller.name))
    return PersonOut.of(info)


@router.post("/{external_id}/faces", response_model=EnrollmentOut, dependencies=[rate_limit("enrol")])
async def add_faces(
    container: ContainerDep,
    caller: Writer,
    external_id: str,
    images: list[UploadFile] = File(..., description="Images with exactly one face each"),
    allow_duplicate: bool = Form(False, description=DUPLICATE_HELP),
) -> EnrollmentOut:
    """Add samples to an existing person (404 if unknown); the mean template is recomputed. A face
    matching another person of the person's groups is refused (409 ``duplicate_face``)."""
    options = EnrollOptions(None, caller, allow_duplicate)
    files = await _files(container, images)
    result = await run_in_threadpool(
        lambda: container.enrollment.enroll_bytes(
            external_id, files, None, mode=EnrollMode.ADD, source="upload", actor=caller.name,
            options=options,
        )
    )
    return EnrollmentOut.of(result)
