"""``/v1/lockers``: kiosk (challenge, access, open), staff registration, administration; kiosk pages.

Who may call what:

* kiosk (anyone at the kiosk): ``POST /v1/lockers/access/challenge``, ``POST /v1/lockers/access``,
  ``POST /v1/lockers/{n}/open`` and the page ``/kiosk/lockers/access``;
* staff (a logged-in web admin; POSTs also need the ``X-CSRF-Token`` header): registration,
  the list, assign/release/block/unblock, history, revocation, and ``/kiosk/lockers/register``.

Handlers only parse, call one ``LockerService`` method in the thread pool and shape the answer.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from facegate.core.domain import ImageArray
from facegate.core.errors import FaceGateError, PermissionDeniedError
from facegate.core.http import ContainerDep, read_upload
from facegate.core.vision.images import ImageLimits, decode_labeled
from facegate.features.lockers.service import (
    AccessResult,
    CustomerInfo,
    LockerEventInfo,
    LockerInfo,
)

router = APIRouter(tags=["lockers"])
MAX_FRAMES = 300
HERE = Path(__file__).resolve().parent
KIOSK_TEMPLATES = Jinja2Templates(directory=str(HERE / "templates"))
KIOSK_JS = HERE / "static" / "kiosk.js"


# ---- schemas ---------------------------------------------------------------------------------
class LockerIn(BaseModel):
    number: int = Field(ge=1, le=1_000_000)
    location: str = Field(default="", max_length=200)
    size: str = Field(default="M", max_length=4)


class AssignIn(BaseModel):
    customer_id: str = Field(min_length=1, max_length=200)


class BlockIn(BaseModel):
    reason: str = Field(default="", max_length=500)


class OpenIn(BaseModel):
    key: str = Field(min_length=1, max_length=64)


class LockerOut(BaseModel):
    number: int
    location: str
    size: str
    status: str
    holder: str | None
    holder_name: str | None
    assigned_since: datetime | None
    block_reason: str | None

    @classmethod
    def of(cls, x: LockerInfo) -> LockerOut:
        return cls(number=x.number, location=x.location, size=x.size, status=x.status,
                   holder=x.holder, holder_name=x.holder_name, assigned_since=x.assigned_since,
                   block_reason=x.block_reason)


class CustomerOut(BaseModel):
    customer_id: str
    name: str
    contact: str | None
    has_face: bool
    lockers: list[int]
    created_at: datetime

    @classmethod
    def of(cls, x: CustomerInfo) -> CustomerOut:
        return cls(customer_id=x.customer_id, name=x.name, contact=x.contact,
                   has_face=x.has_face, lockers=list(x.lockers), created_at=x.created_at)


class EventOut(BaseModel):
    id: int
    at: datetime
    kind: str
    decision: str
    locker: int | None
    customer_id: str | None
    actor: str | None
    liveness_score: float | None
    match_score: float | None
    details: dict[str, Any]

    @classmethod
    def of(cls, e: LockerEventInfo) -> EventOut:
        return cls(id=e.id, at=e.at, kind=e.kind, decision=e.decision, locker=e.locker,
                   customer_id=e.customer_id, actor=e.actor, liveness_score=e.liveness_score,
                   match_score=e.match_score, details=e.details)


class RegistrationOut(BaseModel):
    customer: CustomerOut
    locker: int
    frames_read: int
    frames_checked: int
    samples_accepted: int


class ChallengeOut(BaseModel):
    id: str
    steps: list[str]
    expires_in_s: float | None


class AccessOut(BaseModel):
    granted: bool
    reason: str
    customer_id: str | None
    locker: int | None
    liveness_score: float | None
    match_score: float | None
    key: str | None = Field(description="The one-time key: shown once, never stored")
    expires_at: datetime | None

    @classmethod
    def of(cls, r: AccessResult) -> AccessOut:
        return cls(granted=r.granted, reason=r.reason, customer_id=r.customer_id,
                   locker=r.locker, liveness_score=r.liveness_score, match_score=r.match_score,
                   key=r.key.key if r.key else None,
                   expires_at=r.key.expires_at if r.key else None)


class OpenOut(BaseModel):
    opened: bool
    locker: int
    customer_id: str
    opened_at: datetime


class AccessDeniedError(PermissionDeniedError):
    """The kiosk access check said no (liveness, unknown face, no locker); audited."""

    code = "access_denied"


# ---- access control --------------------------------------------------------------------------
def _staff(request: Request) -> str:
    """The logged-in admin's username; POSTs must carry the CSRF token header."""
    from facegate.core.web.deps import check_csrf, require_admin, web_context

    ctx = web_context(request)
    user = require_admin(ctx)
    if request.method not in ("GET", "HEAD"):
        check_csrf(ctx, None)
    return user.username


