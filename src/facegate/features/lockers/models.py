"""Bank-locker tables: customers, lockers, assignments, one-time keys (hashed), access events.

Migration: ``versions/0005_lockers.py``. Guarantees kept by the database itself:

* one active assignment per locker: unique index on ``locker_assignments.locker_id`` where
  ``ended_at IS NULL``;
* a key is used at most once: it is consumed by a conditional ``UPDATE … WHERE used_at IS NULL``
  whose row count says who won (see ``facegate.features.lockers.repository.consume_key``);
* wrong-key attempts are counted in ``locker_keys.attempts`` (not in a process's memory).

Keys are stored only as HMAC-SHA256 (``digest``); see ``facegate.features.lockers.keys``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from facegate.core.store.db import Base, utcnow


class Customer(Base):
    __tablename__ = "locker_customers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(200), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    contact: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # the store person holding the face templates; NULL after the face data was revoked
    person_id: Mapped[int | None] = mapped_column(
        ForeignKey("people.id", ondelete="SET NULL"), nullable=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    face_revoked_at: Mapped[datetime | None] = mapped_column(nullable=True, default=None)


class Locker(Base):
    __tablename__ = "lockers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[int] = mapped_column(Integer, unique=True)
    location: Mapped[str] = mapped_column(String(200), default="")
    size: Mapped[str] = mapped_column(String(8), default="M")
    status: Mapped[str] = mapped_column(String(16), default="free")  # free | assigned | blocked
    block_reason: Mapped[str | None] = mapped_column(String(500), nullable=True, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Assignment(Base):
    __tablename__ = "locker_assignments"
    __table_args__ = (
        Index(
            "uq_locker_assignments_active",
            "locker_id",
            unique=True,
            sqlite_where=text("ended_at IS NULL"),
            postgresql_where=text("ended_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    locker_id: Mapped[int] = mapped_column(ForeignKey("lockers.id", ondelete="CASCADE"), index=True)
    customer_pk: Mapped[int] = mapped_column(
        ForeignKey("locker_customers.id", ondelete="CASCADE"), index=True
    )
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(nullable=True, default=None)


class LockerKey(Base):
    __tablename__ = "locker_keys"
    __table_args__ = (Index("ix_locker_keys_locker_issued", "locker_id", "issued_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ref: Mapped[str] = mapped_column(String(32), unique=True)
    locker_id: Mapped[int] = mapped_column(ForeignKey("lockers.id", ondelete="CASCADE"))
    customer_pk: Mapped[int] = mapped_column(
        ForeignKey("locker_customers.id", ondelete="CASCADE"), index=True
    )
    assignment_id: Mapped[int] = mapped_column(
        ForeignKey("locker_assignments.id", ondelete="CASCADE")
    )
    digest: Mapped[str] = mapped_column(String(64))  # HMAC-SHA256 hex; the key itself is never kept
    issued_at: Mapped[datetime] = mapped_column()
    expires_at: Mapped[datetime] = mapped_column()
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer)
    used_at: Mapped[datetime | None] = mapped_column(nullable=True, default=None)
    burnt_at: Mapped[datetime | None] = mapped_column(nullable=True, default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(nullable=True, default=None)


class LockerEvent(Base):
    """Access history per locker and per customer (the audit log has the same decisions)."""

    __tablename__ = "locker_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    kind: Mapped[str] = mapped_column(String(32))
    decision: Mapped[str] = mapped_column(String(32))
    locker_number: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    customer_id: Mapped[str | None] = mapped_column(String(200), nullable=True, index=True)
    actor: Mapped[str | None] = mapped_column(String(200), nullable=True)
    liveness_score: Mapped[float | None] = mapped_column(nullable=True)
    match_score: Mapped[float | None] = mapped_column(nullable=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
