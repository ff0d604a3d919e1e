"""Request and response bodies of ``/v1/lockers`` (JSON shapes of the locker API)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from facegate.features.lockers.results import (
    AccessResult,
    CustomerInfo,
    LockerEventInfo,
    LockerInfo,
)


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


class ChallengeStateOut(BaseModel):
    id: str
    status: str = Field(description="pending, passed or failed")
    reason: str | None
    steps_done: int
    steps_total: int
    steps: list[str] = Field(default_factory=list, description="Steps revealed so far")
    instruction: str | None = Field(None, description="The step to do now (shown at random moments)")