Staff = Annotated[str, Depends(_staff)]


def _kiosk_actor(request: Request) -> str:
    host = request.client.host if request.client else "unknown"
    return f"kiosk:{host}"[:200]


# ---- frames ----------------------------------------------------------------------------------
async def _read_frames(c: Any, frames: list[UploadFile]) -> list[ImageArray]:
    if not frames:
        raise FaceGateError("no frames uploaded")
    if len(frames) > MAX_FRAMES:
        raise FaceGateError(f"too many frames: at most {MAX_FRAMES}")
    s = c.settings
    limits = ImageLimits(max_pixels=s.stream_max_frame_pixels, max_bytes=s.stream_max_frame_bytes)
    blobs = [(f.filename or f"frame {i + 1}", await read_upload(f, limits.max_bytes))
             for i, f in enumerate(frames)]
    return await run_in_threadpool(
        lambda: [decode_labeled(data, limits, label) for label, data in blobs]
    )


def _timestamps(text: str | None, n: int) -> list[float] | None:
    if text is None or not text.strip():
        return None
    try:
        values = [float(x) for x in text.split(",")]
    except ValueError:
        raise FaceGateError("timestamps_ms must be comma-separated numbers") from None
    if len(values) != n:
        raise FaceGateError(f"{len(values)} timestamps for {n} frames: give one per frame")
    return values


# ---- kiosk -----------------------------------------------------------------------------------
@router.post("/v1/lockers/access/challenge", response_model=ChallengeOut)
async def start_challenge(c: ContainerDep) -> ChallengeOut:
    """Start a server-paced liveness challenge: stream frames; each answer may reveal a step."""
    ch = await run_in_threadpool(lambda: c.lockers.start_challenge())
    return ChallengeOut(id=ch.id, steps=list(ch.steps), expires_in_s=ch.expires_in_s)


class ChallengeStateOut(BaseModel):
    id: str
    status: str = Field(description="pending, passed or failed")
    reason: str | None
    steps_done: int
    steps_total: int
    steps: list[str] = Field(default_factory=list, description="Steps revealed so far")
    instruction: str | None = Field(None, description="The step to do now (shown at random moments)")


@router.post("/v1/lockers/access/challenge/{challenge_id}/frames", response_model=ChallengeStateOut)
async def challenge_frames(
    challenge_id: str,
    c: ContainerDep,
    frames: Annotated[list[UploadFile], File(description="JPEG frames, in capture order")],
    timestamps_ms: Annotated[str, Form(description="Capture times, comma-separated")],
) -> ChallengeStateOut:
    """Stream a batch of frames into the challenge; the server decides pending/passed/failed."""
    images = await _read_frames(c, frames)
    stamps = _timestamps(timestamps_ms, len(images)) or []
    st = await run_in_threadpool(
        lambda: c.lockers.add_challenge_frames(challenge_id[:64], images, stamps)
    )
    return ChallengeStateOut(id=st.id, status=st.status, reason=st.reason,
                             steps_done=st.steps_done, steps_total=st.steps_total,
                             steps=list(st.steps), instruction=st.instruction)


