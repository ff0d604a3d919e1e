"""``/v1/lockers``: kiosk (challenge, access, open), staff registration, administration; kiosk pages.

Who may call what:

* a kiosk credential (an API key with the ``kiosk`` scope): ``POST /v1/lockers/access/challenge``
  (+ ``/frames``), ``POST /v1/lockers/access``, ``POST /v1/lockers/{n}/open``. The kiosk page
  ``/kiosk/lockers/access`` runs in a browser made a kiosk once at ``/kiosk/lockers/setup``: the
  operator pastes a key whose only scope is ``kiosk``; the server keeps it in an HttpOnly,
  SameSite=Strict cookie (the page's script never sees it) that the API accepts only with the
  ``X-FaceGate-Kiosk: 1`` header (``facegate.core.http``);
* staff: an API key with the ``admin`` scope, or a logged-in web admin (POSTs then also need the
  ``X-CSRF-Token`` header): registration, the list, assign/release/block/unblock, history,
  revocation; the pages ``/kiosk/lockers/register`` and ``/admin`` need the web admin.

Handlers only parse, call one ``LockerService`` method in the thread pool and shape the answer.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from facegate.core.auth.principal import SCOPE_ADMIN, SCOPE_KIOSK, Principal
from facegate.core.domain import ImageArray
from facegate.core.errors import AuthError, FaceGateError, PermissionDeniedError
from facegate.core.http import (
    KIOSK_COOKIE,
    ContainerDep,
    authenticate,
    client_host,
    presented_key,
    read_upload,
    require_scope,
)
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
    """Pages: the logged-in admin's username (a redirect to /login without a session)."""
    from facegate.core.web.deps import require_admin, web_context

    return require_admin(web_context(request)).username


async def _staff_api(request: Request) -> str:
    """/v1: an ``admin`` key's name, or a logged-in web admin whose POSTs carry the CSRF header."""
    from facegate.core.web.deps import check_csrf, web_context

    if presented_key(request.headers, {})[0] is not None:
        return (await authenticate(request, SCOPE_ADMIN)).name
    ctx = await run_in_threadpool(web_context, request)
    if ctx.user is None:  # neither a key nor a web session: the usual (audited) 401
        return (await authenticate(request, SCOPE_ADMIN)).name
    if not ctx.user.is_admin:
        raise PermissionDeniedError("administrators only")
    if request.method not in ("GET", "HEAD"):
        check_csrf(ctx, None)
    return ctx.user.username


Staff = Annotated[str, Depends(_staff)]
StaffApi = Annotated[str, Depends(_staff_api)]
Kiosk = Annotated[Principal, require_scope(SCOPE_KIOSK)]


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
async def start_challenge(c: ContainerDep, kiosk: Kiosk) -> ChallengeOut:
    """Start a liveness challenge: the kiosk shows its steps, then records and posts the frames."""
    ch = await run_in_threadpool(lambda: c.lockers.start_challenge())
    return ChallengeOut(id=ch.id, steps=list(ch.steps), expires_in_s=ch.expires_in_s)


class ChallengeStateOut(BaseModel):
    id: str
    status: str = Field(description="pending, passed or failed")
    reason: str | None
    steps_done: int
    steps_total: int


@router.post("/v1/lockers/access/challenge/{challenge_id}/frames", response_model=ChallengeStateOut)
async def challenge_frames(
    challenge_id: str,
    c: ContainerDep,
    kiosk: Kiosk,
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
                             steps_done=st.steps_done, steps_total=st.steps_total)


@router.post("/v1/lockers/access", response_model=AccessOut)
async def access(
    c: ContainerDep,
    kiosk: Kiosk,
    frames: Annotated[list[UploadFile], File(description="JPEG frames, in capture order")],
    challenge_id: Annotated[str | None, Form(max_length=64)] = None,
    timestamps_ms: Annotated[str | None, Form(description="Capture times, comma-separated")] = None,
    locker: Annotated[int | None, Form(ge=1)] = None,
) -> AccessOut:
    """Liveness → identify → one-time key. A denial is 403 with the reason (and audited)."""
    images = await _read_frames(c, frames)
    stamps = _timestamps(timestamps_ms, len(images))
    actor = kiosk.name
    r = await run_in_threadpool(
        lambda: c.lockers.access(images, locker=locker, actor=actor, timestamps_ms=stamps,
                                 challenge_id=challenge_id)
    )
    if not r.granted:
        raise AccessDeniedError(f"access denied: {r.reason}")
    return AccessOut.of(r)


@router.post("/v1/lockers/{number}/open", response_model=OpenOut)
async def open_locker(number: int, body: OpenIn, c: ContainerDep, kiosk: Kiosk) -> OpenOut:
    """Check the one-time key (once, constant-time) and open the locker through the actuator."""
    actor = kiosk.name
    r = await run_in_threadpool(lambda: c.lockers.open(number, body.key, actor=actor))
    return OpenOut(opened=True, locker=r.locker, customer_id=r.customer_id, opened_at=r.opened_at)


