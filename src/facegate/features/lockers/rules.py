"""Locker state rules (pure): which status changes are allowed and what they lead to.

A locker is ``free`` (no holder), ``assigned`` (one active assignment) or ``blocked`` (closed by
the bank, with or without a holder: blocking does not end an assignment; unblocking returns to
``assigned`` or ``free`` depending on it). Only an ``assigned`` locker can be accessed or opened.
The database backs the "one holder" rule with a unique index on the active assignment.
"""

from __future__ import annotations

from enum import StrEnum

from facegate.core.errors import ConflictError, FaceGateError, PermissionDeniedError

LOCKER_SIZES = ("S", "M", "L", "XL")
MAX_LOCKER_NUMBER = 1_000_000


class LockerStatus(StrEnum):
    FREE = "free"
    ASSIGNED = "assigned"
    BLOCKED = "blocked"


class LockerUnavailableError(ConflictError):
    """The locker cannot be used for this (taken, blocked, not assigned)."""

    code = "locker_unavailable"


class KeyRefusedError(PermissionDeniedError):
    """The key does not open the locker; ``reason``: wrong, used, expired, burnt, no_key."""

    code = "key_refused"

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason



def check_locker_number(number: int) -> int:
    if not 1 <= int(number) <= MAX_LOCKER_NUMBER:
        raise FaceGateError(f"locker number must be between 1 and {MAX_LOCKER_NUMBER}")
    return int(number)


def check_size(size: str) -> str:
    value = size.strip().upper()
    if value not in LOCKER_SIZES:
        raise FaceGateError(f"locker size must be one of {', '.join(LOCKER_SIZES)}")
    return value


def check_assignable(number: int, status: LockerStatus, holder: str | None) -> None:
    """A locker can be given to a customer only when it is free."""
    if status is LockerStatus.BLOCKED:
        raise LockerUnavailableError(f"locker {number} is blocked; unblock it before assigning it")
    if status is LockerStatus.ASSIGNED or holder is not None:
        who = f" (held by customer {holder})" if holder else ""
        raise LockerUnavailableError(
            f"locker {number} is already assigned{who}; release it first or choose a free locker"
        )


def check_releasable(number: int, holder: str | None) -> None:
    if holder is None:
        raise LockerUnavailableError(f"locker {number} is not assigned to anyone")


def check_usable(number: int, status: LockerStatus, holder: str | None) -> None:
    """Access and opening need an assigned, unblocked locker."""
    if status is LockerStatus.BLOCKED:
        raise LockerUnavailableError(f"locker {number} is blocked")
    if holder is None or status is not LockerStatus.ASSIGNED:
        raise LockerUnavailableError(f"locker {number} is not assigned to anyone")


def status_after_unblock(holder: str | None) -> LockerStatus:
    return LockerStatus.ASSIGNED if holder is not None else LockerStatus.FREE


def status_after_release(status: LockerStatus) -> LockerStatus:
    """Releasing ends the assignment; a blocked locker stays blocked."""
    return LockerStatus.BLOCKED if status is LockerStatus.BLOCKED else LockerStatus.FREE


def status_after_assign() -> LockerStatus:
    return LockerStatus.ASSIGNED