@router.post("/v1/lockers/access", response_model=AccessOut)
async def access(
    c: ContainerDep,
    request: Request,
    frames: Annotated[list[UploadFile], File(description="JPEG frames, in capture order")],
    challenge_id: Annotated[str | None, Form(max_length=64)] = None,
    timestamps_ms: Annotated[str | None, Form(description="Capture times, comma-separated")] = None,
    locker: Annotated[int | None, Form(ge=1)] = None,
) -> AccessOut:
    """Liveness → identify → one-time key. A denial is 403 with the reason (and audited)."""
    images = await _read_frames(c, frames)
    stamps = _timestamps(timestamps_ms, len(images))
    actor = _kiosk_actor(request)
    r = await run_in_threadpool(
        lambda: c.lockers.access(images, locker=locker, actor=actor, timestamps_ms=stamps,
                                 challenge_id=challenge_id)
    )
    if not r.granted:
        raise AccessDeniedError(f"access denied: {r.reason}")
    return AccessOut.of(r)


@router.post("/v1/lockers/{number}/open", response_model=OpenOut)
async def open_locker(number: int, body: OpenIn, c: ContainerDep, request: Request) -> OpenOut:
    """Check the one-time key (once, constant-time) and open the locker through the actuator."""
    actor = _kiosk_actor(request)
    r = await run_in_threadpool(lambda: c.lockers.open(number, body.key, actor=actor))
    return OpenOut(opened=True, locker=r.locker, customer_id=r.customer_id, opened_at=r.opened_at)


# ---- staff -----------------------------------------------------------------------------------
@router.post("/v1/lockers/register", response_model=RegistrationOut, status_code=201)
async def register(
    c: ContainerDep,
    staff: Staff,
    customer_id: Annotated[str, Form(min_length=1, max_length=200)],
    name: Annotated[str, Form(min_length=1, max_length=200)],
    locker: Annotated[int, Form(ge=1)],
    frames: Annotated[list[UploadFile], File(description="Camera frames of the customer")],
    contact: Annotated[str | None, Form(max_length=200)] = None,
) -> RegistrationOut:
    """Register the customer's face from the frames and assign the locker (all or nothing)."""
    images = await _read_frames(c, frames)
    r = await run_in_threadpool(
        lambda: c.lockers.register(customer_id, name, locker, images, contact=contact,
                                   actor=staff)
    )
    return RegistrationOut(customer=CustomerOut.of(r.customer), locker=r.locker,
                           frames_read=r.frames_read, frames_checked=r.frames_checked,
                           samples_accepted=r.samples_accepted)


@router.get("/v1/lockers", response_model=list[LockerOut])
async def list_lockers(c: ContainerDep, staff: Staff) -> list[LockerOut]:
    return [LockerOut.of(x) for x in await run_in_threadpool(c.lockers.list_lockers)]


@router.post("/v1/lockers", response_model=LockerOut, status_code=201)
async def add_locker(body: LockerIn, c: ContainerDep, staff: Staff) -> LockerOut:
    x = await run_in_threadpool(
        lambda: c.lockers.add_locker(body.number, body.location, body.size, actor=staff)
    )
    return LockerOut.of(x)


@router.get("/v1/lockers/customers", response_model=list[CustomerOut])
async def list_customers(c: ContainerDep, staff: Staff) -> list[CustomerOut]:
    return [CustomerOut.of(x) for x in await run_in_threadpool(c.lockers.list_customers)]


@router.get("/v1/lockers/customers/{customer_id}/history", response_model=list[EventOut])
async def customer_history(
    customer_id: str, c: ContainerDep, staff: Staff, limit: int = 100
) -> list[EventOut]:
    events = await run_in_threadpool(
        lambda: c.lockers.history(customer_id=customer_id, limit=min(limit, 1000))
    )
    return [EventOut.of(e) for e in events]


