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

from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile
from starlette.concurrency import run_in_threadpool

from facegate.core.errors import FaceGateError, PermissionDeniedError
from facegate.core.http import ContainerDep
from facegate.core.liveness.timestamps import parse_timestamps
from facegate.core.ratelimit.deps import guess_limit, rate_limit
from facegate.features.lockers.deps import Kiosk, StaffApi, read_frames
from facegate.features.lockers.schemas import (
    AccessOut,
    AssignIn,
    BlockIn,
    ChallengeOut,
    ChallengeStateOut,
    CustomerOut,
    EventOut,
    LockerIn,
    LockerOut,
    OpenIn,
    OpenOut,
    RegistrationOut,
)

router = APIRouter(tags=["lockers"])


class AccessDeniedError(PermissionDeniedError):
    """The kiosk access check said no (liveness, unknown face, no locker); audited."""

    code = "access_denied"


def _timestamps(text: str | None, n: int) -> list[float] | None:
    if text is None or not text.strip():
        return None
    return parse_timestamps(text, n, field="timestamps_ms", error=FaceGateError)


# Wrong keys throttle the caller (and, briefly, the locker): a stranger cannot burn a key.
KEY_GUESSES = guess_limit(
    "locker_open", "locker_wrong_keys", "locker_key_guesses", "number",
    code="key_refused", reasons=frozenset({"wrong", "burnt"}),
)


# ---- kiosk -----------------------------------------------------------------------------------
@router.post("/v1/lockers/access/challenge", response_model=ChallengeOut,
             dependencies=[rate_limit("liveness")])
async def start_challenge(c: ContainerDep, kiosk: Kiosk) -> ChallengeOut:
    """Start a server-paced liveness challenge: stream frames; each answer may reveal a step."""
    ch = await run_in_threadpool(lambda: c.lockers.start_challenge())
    return ChallengeOut(id=ch.id, steps=list(ch.steps), expires_in_s=ch.expires_in_s)


@router.post("/v1/lockers/access/challenge/{challenge_id}/frames", response_model=ChallengeStateOut)
async def challenge_frames(
    challenge_id: str,
    c: ContainerDep,
    kiosk: Kiosk,
    frames: Annotated[list[UploadFile], File(description="JPEG frames, in capture order")],
    timestamps_ms: Annotated[str, Form(description="Capture times, comma-separated")],
) -> ChallengeStateOut:
    """Stream a batch of frames into the challenge; the server decides pending/passed/failed."""
    images = await read_frames(c, frames)
    stamps = _timestamps(timestamps_ms, len(images)) or []
    st = await run_in_threadpool(
        lambda: c.lockers.add_challenge_frames(challenge_id[:64], images, stamps)
    )
    return ChallengeStateOut(id=st.id, status=st.status, reason=st.reason,
                             steps_done=st.steps_done, steps_total=st.steps_total,
                             steps=list(st.steps), instruction=st.instruction)


@router.post("/v1/lockers/access", response_model=AccessOut,
             dependencies=[rate_limit("recognition")])
async def access(
    c: ContainerDep,
    kiosk: Kiosk,
    frames: Annotated[list[UploadFile], File(description="JPEG frames, in capture order")],
    challenge_id: Annotated[str | None, Form(max_length=64)] = None,
    timestamps_ms: Annotated[str | None, Form(description="Capture times, comma-separated")] = None,
    locker: Annotated[int | None, Form(ge=1)] = None,
) -> AccessOut:
    """Liveness → identify → one-time key. A denial is 403 with the reason (and audited)."""
    images = await read_frames(c, frames)
    stamps = _timestamps(timestamps_ms, len(images))
    actor = kiosk.name
    r = await run_in_threadpool(
        lambda: c.lockers.access(images, locker=locker, actor=actor, timestamps_ms=stamps,
                                 challenge_id=challenge_id)
    )
    if not r.granted:
        raise AccessDeniedError(f"access denied: {r.reason}")
    return AccessOut.of(r)


@router.post("/v1/lockers/{number}/open", response_model=OpenOut, dependencies=[KEY_GUESSES])
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
    images = await read_frames(c, frames)
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
