"""What the locker service returns (plain frozen dataclasses) and its options."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from facegate.features.lockers.keys import KeyPolicy


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



@dataclass(frozen=True)
class LockerOptions:
    policy: KeyPolicy = field(default_factory=KeyPolicy)
    enroll_samples: int = 5  # accepted frames that become the template
    enroll_candidates: int = 24  # frames (evenly spaced) checked by the quality gate
    identify_frames: int = 5  # frames (evenly spaced) identified per access