@router.post("/v1/lockers/customers/{customer_id}/revoke", response_model=CustomerOut)
async def revoke(customer_id: str, c: ContainerDep, staff: Staff) -> CustomerOut:
    """Erase the customer's face data and revoke their keys (the assignments stay)."""
    return CustomerOut.of(
        await run_in_threadpool(lambda: c.lockers.revoke_face(customer_id, actor=staff))
    )


@router.get("/v1/lockers/{number}", response_model=LockerOut)
async def get_locker(number: int, c: ContainerDep, staff: Staff) -> LockerOut:
    return LockerOut.of(await run_in_threadpool(lambda: c.lockers.get_locker(number)))


@router.get("/v1/lockers/{number}/history", response_model=list[EventOut])
async def locker_history(
    number: int, c: ContainerDep, staff: Staff, limit: int = 100
) -> list[EventOut]:
    events = await run_in_threadpool(
        lambda: c.lockers.history(locker=number, limit=min(limit, 1000))
    )
    return [EventOut.of(e) for e in events]


@router.post("/v1/lockers/{number}/assign", response_model=LockerOut)
async def assign(number: int, body: AssignIn, c: ContainerDep, staff: Staff) -> LockerOut:
    return LockerOut.of(
        await run_in_threadpool(lambda: c.lockers.assign(number, body.customer_id, actor=staff))
    )


@router.post("/v1/lockers/{number}/release", response_model=LockerOut)
async def release(number: int, c: ContainerDep, staff: Staff) -> LockerOut:
    return LockerOut.of(await run_in_threadpool(lambda: c.lockers.release(number, actor=staff)))


@router.post("/v1/lockers/{number}/block", response_model=LockerOut)
async def block(number: int, body: BlockIn, c: ContainerDep, staff: Staff) -> LockerOut:
    return LockerOut.of(
        await run_in_threadpool(lambda: c.lockers.block(number, body.reason, actor=staff))
    )


@router.post("/v1/lockers/{number}/unblock", response_model=LockerOut)
async def unblock(number: int, c: ContainerDep, staff: Staff) -> LockerOut:
    return LockerOut.of(await run_in_threadpool(lambda: c.lockers.unblock(number, actor=staff)))


# ---- kiosk pages -----------------------------------------------------------------------------
@router.get("/kiosk/lockers/access", response_class=HTMLResponse, include_in_schema=False)
async def kiosk_access_page(request: Request, c: ContainerDep) -> HTMLResponse:
    return KIOSK_TEMPLATES.TemplateResponse(
        request, "kiosk_access.html",
        {"key_digits": c.settings.locker_key_digits, "ttl_s": c.settings.locker_key_ttl_s},
    )


@router.get("/kiosk/lockers/register", response_class=HTMLResponse, include_in_schema=False)
async def kiosk_register_page(request: Request, staff: Staff) -> HTMLResponse:
    from facegate.core.web.deps import web_context

    ctx = web_context(request)
    return KIOSK_TEMPLATES.TemplateResponse(
        request, "kiosk_register.html", {"staff": staff, "csrf": ctx.csrf}
    )


@router.get("/kiosk/lockers/admin", response_class=HTMLResponse, include_in_schema=False)
async def kiosk_admin_page(
    request: Request, c: ContainerDep, staff: Staff, locker: int | None = None,
    customer: str | None = None,
) -> HTMLResponse:
    """Lockers with status and holder, and the history of one locker/customer (or all)."""
    lockers, events = await run_in_threadpool(
        lambda: (c.lockers.list_lockers(),
                 c.lockers.history(locker=locker, customer_id=customer, limit=200))
    )
    return KIOSK_TEMPLATES.TemplateResponse(
        request, "kiosk_admin.html",
        {"staff": staff, "lockers": lockers, "events": events, "locker": locker,
         "customer": customer},
    )


@router.get("/kiosk/lockers/kiosk.js", include_in_schema=False)
async def kiosk_js() -> FileResponse:
    return FileResponse(KIOSK_JS, media_type="text/javascript")
