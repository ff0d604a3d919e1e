"""Bank lockers: kiosk registration, access (liveness → identify → one-time key), opening, admin.

Flows (every decision goes to the audit log and to ``locker_events`` for per-locker/per-customer
history), one module each, all parts of the one ``LockerService``:

* **register** (``registration.py``): customer id + locker number + camera frames; the customer
  row and the assignment are written inside the SAME transaction as the face templates, so a
  taken/blocked locker leaves nothing behind.
* **access** (``access.py``): liveness challenge → the same enrolled customer in most sampled
  frames → active assignment of an unblocked locker → a one-time key (only its HMAC is stored).
* **open** (``opening.py``): locker number + typed key, consumed by a conditional ``UPDATE`` whose
  row count decides who won; wrong keys are counted in the row and burn it at ``max_attempts``.
* **administration** (here): lockers, assignments, blocking, face revocation, history.

The SQL lives in ``repository.py``; the results and options in ``results.py``; what the service
needs from liveness, enrolment and identification in ``ports.py``.
"""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError

from facegate.core.errors import FaceGateError, NotFoundError
from facegate.features.lockers import repository as repo
from facegate.features.lockers.access import AccessMixin, among
from facegate.features.lockers.base import MAX_TEXT, PERSON_PREFIX, check_text
from facegate.features.lockers.models import Locker
from facegate.features.lockers.opening import OpeningMixin, _KeySnapshot
from facegate.features.lockers.ports import (
    ChallengeInfo,
    ChallengeState,
    Enroller,
    Identifier,
    LiveFaceSimilarity,
    LivenessCheck,
    LivenessOutcome,
    SampleCheck,
)
from facegate.features.lockers.registration import RegistrationMixin
from facegate.features.lockers.results import (
    AccessResult,
    CustomerInfo,
    IssuedKey,
    LockerEventInfo,
    LockerInfo,
    LockerOptions,
    OpenResult,
    RegistrationResult,
)
from facegate.features.lockers.rules import (
    KeyRefusedError,
    LockerStatus,
    LockerUnavailableError,
    check_locker_number,
    check_releasable,
    check_size,
    status_after_release,
    status_after_unblock,
)

__all__ = [
    "MAX_TEXT",
    "PERSON_PREFIX",
    "AccessResult",
    "ChallengeInfo",
    "ChallengeState",
    "CustomerInfo",
    "Enroller",
    "Identifier",
    "IssuedKey",
    "KeyRefusedError",
    "LiveFaceSimilarity",
    "LivenessCheck",
    "LivenessOutcome",
    "LockerEventInfo",
    "LockerInfo",
    "LockerOptions",
    "LockerService",
    "OpenResult",
    "RegistrationResult",
    "SampleCheck",
    "_KeySnapshot",
    "among",
]


class LockerService(RegistrationMixin, AccessMixin, OpeningMixin):
    """The lockers' one service: administration here, the kiosk flows in the mixins."""

    def add_locker(
        self, number: int, location: str = "", size: str = "M", actor: str | None = None
    ) -> LockerInfo:
        number = check_locker_number(number)
        size = check_size(size)
        location = check_text(location, "location", allow_empty=True)
        now = self.clock()
        try:
            with self.db.session(write=True) as s:
                if repo.find_locker(s, number) is not None:
                    raise FaceGateError(f"locker {number} already exists")
                s.add(Locker(number=number, location=location, size=size,
                             status=LockerStatus.FREE.value, created_at=now, updated_at=now))
                s.flush()
                self._log(s, "locker.add", "ok", actor, number, None,
                          details={"location": location, "size": size})
        except IntegrityError:
            raise FaceGateError(f"locker {number} already exists") from None
        return self.get_locker(number)

    def list_lockers(self) -> list[LockerInfo]:
        with self.db.session() as s:
            return [repo.locker_info(s, lk) for lk in repo.all_lockers(s)]

    def list_customers(self) -> list[CustomerInfo]:
        with self.db.session() as s:
            return [repo.customer_info(s, c) for c in repo.all_customers(s)]

    def assign(self, number: int, customer_id: str, actor: str | None = None) -> LockerInfo:
        """Give a free locker to an existing customer."""
        try:
            with self.db.session(write=True) as s:
                locker = repo.get_locker(s, number)
                customer = repo.get_customer(s, customer_id)
                self._assign_in(s, locker, customer)
                self._log(s, "locker.assign", "ok", actor, number, customer.customer_id)
        except LockerUnavailableError as exc:
            self._record_refusal("locker.assign", exc, actor, number, customer_id)
            raise
        return self.get_locker(number)

    def release(self, number: int, actor: str | None = None) -> LockerInfo:
        """End the locker's assignment (its unused keys are revoked)."""
        with self.db.session(write=True) as s:
            locker = repo.get_locker(s, number)
            active, holder = repo.holder_of(s, locker)
            check_releasable(number, holder)
            assert active is not None
            now = self.clock()
            active.ended_at = now
            locker.status = status_after_release(LockerStatus(locker.status)).value
            locker.updated_at = now
            repo.revoke_keys(s, now, locker_id=locker.id)
            self._log(s, "locker.release", "ok", actor, number, holder)
        return self.get_locker(number)

    def block(self, number: int, reason: str = "", actor: str | None = None) -> LockerInfo:
        reason = check_text(reason, "reason", allow_empty=True, limit=500)
        with self.db.session(write=True) as s:
            locker = repo.get_locker(s, number)
            now = self.clock()
            locker.status = LockerStatus.BLOCKED.value
            locker.block_reason = reason or None
            locker.updated_at = now
            repo.revoke_keys(s, now, locker_id=locker.id)
            self._log(s, "locker.block", "ok", actor, number, None, details={"reason": reason})
        return self.get_locker(number)

    def unblock(self, number: int, actor: str | None = None) -> LockerInfo:
        with self.db.session(write=True) as s:
            locker = repo.get_locker(s, number)
            if locker.status != LockerStatus.BLOCKED.value:
                raise LockerUnavailableError(f"locker {number} is not blocked")
            _active, holder = repo.holder_of(s, locker)
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
            customer = repo.get_customer(s, customer_id)
            person_ext = repo.person_external_id(s, customer.person_id)
        if person_ext is None:
            raise NotFoundError(f"customer {customer_id} has no face data")
        self.enroller.remove_person(person_ext, actor=actor)
        with self.db.session(write=True) as s:
            customer = repo.get_customer(s, customer_id)
            now = self.clock()
            customer.person_id = None
            customer.face_revoked_at = now
            revoked = repo.revoke_keys(s, now, customer_pk=customer.id)
            self._log(s, "locker.revoke", "ok", actor, None, customer_id,
                      details={"person": person_ext, "keys_revoked": revoked})
        return self.get_customer(customer_id)

    def history(
        self, locker: int | None = None, customer_id: str | None = None, limit: int = 100
    ) -> list[LockerEventInfo]:
        """Access history, newest first, of one locker and/or one customer (or everything)."""
        with self.db.session() as s:
            if locker is not None:
                repo.get_locker(s, locker)
            if customer_id is not None:
                repo.get_customer(s, customer_id)
            return [repo.event_info(e) for e in repo.events(s, locker, customer_id, limit)]
