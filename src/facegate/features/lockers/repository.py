"""The lockers' SQL: every query and conditional update, each inside the caller's session.

The service opens the transactions (``Database.session``) and decides; these functions only read
and write rows, so one transaction can hold several of them (registration: customer, assignment
and face templates commit together).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, exists, select, update
from sqlalchemy.orm import Session

from facegate.core.errors import NotFoundError
from facegate.core.store.models import Person
from facegate.features.lockers.models import Assignment, Customer, Locker, LockerEvent, LockerKey
from facegate.features.lockers.results import CustomerInfo, LockerEventInfo, LockerInfo
from facegate.features.lockers.rules import LockerStatus


# ---- lockers and customers -------------------------------------------------------------------
def find_locker(s: Session, number: int) -> Locker | None:
    return s.scalars(select(Locker).where(Locker.number == int(number))).first()


def get_locker(s: Session, number: int) -> Locker:
    locker = find_locker(s, number)
    if locker is None:
        raise NotFoundError(f"no locker {number}; add it first (facegate locker add {number})")
    return locker


def all_lockers(s: Session) -> list[Locker]:
    return list(s.scalars(select(Locker).order_by(Locker.number)))


def find_customer(s: Session, customer_id: str) -> Customer | None:
    return s.scalars(select(Customer).where(Customer.customer_id == customer_id)).first()


def get_customer(s: Session, customer_id: str) -> Customer:
    customer = find_customer(s, customer_id)
    if customer is None:
        raise NotFoundError(f"no customer {customer_id}")
    return customer


def all_customers(s: Session) -> list[Customer]:
    return list(s.scalars(select(Customer).order_by(Customer.customer_id)))


def customer_of_person(s: Session, person_id: int) -> Customer | None:
    return s.scalars(select(Customer).where(Customer.person_id == person_id)).first()


def customer_person_ids(s: Session) -> set[int]:
    """Store people ids of the customers who have face data (the kiosk's gallery)."""
    return {p for p in s.scalars(select(Customer.person_id)) if p is not None}


def person_external_id(s: Session, person_id: int | None) -> str | None:
    person = s.get(Person, person_id) if person_id is not None else None
    return person.external_id if person is not None else None


def customer_id_of(s: Session, customer_pk: int) -> str | None:
    return s.scalar(select(Customer.customer_id).where(Customer.id == customer_pk))


# ---- assignments -----------------------------------------------------------------------------
def active_assignment(s: Session, locker_id: int) -> Assignment | None:
    return s.scalars(
        select(Assignment).where(Assignment.locker_id == locker_id, Assignment.ended_at.is_(None))
    ).first()


def holder_of(s: Session, locker: Locker) -> tuple[Assignment | None, str | None]:
    """The locker's active assignment and its customer id (None, None when free)."""
    active = active_assignment(s, locker.id)
    return active, customer_id_of(s, active.customer_pk) if active else None


def held_lockers(s: Session, customer_pk: int) -> list[int]:
    return list(s.scalars(
        select(Locker.number)
        .join(Assignment, and_(Assignment.locker_id == Locker.id, Assignment.ended_at.is_(None)))
        .where(Assignment.customer_pk == customer_pk)
        .order_by(Locker.number)
    ))


# ---- keys ------------------------------------------------------------------------------------
def latest_key(s: Session, locker_id: int) -> LockerKey | None:
    return s.scalars(
        select(LockerKey)
        .where(LockerKey.locker_id == locker_id)
        .order_by(LockerKey.issued_at.desc(), LockerKey.id.desc())
        .limit(1)
    ).first()


def revoke_keys(
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


def consume_key(s: Session, key_id: int, now: datetime) -> bool:
    """Mark the key used iff it still is usable; True when this call's update changed the row."""
    assignment_active = exists().where(
        Assignment.id == LockerKey.assignment_id, Assignment.ended_at.is_(None)
    )
    locker_usable = exists().where(
        Locker.id == LockerKey.locker_id, Locker.status == LockerStatus.ASSIGNED.value
    )
    result = s.execute(
        update(LockerKey)
        .where(
            LockerKey.id == key_id,
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
    return int(result.rowcount or 0) == 1  # type: ignore[attr-defined]


def count_wrong_key(s: Session, key_id: int, now: datetime) -> LockerKey:
    """One more wrong entry on the key (burnt at ``max_attempts``); the row as it is now."""
    s.execute(
        update(LockerKey)
        .where(LockerKey.id == key_id, LockerKey.used_at.is_(None),
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
    row = s.get(LockerKey, key_id)
    assert row is not None
    s.refresh(row)
    return row


# ---- history ---------------------------------------------------------------------------------
def events(
    s: Session, locker: int | None, customer_id: str | None, limit: int
) -> list[LockerEvent]:
    stmt = select(LockerEvent)
    if locker is not None:
        stmt = stmt.where(LockerEvent.locker_number == locker)
    if customer_id is not None:
        stmt = stmt.where(LockerEvent.customer_id == customer_id)
    stmt = stmt.order_by(LockerEvent.at.desc(), LockerEvent.id.desc()).limit(max(limit, 0))
    return list(s.scalars(stmt))


def add_event(s: Session, **values: Any) -> None:
    s.add(LockerEvent(**values))


# ---- rows → results --------------------------------------------------------------------------
def locker_info(s: Session, lk: Locker) -> LockerInfo:
    active = active_assignment(s, lk.id)
    customer = s.get(Customer, active.customer_pk) if active else None
    return LockerInfo(
        number=lk.number, location=lk.location, size=lk.size, status=lk.status,
        holder=customer.customer_id if customer else None,
        holder_name=customer.name if customer else None,
        assigned_since=active.started_at if active else None,
        block_reason=lk.block_reason,
    )


def customer_info(s: Session, c: Customer) -> CustomerInfo:
    return CustomerInfo(
        customer_id=c.customer_id, name=c.name, contact=c.contact,
        has_face=c.person_id is not None, lockers=tuple(held_lockers(s, c.id)),
        created_at=c.created_at,
    )


def event_info(e: LockerEvent) -> LockerEventInfo:
    return LockerEventInfo(
        id=e.id, at=e.at, kind=e.kind, decision=e.decision, locker=e.locker_number,
        customer_id=e.customer_id, actor=e.actor, liveness_score=e.liveness_score,
        match_score=e.match_score, details=dict(e.details or {}),
    )


def replaced_key_digests(s: Session, key_id: int, limit: int) -> list[tuple[str, str]]:
    """(ref, digest) of the newest keys of the same customer and locker that a newer key replaced
    (revoked, never used nor burnt), newest first."""
    latest = s.get(LockerKey, key_id)
    if latest is None:
        return []
    older = s.scalars(
        select(LockerKey)
        .where(LockerKey.locker_id == latest.locker_id, LockerKey.id != latest.id,
               LockerKey.customer_pk == latest.customer_pk,
               LockerKey.revoked_at.is_not(None), LockerKey.used_at.is_(None),
               LockerKey.burnt_at.is_(None))
        .order_by(LockerKey.issued_at.desc(), LockerKey.id.desc())
        .limit(limit)
    ).all()
    return [(row.ref, row.digest) for row in older]