# ---- staff -----------------------------------------------------------------------------------
@router.post("/v1/lockers/register", response_model=RegistrationOut, status_code=201)
async def register(
    c: ContainerDep,
    staff: StaffApi,
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
async def list_lockers(c: ContainerDep, staff: StaffApi) -> list[LockerOut]:
    return [LockerOut.of(x) for x in await run_in_threadpool(c.lockers.list_lockers)]


@router.post("/v1/lockers", response_model=LockerOut, status_code=201)
async def add_locker(body: LockerIn, c: ContainerDep, staff: StaffApi) -> LockerOut:
    x = await run_in_threadpool(
        lambda: c.lockers.add_locker(body.number, body.location, body.size, actor=staff)
    )
    return LockerOut.of(x)


@router.get("/v1/lockers/customers", response_model=list[CustomerOut])
async def list_customers(c: ContainerDep, staff: StaffApi) -> list[CustomerOut]:
    return [CustomerOut.of(x) for x in await run_in_threadpool(c.lockers.list_customers)]


@router.get("/v1/lockers/customers/{customer_id}/history", response_model=list[EventOut])
async def customer_history(
    customer_id: str, c: ContainerDep, staff: StaffApi, limit: int = 100
) -> list[EventOut]:
    events = await run_in_threadpool(
        lambda: c.lockers.history(customer_id=customer_id, limit=min(limit, 1000))
    )
    return [EventOut.of(e) for e in events]


@router.post("/v1/lockers/customers/{customer_id}/revoke", response_model=CustomerOut)
async def revoke(customer_id: str, c: ContainerDep, staff: StaffApi) -> CustomerOut:
    """Erase the customer's face data and revoke their keys (the assignments stay)."""
    return CustomerOut.of(
        await run_in_threadpool(lambda: c.lockers.revoke_face(customer_id, actor=staff))
    )


@router.get("/v1/lockers/{number}", response_model=LockerOut)
async def get_locker(number: int, c: ContainerDep, staff: StaffApi) -> LockerOut:
    return LockerOut.of(await run_in_threadpool(lambda: c.lockers.get_locker(number)))


@router.get("/v1/lockers/{number}/history", response_model=list[EventOut])
async def locker_history(
    number: int, c: ContainerDep, staff: StaffApi, limit: int = 100
) -> list[EventOut]:
    events = await run_in_threadpool(
        lambda: c.lockers.history(locker=number, limit=min(limit, 1000))
    )
    return [EventOut.of(e) for e in events]


@router.post("/v1/lockers/{number}/assign", response_model=LockerOut)
async def assign(number: int, body: AssignIn, c: ContainerDep, staff: StaffApi) -> LockerOut:
    return LockerOut.of(
        await run_in_threadpool(lambda: c.lockers.assign(number, body.customer_id, actor=staff))
    )


@router.post("/v1/lockers/{number}/release", response_model=LockerOut)
async def release(number: int, c: ContainerDep, staff: StaffApi) -> LockerOut:
    return LockerOut.of(await run_in_threadpool(lambda: c.lockers.release(number, actor=staff)))


@router.post("/v1/lockers/{number}/block", response_model=LockerOut)
async def block(number: int, body: BlockIn, c: ContainerDep, staff: StaffApi) -> LockerOut:
    return LockerOut.of(
        await run_in_threadpool(lambda: c.lockers.block(number, body.reason, actor=staff))
    )


@router.post("/v1/lockers/{number}/unblock", response_model=LockerOut)
async def unblock(number: int, c: ContainerDep, staff: StaffApi) -> LockerOut:
    return LockerOut.of(await run_in_threadpool(lambda: c.lockers.unblock(number, actor=staff)))


# ---- kiosk pages -----------------------------------------------------------------------------
@router.get("/kiosk/lockers/access", response_class=HTMLResponse, include_in_schema=False)
async def kiosk_access_page(request: Request, c: ContainerDep) -> Response:
    if not request.cookies.get(KIOSK_COOKIE):
        return RedirectResponse("/kiosk/lockers/setup", status_code=303)
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


@router.get("/kiosk/lockers/setup", response_class=HTMLResponse, include_in_schema=False)
def kiosk_setup_page(request: Request) -> HTMLResponse:
    """Make this browser a kiosk: paste a key whose only scope is ``kiosk``."""
    return _setup_page(request)


@router.post("/kiosk/lockers/setup", include_in_schema=False)
def kiosk_setup(
    request: Request, c: ContainerDep,
    key: Annotated[str, Form(max_length=200)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Check the key (audited like every key) and keep it in the HttpOnly kiosk cookie."""
    from facegate.core.web.deps import check_csrf, web_context

    check_csrf(web_context(request), csrf_token)
    try:
        kiosk = c.credentials.authenticate(key.strip(), client_host(request.scope),
                                           "POST /kiosk/lockers/setup")
    except AuthError as exc:
        return _setup_page(request, exc.message, 401)
    if kiosk.scopes != frozenset({SCOPE_KIOSK}):
        return _setup_page(request, "use a key whose only scope is 'kiosk'", 403)
    response = RedirectResponse("/kiosk/lockers/access", status_code=303)
    age = (int((kiosk.expires_at - datetime.now(kiosk.expires_at.tzinfo)).total_seconds())
           if kiosk.expires_at else 365 * 24 * 3600)
    response.set_cookie(KIOSK_COOKIE, key.strip(), max_age=max(age, 1), path="/", httponly=True,
                        samesite="strict", secure=c.settings.web_cookie_secure)
    return response


def _setup_page(request: Request, error: str | None = None, status: int = 200) -> HTMLResponse:
    from facegate.core.web.deps import SECURITY_HEADERS, web_context

    ctx = web_context(request)
    response = KIOSK_TEMPLATES.TemplateResponse(
        request, "kiosk_setup.html", {"csrf": ctx.csrf, "error": error}, status_code=status
    )
    response.headers.update(SECURITY_HEADERS)
    ctx.keep_csrf_cookie(response)
    return response


@router.get("/kiosk/lockers/kiosk.js", include_in_schema=False)
async def kiosk_js() -> FileResponse:
    return FileResponse(KIOSK_JS, media_type="text/javascript")
