"""Bank lockers: kiosk registration, access (liveness → identify → one-time key), opening, admin.

Flows (every decision goes to the audit log and to ``locker_events`` for per-locker/per-customer
history):

* **register**: customer id + locker number + camera frames. The sharpest frontal frames that pass
  the enrolment quality gate become the customer's face samples (``EnrollmentService`` averages
  them into the template); the customer row and the assignment are written inside the SAME
  transaction as the templates (the enrolment's session hook), so a taken/blocked locker leaves
  nothing behind.
* **access**: the frames must pass the liveness challenge; then a few frames are identified and
  the same enrolled person must be the best match in most of them; that person must be a customer
  with an active assignment of an unblocked locker. Then a one-time key is issued (older unused
  keys of that locker are revoked); only its HMAC is stored.
* **open**: locker number + typed key. The newest key of the locker is checked (constant time).
  A right key is consumed by ``UPDATE … SET used_at WHERE used_at IS NULL AND …`` and only the
  caller whose update changed a row opens the locker (two simultaneous opens: exactly one wins,
  whatever the number of processes). A wrong key increments ``attempts`` in the same kind of
  conditional update and burns the key at ``max_attempts``.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, NoReturn, Protocol

from sqlalchemy import and_, case, exists, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from facegate.core.domain import AnalyzedFace, AuditEvent, FloatArray, Identification, ImageArray
from facegate.core.errors import FaceGateError, NotFoundError, PermissionDeniedError
from facegate.core.store.audit import AuditLog
from facegate.core.store.db import Database
from facegate.core.store.models import Person
from facegate.features.lockers.actuator import ActuatorError, LockerActuator, OpenRequest
from facegate.features.lockers.keys import (
    Clock,
    KeyHasher,
    KeyPolicy,
    KeyStatus,
    generate_key,
    generate_key_ref,
    key_status,
    normalize_key,
    utc_clock,
)
from facegate.features.lockers.models import Assignment, Customer, Locker, LockerEvent, LockerKey
from facegate.features.lockers.rules import (
    LockerStatus,
    LockerUnavailableError,
    check_assignable,
    check_locker_number,
    check_releasable,
    check_size,
    check_usable,
    status_after_assign,
    status_after_release,
    status_after_unblock,
)

MAX_TEXT = 200
PERSON_PREFIX = "customer:"
"""Store people of locker customers are ``customer:<customer id>`` (never merged with staff)."""

Identifier = Callable[[ImageArray], list[Identification]]
LiveFaceSimilarity = Callable[[FloatArray, int], float | None]
"""Similarity of the liveness proof's embedding with a person's template (None: not near)."""


# ---- interfaces of the other areas --------------------------------------------------------------
@dataclass(frozen=True)
class LivenessOutcome:
    """The answer of the liveness check over the frames of one kiosk session."""

    passed: bool
    score: float | None  # passive anti-spoof probability of "live" when measured
    reason: str
    details: dict[str, Any] = field(default_factory=dict)
    embedding: FloatArray | None = None  # the face that passed (mean of its sampled embeddings)


@dataclass(frozen=True)
class ChallengeInfo:
    """A liveness challenge the kiosk shows before recording: its id and the steps, in order."""

    id: str
    steps: tuple[str, ...]
    expires_in_s: float | None = None


@dataclass(frozen=True)
class ChallengeState:
    """Progress of a challenge while the kiosk streams frames: pending, passed or failed."""

    id: str
    status: str
    reason: str | None
    steps_done: int
    steps_total: int


class LivenessCheck(Protocol):
    """Runs the (server-side) challenge over recorded frames.

    ``challenge_id``: a challenge started before (the kiosk page showed its steps); None: the
    check starts one itself (CLI over a camera or video file). ``timestamps_ms``: capture times
    of the frames; None: the frames are taken as evenly spaced at the source's rate.
    """

    def start_challenge(self) -> ChallengeInfo: ...

    def add_frames(
        self, challenge_id: str, frames: Sequence[ImageArray], timestamps_ms: Sequence[float]
    ) -> ChallengeState: ...

    def check_frames(
        self,
        frames: Sequence[ImageArray],
        timestamps_ms: Sequence[float] | None = None,
        challenge_id: str | None = None,
    ) -> LivenessOutcome: ...


class SampleCheck(Protocol):
    accepted: bool
    reason: str | None


class Enroller(Protocol):
    """The part of ``facegate.core.people.enrollment.EnrollmentService`` lockers use."""

    def check_image(self, item: Any) -> tuple[AnalyzedFace | None, Any]: ...

    def enroll_faces(
        self,
        external_id: str,
        checked: Sequence[tuple[AnalyzedFace | None, Any]],
        display_name: str | None = None,
        *,
        mode: Any = ...,
        source: str = "upload",
        actor: str | None = None,
        session_hook: Any = None,
        options: Any = None,
    ) -> Any: ...

    def remove_person(self, external_id: str, actor: str | None = None) -> Any: ...


# ---- results ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class LockerInfo:
    number: int
    location: str
    size: str
    status: str
    holder: str | None  # customer id
    holder_name: str | None
    assigned_since: datetime | None
    block_reason: str | None = None


@dataclass(frozen=True)
class CustomerInfo:
    customer_id: str
    name: str
    contact: str | None
    has_face: bool
    lockers: tuple[int, ...]
    created_at: datetime


@dataclass(frozen=True)
class RegistrationResult:
    customer: CustomerInfo
    locker: int
    frames_read: int
    frames_checked: int
    samples_accepted: int
    rejected_reasons: tuple[str, ...]


@dataclass(frozen=True)
class IssuedKey:
    key: str  # shown once; never stored
    ref: str
    locker: int
    customer_id: str
    expires_at: datetime


@dataclass(frozen=True)
class AccessResult:
    granted: bool
    reason: str
    customer_id: str | None = None
    locker: int | None = None
    liveness_score: float | None = None
    match_score: float | None = None
    key: IssuedKey | None = None


@dataclass(frozen=True)
class OpenResult:
    locker: int
    customer_id: str
    key_ref: str
    opened_at: datetime
    actuator: str


@dataclass(frozen=True)
class LockerEventInfo:
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


class KeyRefusedError(PermissionDeniedError):
    """The key does not open the locker; ``reason``: wrong, used, expired, burnt, no_key."""

    code = "key_refused"

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class LockerOptions:
    policy: KeyPolicy = field(default_factory=KeyPolicy)
    enroll_samples: int = 5  # accepted frames that become the template
    enroll_candidates: int = 24  # frames (evenly spaced) checked by the quality gate
    identify_frames: int = 5  # frames (evenly spaced) identified per access


class LockerService:
    def __init__(
        self,
        db: Database,
        audit: AuditLog,
        hasher: KeyHasher,
        actuator: LockerActuator,
        enroller: Callable[[], Enroller],
        identify: Identifier,
        liveness: LivenessCheck,
        options: LockerOptions | None = None,
        clock: Clock = utc_clock,
        live_face_similarity: LiveFaceSimilarity | None = None,
    ) -> None:
        self.db = db
        self.audit = audit
        self.hasher = hasher
        self.actuator = actuator
        self._enroller = enroller  # built on first use: admin commands load no model
        self.identify = identify
        self.liveness = liveness
        self.options = options or LockerOptions()
        self.clock = clock
        self.live_face_similarity = live_face_similarity

    @property
    def enroller(self) -> Enroller:
        return self._enroller()

    @property
    def policy(self) -> KeyPolicy:
        return self.options.policy

    # ==== administration ========================================================================
    def add_locker(
        self, number: int, location: str = "", size: str = "M", actor: str | None = None
    ) -> LockerInfo:
        number = check_locker_number(number)
        size = check_size(size)
        location = _text(location, "location", allow_empty=True)
        now = self.clock()
        try:
            with self.db.session(write=True) as s:
                if _find_locker(s, number) is not None:
                    raise FaceGateError(f"locker {number} already exists")
                s.add(Locker(number=number, location=location, size=size,
                             status=LockerStatus.FREE.value, created_at=now, updated_at=now))
                s.flush()
                self._log(s, "locker.add", "ok", actor, number, None,
                          details={"location": location, "size": size})
        except IntegrityError:
            raise FaceGateError(f"locker {number} already exists") from None
        return self.get_locker(number)

    def get_locker(self, number: int) -> LockerInfo:
        with self.db.session() as s:
            return _locker_info(s, _get_locker(s, number))

    def list_lockers(self) -> list[LockerInfo]:
        with self.db.session() as s:
            return [_locker_info(s, lk) for lk in s.scalars(select(Locker).order_by(Locker.number))]

    def list_customers(self) -> list[CustomerInfo]:
        with self.db.session() as s:
            rows = s.scalars(select(Customer).order_by(Customer.customer_id)).all()
            return [_customer_info(s, c) for c in rows]

    def get_customer(self, customer_id: str) -> CustomerInfo:
        with self.db.session() as s:
            return _customer_info(s, _get_customer(s, customer_id))

    def assign(self, number: int, customer_id: str, actor: str | None = None) -> LockerInfo:
        """Give a free locker to an existing customer."""
        try:
            with self.db.session(write=True) as s:
                locker = _get_locker(s, number)
                customer = _get_customer(s, customer_id)
                self._assign_in(s, locker, customer)
                self._log(s, "locker.assign", "ok", actor, number, customer.customer_id)
        except LockerUnavailableError as exc:
            self._record_refusal("locker.assign", exc, actor, number, customer_id)
            raise
        return self.get_locker(number)

    def release(self, number: int, actor: str | None = None) -> LockerInfo:
        """End the locker's assignment (its unused keys are revoked)."""
        with self.db.session(write=True) as s:
            locker = _get_locker(s, number)
            active = _active_assignment(s, locker.id)
            holder = _customer_id_of(s, active.customer_pk) if active else None
            check_releasable(number, holder)
            assert active is not None
            now = self.clock()
            active.ended_at = now
            locker.status = status_after_release(LockerStatus(locker.status)).value
            locker.updated_at = now
            _revoke_keys(s, now, locker_id=locker.id)
            self._log(s, "locker.release", "ok", actor, number, holder)
        return self.get_locker(number)

    def block(self, number: int, reason: str = "", actor: str | None = None) -> LockerInfo:
        reason = _text(reason, "reason", allow_empty=True, limit=500)
        with self.db.session(write=True) as s:
            locker = _get_locker(s, number)
            now = self.clock()
            locker.status = LockerStatus.BLOCKED.value
            locker.block_reason = reason or None
            locker.updated_at = now
            _revoke_keys(s, now, locker_id=locker.id)
            self._log(s, "locker.block", "ok", actor, number, None, details={"reason": reason})
        return self.get_locker(number)

    def unblock(self, number: int, actor: str | None = None) -> LockerInfo:
        with self.db.session(write=True) as s:
            locker = _get_locker(s, number)
            if locker.status != LockerStatus.BLOCKED.value:
                raise LockerUnavailableError(f"locker {number} is not blocked")
            active = _active_assignment(s, locker.id)
            holder = _customer_id_of(s, active.customer_pk) if active else None
            locker.status = status_after_unblock(holder).value
            locker.block_reason = None
            locker.updated_at = self.clock()
            self._log(s, "locker.unblock", "ok", actor, number, holder)
        return self.get_locker(number)

    def revoke_face(self, customer_id: str, actor: str | None = None) -> CustomerInfo:
        """Erase the customer's face data (store people removal); keys are revoked.

        The customer and their assignments stay (the bank relation is not biometric data); face
        access is impossible until they register again.
        """
        with self.db.session() as s:
            customer = _get_customer(s, customer_id)
            person = s.get(Person, customer.person_id) if customer.person_id is not None else None
            person_ext = person.external_id if person is not None else None
        if person_ext is None:
            raise NotFoundError(f"customer {customer_id} has no face data")
        self.enroller.remove_person(person_ext, actor=actor)
        with self.db.session(write=True) as s:
            customer = _get_customer(s, customer_id)
            now = self.clock()
            customer.person_id = None
            customer.face_revoked_at = now
            revoked = _revoke_keys(s, now, customer_pk=customer.id)
            self._log(s, "locker.revoke", "ok", actor, None, customer_id,
                      details={"person": person_ext, "keys_revoked": revoked})
        return self.get_customer(customer_id)

    def history(
        self, locker: int | None = None, customer_id: str | None = None, limit: int = 100
    ) -> list[LockerEventInfo]:
        """Access history, newest first, of one locker and/or one customer (or everything)."""
        stmt = select(LockerEvent)
        with self.db.session() as s:
            if locker is not None:
                _get_locker(s, locker)
                stmt = stmt.where(LockerEvent.locker_number == locker)
            if customer_id is not None:
                _get_customer(s, customer_id)
                stmt = stmt.where(LockerEvent.customer_id == customer_id)
            stmt = stmt.order_by(LockerEvent.at.desc(), LockerEvent.id.desc()).limit(max(limit, 0))
            return [_event_info(e) for e in s.scalars(stmt)]

    # ==== registration ==========================================================================
    def register(
        self,
        customer_id: str,
        name: str,
        number: int,
        frames: Sequence[ImageArray],
        contact: str | None = None,
        actor: str | None = None,
        on_check: Callable[[int], None] | None = None,
    ) -> RegistrationResult:
        """Enrol the customer's face from frames and assign the locker, all or nothing.

        The person joins the group ``customers`` (the kiosk searches only it); a face already
        enrolled there as another customer is refused (409 ``duplicate_face``, naming nobody)."""
        from facegate.core.people.enrollment import EnrollImage, EnrollMode, EnrollOptions
        from facegate.core.store.groups import CUSTOMERS_GROUP

        customer_id = _text(customer_id, "customer id")
        name = _text(name, "name")
        contact = _text(contact, "contact", allow_empty=True) if contact else None
        number = check_locker_number(number)
        if not frames:
            raise FaceGateError("no frames to register from")
        try:
            person_ext, existing = self._precheck_registration(customer_id, number)
        except FaceGateError as exc:
            self._record_refusal("locker.register", exc, actor, number, customer_id)
            raise
        picked = _evenly_spaced(len(frames), self.options.enroll_candidates)
        checked = []
        for n, i in enumerate(picked, 1):
            checked.append(self.enroller.check_image(EnrollImage(frames[i], f"frame {i + 1}")))
            if on_check is not None:
                on_check(n)
        good = [(f, o) for f, o in checked if f is not None and o.accepted]
        good.sort(key=lambda fo: abs(fo[0].quality.yaw) if fo[0] is not None else 0.0)
        chosen: list[tuple[AnalyzedFace | None, Any]] = list(good[: self.options.enroll_samples])
        rejected = tuple(f"{o.label}: {o.reason}" for f, o in checked if f is None or not o.accepted)
        if not chosen:
            chosen = checked  # let enrolment refuse with every reason (nothing is written)

        def hook(s: Session, person: Person, _outcomes: list[Any]) -> None:
            self._register_in(s, customer_id, name, contact, number, person, actor)

        try:
            self.enroller.enroll_faces(
                person_ext,
                chosen,
                name,
                mode=EnrollMode.ADD if existing else EnrollMode.CREATE,
                source="camera",
                actor=actor,
                session_hook=hook,
                options=EnrollOptions(groups=frozenset({CUSTOMERS_GROUP}), create_groups=True),
            )
        except FaceGateError as exc:
            self._record_refusal("locker.register", exc, actor, number, customer_id)
            raise
        return RegistrationResult(
            customer=self.get_customer(customer_id),
            locker=number,
            frames_read=len(frames),
            frames_checked=len(checked),
            samples_accepted=len([c for c in chosen if c[0] is not None and c[1].accepted]),
            rejected_reasons=rejected,
        )

    def _precheck_registration(self, customer_id: str, number: int) -> tuple[str, bool]:
        """Refuse early (before any model runs) when the locker cannot be given to the customer."""
        with self.db.session() as s:
            locker = _get_locker(s, number)
            active = _active_assignment(s, locker.id)
            holder = _customer_id_of(s, active.customer_pk) if active else None
            if holder != customer_id:
                check_assignable(number, LockerStatus(locker.status), holder)
            elif locker.status == LockerStatus.BLOCKED.value:
                raise LockerUnavailableError(f"locker {number} is blocked")
            customer = _find_customer(s, customer_id)
            person = (
                s.get(Person, customer.person_id)
                if customer is not None and customer.person_id is not None
                else None
            )
            if person is not None:
                return person.external_id, True
            return PERSON_PREFIX + customer_id, False

    def _register_in(
        self,
        s: Session,
        customer_id: str,
        name: str,
        contact: str | None,
        number: int,
        person: Person,
        actor: str | None,
    ) -> None:
        customer = _find_customer(s, customer_id)
        if customer is None:
            customer = Customer(customer_id=customer_id, name=name, contact=contact,
                                created_at=self.clock())
            s.add(customer)
        customer.name = name
        if contact:
            customer.contact = contact
        customer.person_id = person.id
        customer.face_revoked_at = None
        s.flush()
        locker = _get_locker(s, number)
        active = _active_assignment(s, locker.id)
        if active is None or active.customer_pk != customer.id:
            self._assign_in(s, locker, customer)
        self._log(s, "locker.register", "ok", actor, number, customer_id,
                  details={"person": person.external_id})

    def _assign_in(self, s: Session, locker: Locker, customer: Customer) -> None:
        active = _active_assignment(s, locker.id)
        holder = _customer_id_of(s, active.customer_pk) if active else None
        check_assignable(locker.number, LockerStatus(locker.status), holder)
        now = self.clock()
        s.add(Assignment(locker_id=locker.id, customer_pk=customer.id, started_at=now))
        try:
            with s.begin_nested():
                s.flush()
        except IntegrityError:  # another transaction assigned it meanwhile (unique index)
            raise LockerUnavailableError(f"locker {locker.number} is already assigned") from None
        locker.status = status_after_assign().value
        locker.updated_at = now

    # ==== access ================================================================================
    def start_challenge(self) -> ChallengeInfo:
        """A liveness challenge for the kiosk page to show before it records the frames."""
        return self.liveness.start_challenge()

    def add_challenge_frames(
        self, challenge_id: str, frames: Sequence[ImageArray], timestamps_ms: Sequence[float]
    ) -> ChallengeState:
        """Stream frames into a running challenge (the kiosk page, in small batches)."""
        if not frames or len(frames) != len(timestamps_ms):
            raise FaceGateError("give one or more frames and one timestamp per frame")
        return self.liveness.add_frames(challenge_id, frames, timestamps_ms)

    def access(
        self,
        frames: Sequence[ImageArray],
        locker: int | None = None,
        actor: str | None = None,
        timestamps_ms: Sequence[float] | None = None,
        challenge_id: str | None = None,
    ) -> AccessResult:
        """Liveness → identify → assigned customer → one-time key. Denials are results, audited.

        With ``challenge_id`` of a challenge already decided by streamed frames, ``frames`` are
        only identified (the liveness proof must still be the same face).
        """
        if not frames:
            raise FaceGateError("no frames for the access check")
        if timestamps_ms is not None and len(timestamps_ms) != len(frames):
            raise FaceGateError(
                f"{len(timestamps_ms)} timestamps for {len(frames)} frames: give one per frame"
            )
        if locker is not None:
            locker = check_locker_number(locker)
        live = self.liveness.check_frames(frames, timestamps_ms, challenge_id)
        if not live.passed:
            return self._deny(f"liveness check failed: {live.reason}", actor, locker, None, live)
        person_id, match, votes, threshold = self._identify_frames(frames)
        if person_id is None:
            return self._deny("face not recognised", actor, locker, None, live, match,
                              {"votes": votes})
        if live.embedding is not None and self.live_face_similarity is not None:
            live_sim = self.live_face_similarity(live.embedding, person_id)
            if live_sim is None or threshold is None or live_sim < threshold:
                return self._deny("the live face is not the recognised person", actor, locker,
                                  None, live, match, {"votes": votes, "live_similarity": live_sim})
        with self.db.session() as s:
            customer = s.scalars(select(Customer).where(Customer.person_id == person_id)).first()
            if customer is None:
                return self._deny("not a locker customer", actor, locker, None, live, match,
                                  {"votes": votes})
            cid = customer.customer_id
            held = _held_lockers(s, customer.id)
        if locker is not None and locker not in held:
            return self._deny(f"locker {locker} is not assigned to this customer", actor, locker,
                              cid, live, match)
        if locker is None:
            if not held:
                return self._deny("no locker is assigned to this customer", actor, None, cid,
                                  live, match)
            if len(held) > 1:
                return self._deny(
                    f"customer holds lockers {', '.join(map(str, held))}: choose one", actor,
                    None, cid, live, match,
                )
            locker = held[0]
        try:
            key = self._issue_key(locker, cid, live, match, actor)
        except LockerUnavailableError as exc:
            return self._deny(exc.message, actor, locker, cid, live, match)
        return AccessResult(True, "granted", cid, locker, live.score, match, key)

    def _identify_frames(
        self, frames: Sequence[ImageArray]
    ) -> tuple[int | None, float | None, dict[str, int], float | None]:
        """The person recognised (largest face) in a strict majority of the sampled frames."""
        picks = _evenly_spaced(len(frames), self.options.identify_frames)
        best: list[tuple[int, str, float] | None] = []
        top_scores: list[float] = []
        threshold: float | None = None
        with self.db.session() as s:
            customers = {p for p in s.scalars(select(Customer.person_id)) if p is not None}
        for i in picks:
            results = [among(r, customers) for r in self.identify(frames[i])]
            if not results:
                best.append(None)
                continue
            main = max(results, key=lambda r: r.face.face.box.area)
            threshold = main.threshold
            if main.candidates:
                top_scores.append(main.candidates[0].similarity)
            b = main.best
            best.append((b.person_id, b.external_id, b.similarity) if b else None)
        votes = Counter(b[0] for b in best if b is not None)
        labels = {b[0]: b[1] for b in best if b is not None}
        named = {labels[k]: v for k, v in votes.items()}
        named["<unknown>"] = sum(1 for b in best if b is None)
        nearest = max(top_scores) if top_scores else None
        if not votes:
            return None, nearest, named, threshold
        person_id, n = votes.most_common(1)[0]
        if n <= len(picks) / 2 or len(votes) > 1:
            return None, nearest, named, threshold
        sims = sorted(b[2] for b in best if b is not None and b[0] == person_id)
        return person_id, round(sims[len(sims) // 2], 6), named, threshold

    def _issue_key(
        self, number: int, customer_id: str, live: LivenessOutcome, match: float | None,
        actor: str | None,
    ) -> IssuedKey:
        now = self.clock()
        key = generate_key(self.policy.digits)
        ref = generate_key_ref()
        expires = now + self.policy.ttl
        with self.db.session(write=True) as s:
            locker = _get_locker(s, number)
            active = _active_assignment(s, locker.id)
            holder = _customer_id_of(s, active.customer_pk) if active else None
            check_usable(number, LockerStatus(locker.status), holder)
            if holder != customer_id or active is None:
                raise LockerUnavailableError(f"locker {number} is not assigned to this customer")
            revoked = _revoke_keys(s, now, locker_id=locker.id)
            s.add(LockerKey(
                ref=ref, locker_id=locker.id, customer_pk=active.customer_pk,
                assignment_id=active.id,
                digest=self.hasher.digest(key, ref=ref, customer_id=customer_id,
                                          locker_number=number),
                issued_at=now, expires_at=expires, attempts=0,
                max_attempts=self.policy.max_attempts,
            ))
            self._log(s, "locker.access", "granted", actor, number, customer_id,
                      liveness=live.score, match=match,
                      details={"liveness": live.reason, **_live_details(live)})
            self._log(s, "locker.key_issue", "ok", actor, number, customer_id,
                      details={"ref": ref, "expires_at": expires.isoformat(),
                               "replaced_keys": revoked})
        return IssuedKey(key, ref, number, customer_id, expires)

    def _deny(
        self, reason: str, actor: str | None, number: int | None, customer_id: str | None,
        live: LivenessOutcome | None, match: float | None = None,
        details: dict[str, Any] | None = None,
    ) -> AccessResult:
        extra = dict(details or {})
        if live is not None:
            extra.update({"liveness": live.reason, **_live_details(live)})
        extra["reason"] = reason
        with self.db.session() as s:
            self._log(s, "locker.access", "denied", actor, number, customer_id,
                      liveness=live.score if live else None, match=match, details=extra)
        return AccessResult(False, reason, customer_id, number,
                            live.score if live else None, match, None)

    # ==== opening ===============================================================================
    def open(self, number: int, typed_key: str, actor: str | None = None) -> OpenResult:
        """Check the key and open the locker; ``KeyRefusedError`` (audited) otherwise."""
        number = check_locker_number(number)
        try:
            key = normalize_key(typed_key, self.policy.digits)
        except FaceGateError as exc:
            self._record_refusal("locker.open", exc, actor, number, None)
            raise
        now = self.clock()
        with self.db.session() as s:
            locker = _find_locker(s, number)
            row = _latest_key(s, locker.id) if locker is not None else None
            snapshot = _KeySnapshot.of(s, row, locker) if row is not None and locker else None
        if snapshot is None:
            self._refuse_open(number, None, actor, "no_key",
                              f"no key has been issued for locker {number}")
        assert snapshot is not None
        state = key_status(now=now, expires_at=snapshot.expires_at, used_at=snapshot.used_at,
                           burnt_at=snapshot.burnt_at, revoked_at=snapshot.revoked_at)
        if state is not KeyStatus.ACTIVE:
            self._refuse_open(number, snapshot.customer_id, actor, state.value,
                              _STATE_MESSAGES[state], ref=snapshot.ref)
        right = self.hasher.matches(key, snapshot.digest, ref=snapshot.ref,
                                    customer_id=snapshot.customer_id, locker_number=number)
        if not right:
            self._wrong_key(snapshot, number, now, actor)
        if not self._consume(snapshot, number, now, actor):
            self._refuse_after_race(snapshot, number, now, actor)
        request = OpenRequest(number, snapshot.location, snapshot.customer_id, snapshot.ref)
        try:
            self.actuator.open_locker(request)
        except ActuatorError as exc:
            with self.db.session() as s:
                self._log(s, "locker.open", "error", actor, number, snapshot.customer_id,
                          details={"ref": snapshot.ref, "actuator": self.actuator.name,
                                   "message": exc.message})
            raise
        with self.db.session() as s:
            self._log(s, "locker.open", "opened", actor, number, snapshot.customer_id,
                      details={"ref": snapshot.ref, "actuator": self.actuator.name})
        return OpenResult(number, snapshot.customer_id, snapshot.ref, now, self.actuator.name)

    def _consume(self, k: _KeySnapshot, number: int, now: datetime, actor: str | None) -> bool:
        """Mark the key used iff it still is usable; the row count decides who won."""
        with self.db.session(write=True) as s:
            assignment_active = exists().where(
                Assignment.id == LockerKey.assignment_id, Assignment.ended_at.is_(None)
            )
            locker_usable = exists().where(
                Locker.id == LockerKey.locker_id, Locker.status == LockerStatus.ASSIGNED.value
            )
            result = s.execute(
                update(LockerKey)
                .where(
                    LockerKey.id == k.id,
                    LockerKey.used_at.is_(None),
                    LockerKey.burnt_at.is_(None),
                    LockerKey.revoked_at.is_(None),
                    LockerKey.expires_at > now,
                    LockerKey.attempts < LockerKey.max_attempts,
                    assignment_active,
                    locker_usable,
                )
                .values(used_at=now)
                .execution_options(synchronize_session=False)
            )
            won = int(result.rowcount or 0) == 1  # type: ignore[attr-defined]
            if won:
                self._log(s, "locker.key_use", "ok", actor, number, k.customer_id,
                          details={"ref": k.ref})
        return won

    def _wrong_key(
        self, k: _KeySnapshot, number: int, now: datetime, actor: str | None
    ) -> NoReturn:
        with self.db.session(write=True) as s:
            s.execute(
                update(LockerKey)
                .where(LockerKey.id == k.id, LockerKey.used_at.is_(None),
                       LockerKey.burnt_at.is_(None), LockerKey.revoked_at.is_(None))
                .values(
                    attempts=LockerKey.attempts + 1,
                    burnt_at=case(
                        (LockerKey.attempts + 1 >= LockerKey.max_attempts, now),
                        else_=LockerKey.burnt_at,
                    ),
                )
                .execution_options(synchronize_session=False)
            )
            row = s.get(LockerKey, k.id)
            assert row is not None
            s.refresh(row)
            left = max(row.max_attempts - row.attempts, 0)
            burnt = row.burnt_at is not None
            self._log(s, "locker.wrong_key", "burnt" if burnt else "refused", actor, number,
                      k.customer_id, details={"ref": k.ref, "attempts": row.attempts,
                                              "attempts_left": left})
        if burnt:
            raise KeyRefusedError(
                "wrong key; too many wrong entries: the key is burnt, request a new one at the kiosk",
                "burnt",
            )
        raise KeyRefusedError(f"wrong key ({left} attempt{'s' if left != 1 else ''} left)", "wrong")

    def _refuse_after_race(
        self, k: _KeySnapshot, number: int, now: datetime, actor: str | None
    ) -> NoReturn:
        with self.db.session() as s:
            row = s.get(LockerKey, k.id)
            locker = s.get(Locker, row.locker_id) if row is not None else None
            state = (
                key_status(now=now, expires_at=row.expires_at, used_at=row.used_at,
                           burnt_at=row.burnt_at, revoked_at=row.revoked_at)
                if row is not None else KeyStatus.REVOKED
            )
        if state is KeyStatus.ACTIVE and locker is not None:
            reason, message = "locker_unavailable", f"locker {number} is not usable now"
        else:
            reason, message = state.value, _STATE_MESSAGES[state]
        self._refuse_open(number, k.customer_id, actor, reason, message, ref=k.ref)

    def _refuse_open(
        self, number: int, customer_id: str | None, actor: str | None, reason: str,
        message: str, ref: str | None = None,
    ) -> NoReturn:
        with self.db.session() as s:
            self._log(s, "locker.open", "refused", actor, number, customer_id,
                      details={"reason": reason, "ref": ref})
        raise KeyRefusedError(message, reason)

    # ==== audit ================================================================================
    def _log(
        self,
        s: Session,
        action: str,
        decision: str,
        actor: str | None,
        number: int | None,
        customer_id: str | None,
        liveness: float | None = None,
        match: float | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        """One audit line and one history event, inside the caller's transaction."""
        d: dict[str, Any] = {"locker": number, "customer": customer_id, **(details or {})}
        if liveness is not None:
            d["liveness_score"] = liveness
        if match is not None:
            d["match_score"] = match
        subject = f"locker:{number}" if number is not None else (
            f"customer:{customer_id}" if customer_id else None
        )
        score = match if match is not None else liveness
        self.audit.record_in(s, AuditEvent(action, decision, actor=actor, subject=subject,
                                           score=score, details=d))
        s.add(LockerEvent(
            at=self.clock(), kind=action.removeprefix("locker."), decision=decision,
            locker_number=number, customer_id=customer_id, actor=actor,
            liveness_score=liveness, match_score=match, details=_jsonable(details or {}),
        ))

    def _record_refusal(
        self, action: str, exc: FaceGateError, actor: str | None, number: int | None,
        customer_id: str | None,
    ) -> None:
        with self.db.session() as s:
            known = (
                number is not None and _find_locker(s, number) is not None
            )
            self._log(s, action, "refused", actor, number if known else None, customer_id,
                      details={"code": exc.code, "message": exc.message,
                               **({} if known else {"locker_requested": number})})


_STATE_MESSAGES = {
    KeyStatus.USED: "this key has already been used; request a new one at the kiosk",
    KeyStatus.EXPIRED: "this key has expired; request a new one at the kiosk",
    KeyStatus.BURNT: "too many wrong entries: the key is burnt, request a new one at the kiosk",
    KeyStatus.REVOKED: "this key was replaced or revoked; use the newest key",
    KeyStatus.ACTIVE: "the key is valid",
}


@dataclass(frozen=True)
class _KeySnapshot:
    id: int
    ref: str
    digest: str
    customer_id: str
    location: str
    expires_at: datetime
    used_at: datetime | None
    burnt_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, s: Session, row: LockerKey, locker: Locker) -> _KeySnapshot:
        return cls(
            id=row.id, ref=row.ref, digest=row.digest,
            customer_id=_customer_id_of(s, row.customer_pk) or "",
            location=locker.location, expires_at=row.expires_at, used_at=row.used_at,
            burnt_at=row.burnt_at, revoked_at=row.revoked_at,
        )


# ---- queries ---------------------------------------------------------------------------------
def _find_locker(s: Session, number: int) -> Locker | None:
    return s.scalars(select(Locker).where(Locker.number == int(number))).first()


def _get_locker(s: Session, number: int) -> Locker:
    locker = _find_locker(s, number)
    if locker is None:
        raise NotFoundError(f"no locker {number}; add it first (facegate locker add {number})")
    return locker


def _find_customer(s: Session, customer_id: str) -> Customer | None:
    return s.scalars(select(Customer).where(Customer.customer_id == customer_id)).first()


def _get_customer(s: Session, customer_id: str) -> Customer:
    customer = _find_customer(s, customer_id)
    if customer is None:
        raise NotFoundError(f"no customer {customer_id}")
    return customer


def _customer_id_of(s: Session, customer_pk: int) -> str | None:
    return s.scalar(select(Customer.customer_id).where(Customer.id == customer_pk))


def _active_assignment(s: Session, locker_id: int) -> Assignment | None:
    return s.scalars(
        select(Assignment).where(Assignment.locker_id == locker_id, Assignment.ended_at.is_(None))
    ).first()


def _held_lockers(s: Session, customer_pk: int) -> list[int]:
    return list(s.scalars(
        select(Locker.number)
        .join(Assignment, and_(Assignment.locker_id == Locker.id, Assignment.ended_at.is_(None)))
        .where(Assignment.customer_pk == customer_pk)
        .order_by(Locker.number)
    ))


def _latest_key(s: Session, locker_id: int) -> LockerKey | None:
    return s.scalars(
        select(LockerKey)
        .where(LockerKey.locker_id == locker_id)
        .order_by(LockerKey.issued_at.desc(), LockerKey.id.desc())
        .limit(1)
    ).first()


def _revoke_keys(
    s: Session, now: datetime, locker_id: int | None = None, customer_pk: int | None = None
) -> int:
    stmt = update(LockerKey).where(
        LockerKey.used_at.is_(None), LockerKey.burnt_at.is_(None), LockerKey.revoked_at.is_(None)
    )
    if locker_id is not None:
        stmt = stmt.where(LockerKey.locker_id == locker_id)
    if customer_pk is not None:
        stmt = stmt.where(LockerKey.customer_pk == customer_pk)
    result = s.execute(stmt.values(revoked_at=now).execution_options(synchronize_session=False))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def _locker_info(s: Session, lk: Locker) -> LockerInfo:
    active = _active_assignment(s, lk.id)
    customer = s.get(Customer, active.customer_pk) if active else None
    return LockerInfo(
        number=lk.number, location=lk.location, size=lk.size, status=lk.status,
        holder=customer.customer_id if customer else None,
        holder_name=customer.name if customer else None,
        assigned_since=active.started_at if active else None,
        block_reason=lk.block_reason,
    )


def _customer_info(s: Session, c: Customer) -> CustomerInfo:
    return CustomerInfo(
        customer_id=c.customer_id, name=c.name, contact=c.contact,
        has_face=c.person_id is not None, lockers=tuple(_held_lockers(s, c.id)),
        created_at=c.created_at,
    )


def _event_info(e: LockerEvent) -> LockerEventInfo:
    return LockerEventInfo(
        id=e.id, at=e.at, kind=e.kind, decision=e.decision, locker=e.locker_number,
        customer_id=e.customer_id, actor=e.actor, liveness_score=e.liveness_score,
        match_score=e.match_score, details=dict(e.details or {}),
    )


# ---- helpers ---------------------------------------------------------------------------------
def _text(value: str | None, what: str, allow_empty: bool = False, limit: int = MAX_TEXT) -> str:
    v = (value or "").strip()
    if not v and not allow_empty:
        raise FaceGateError(f"{what} must not be empty")
    if len(v) > limit:
        raise FaceGateError(f"{what} is longer than {limit} characters")
    return v


def _evenly_spaced(n: int, k: int) -> list[int]:
    """``k`` indices spread over ``range(n)`` (all of them when ``n <= k``)."""
    if n <= k:
        return list(range(n))
    step = n / k
    return sorted({min(n - 1, math.floor(step / 2 + i * step)) for i in range(k)})


def _live_details(live: LivenessOutcome) -> dict[str, Any]:
    return {f"liveness_{k}": v for k, v in live.details.items()}


def _jsonable(value: dict[str, Any]) -> dict[str, Any]:
    """History details as plain JSON (numpy scalars, datetimes and the like become text/numbers)."""
    out: dict[str, Any] = json.loads(json.dumps(value, default=_json_default))
    return out


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def among(result: Identification, people: set[int]) -> Identification:
    """``result`` with only the candidates in ``people``, the best re-chosen among them.

    The kiosk's gallery is its customers: another enrolled identity of the same face (a bank
    employee's web account, say) must neither outvote nor shadow that person's customer record.
    A face like no customer stays unknown: the best remaining candidate must still reach the
    threshold, exactly as if the kiosk's gallery held the customers alone.
    """
    kept = tuple(c for c in result.candidates if c.person_id in people)
    best = kept[0] if kept and kept[0].similarity >= result.threshold else None
    return replace(result, best=best, candidates=kept)
