"""Opening a locker with its one-time key.

The newest key of the locker is checked (constant time). A right key is consumed by
``UPDATE … SET used_at WHERE used_at IS NULL AND …`` and only the caller whose update changed a row
opens the locker (two simultaneous opens: exactly one wins, whatever the number of processes). A
wrong key increments ``attempts`` in the same kind of conditional update and burns the key at
``max_attempts``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import NoReturn

from sqlalchemy.orm import Session

from facegate.core.errors import FaceGateError
from facegate.features.lockers import repository as repo
from facegate.features.lockers.actuator import ActuatorError, OpenRequest
from facegate.features.lockers.base import LockerBase
from facegate.features.lockers.keys import KeyStatus, key_status, normalize_key
from facegate.features.lockers.models import Locker, LockerKey
from facegate.features.lockers.results import OpenResult
from facegate.features.lockers.rules import KeyRefusedError, check_locker_number

REPLACED_KEYS_CHECKED = 5
REPLACED_MESSAGE = (
    "this key was replaced by a newer one (each new key cancels the earlier ones): use the "
    "newest key; this entry did not count as a wrong attempt"
)

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
            customer_id=repo.customer_id_of(s, row.customer_pk) or "",
            location=locker.location, expires_at=row.expires_at, used_at=row.used_at,
            burnt_at=row.burnt_at, revoked_at=row.revoked_at,
        )


class OpeningMixin(LockerBase):
    def open(self, number: int, typed_key: str, actor: str | None = None) -> OpenResult:
        """Check the key and open the locker; ``KeyRefusedError`` (audited) otherwise."""
        number = check_locker_number(number)
        try:
            key = normalize_key(typed_key, self.policy.digits)
        except FaceGateError as exc:
            self._record_refusal("locker.open", exc, actor, number, None)
            raise
        now = self.clock()
        snapshot = self._snapshot(number)
        if snapshot is None:
            self._refuse_open(number, None, actor, "no_key",
                              f"no key has been issued for locker {number}")
        state = key_status(now=now, expires_at=snapshot.expires_at, used_at=snapshot.used_at,
                           burnt_at=snapshot.burnt_at, revoked_at=snapshot.revoked_at)
        if state is not KeyStatus.ACTIVE:
            self._refuse_open(number, snapshot.customer_id, actor, state.value,
                              _STATE_MESSAGES[state], ref=snapshot.ref)
        right = self.hasher.matches(key, snapshot.digest, ref=snapshot.ref,
                                    customer_id=snapshot.customer_id, locker_number=number)
        if not right:
            replaced = self._replaced_key_ref(key, snapshot, number)
            if replaced is not None:  # an older key of this customer: say so, count nothing
                self._refuse_open(number, snapshot.customer_id, actor, "replaced",
                                  REPLACED_MESSAGE, ref=replaced)
            self._wrong_key(snapshot, number, now, actor)
        if not self._consume(snapshot, number, now, actor):
            self._refuse_after_race(snapshot, number, now, actor)
        self._actuate(snapshot, number, actor)
        return OpenResult(number, snapshot.customer_id, snapshot.ref, now, self.actuator.name)

    def _snapshot(self, number: int) -> _KeySnapshot | None:
        """The newest key of the locker as it is now (None: no locker or no key)."""
        with self.db.session() as s:
            locker = repo.find_locker(s, number)
            row = repo.latest_key(s, locker.id) if locker is not None else None
            return _KeySnapshot.of(s, row, locker) if row is not None and locker else None

    def _actuate(self, k: _KeySnapshot, number: int, actor: str | None) -> None:
        request = OpenRequest(number, k.location, k.customer_id, k.ref)
        try:
            self.actuator.open_locker(request)
        except ActuatorError as exc:
            with self.db.session() as s:
                self._log(s, "locker.open", "error", actor, number, k.customer_id,
                          details={"ref": k.ref, "actuator": self.actuator.name,
                                   "message": exc.message})
            raise
        with self.db.session() as s:
            self._log(s, "locker.open", "opened", actor, number, k.customer_id,
                      details={"ref": k.ref, "actuator": self.actuator.name})

    def _replaced_key_ref(self, key: str, k: _KeySnapshot, number: int) -> str | None:
        """The ref of a recent key of the same customer and locker that a newer key replaced
        (revoked, never used or burnt) and that ``key`` is, or None. A stranger gains nothing:
        only someone who holds an issued key can match one."""
        with self.db.session() as s:
            refs = repo.replaced_key_digests(s, k.id, REPLACED_KEYS_CHECKED)
        for ref, digest in refs:
            if self.hasher.matches(key, digest, ref=ref, customer_id=k.customer_id,
                                   locker_number=number):
                return ref
        return None

    def _consume(self, k: _KeySnapshot, number: int, now: datetime, actor: str | None) -> bool:
        """Mark the key used iff it still is usable; the row count decides who won."""
        with self.db.session(write=True) as s:
            won = repo.consume_key(s, k.id, now)
            if won:
                self._log(s, "locker.key_use", "ok", actor, number, k.customer_id,
                          details={"ref": k.ref})
        return won

    def _wrong_key(
        self, k: _KeySnapshot, number: int, now: datetime, actor: str | None
    ) -> NoReturn:
        with self.db.session(write=True) as s:
            row = repo.count_wrong_key(s, k.id, now)
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
