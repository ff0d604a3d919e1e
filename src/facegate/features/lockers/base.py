"""What every part of the locker service shares: its dependencies, the audit/history line, the
assignment step and the small text helpers.

``LockerService`` (``service.py``) is this base plus the registration, access and opening parts
(``registration.py``, ``access.py``, ``opening.py``): one object, so a test or the container can
replace a dependency (``clock``, ``identify``) once for every flow.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from facegate.core.domain import AuditEvent
from facegate.core.errors import FaceGateError
from facegate.core.store.audit import AuditLog, jsonable
from facegate.core.store.db import Database
from facegate.features.lockers import repository as repo
from facegate.features.lockers.actuator import LockerActuator
from facegate.features.lockers.keys import Clock, KeyHasher, KeyPolicy, utc_clock
from facegate.features.lockers.models import Assignment, Customer, Locker
from facegate.features.lockers.ports import (
    Enroller,
    Identifier,
    LiveFaceSimilarity,
    LivenessCheck,
    LivenessOutcome,
)
from facegate.features.lockers.results import CustomerInfo, LockerInfo, LockerOptions
from facegate.features.lockers.rules import (
    LockerStatus,
    LockerUnavailableError,
    check_assignable,
    status_after_assign,
)

MAX_TEXT = 200
PERSON_PREFIX = "customer:"
"""Store people of locker customers are ``customer:<customer id>`` (never merged with staff)."""


class LockerBase:
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

    def get_locker(self, number: int) -> LockerInfo:
        with self.db.session() as s:
            return repo.locker_info(s, repo.get_locker(s, number))

    def get_customer(self, customer_id: str) -> CustomerInfo:
        with self.db.session() as s:
            return repo.customer_info(s, repo.get_customer(s, customer_id))

    def _assign_in(self, s: Session, locker: Locker, customer: Customer) -> None:
        _active, holder = repo.holder_of(s, locker)
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
        repo.add_event(
            s, at=self.clock(), kind=action.removeprefix("locker."), decision=decision,
            locker_number=number, customer_id=customer_id, actor=actor,
            liveness_score=liveness, match_score=match, details=jsonable(details or {}),
        )

    def _record_refusal(
        self, action: str, exc: FaceGateError, actor: str | None, number: int | None,
        customer_id: str | None,
    ) -> None:
        with self.db.session() as s:
            known = (
                number is not None and repo.find_locker(s, number) is not None
            )
            self._log(s, action, "refused", actor, number if known else None, customer_id,
                      details={"code": exc.code, "message": exc.message,
                               **({} if known else {"locker_requested": number})})


# ---- helpers ---------------------------------------------------------------------------------
def check_text(
    value: str | None, what: str, allow_empty: bool = False, limit: int = MAX_TEXT
) -> str:
    v = (value or "").strip()
    if not v and not allow_empty:
        raise FaceGateError(f"{what} must not be empty")
    if len(v) > limit:
        raise FaceGateError(f"{what} is longer than {limit} characters")
    return v


def evenly_spaced(n: int, k: int) -> list[int]:
    """``k`` indices spread over ``range(n)`` (all of them when ``n <= k``)."""
    if n <= k:
        return list(range(n))
    step = n / k
    return sorted({min(n - 1, math.floor(step / 2 + i * step)) for i in range(k)})


def live_details(live: LivenessOutcome) -> dict[str, Any]:
    return {f"liveness_{k}": v for k, v in live.details.items()}
