"""``AuditLog``: append every access decision (``facegate.core.domain.AuditEvent``) and query them.

Every flow (enrol, verify, identify, stream, login, lockers, votes) writes through ``record``;
``record_in`` adds the line inside a caller's transaction when it must commit or fail together.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from facegate.core.domain import AuditEvent
from facegate.core.store import audit_chain
from facegate.core.store.db import Database, utcnow
from facegate.core.store.models import AuditRecord

# The address of the client whose request is being served (set per request by the app's
# middleware); recorded on every audit line that does not name its own client.
current_client: ContextVar[str | None] = ContextVar("facegate_audit_client", default=None)


class Auditor(Protocol):
    """Anything that records an audit event (``AuditLog``; a list in tests)."""

    def record(self, event: AuditEvent) -> object: ...


@dataclass(frozen=True)
class AuditEntry:
    """One stored audit line (an ``AuditEvent`` plus its id and time)."""

    id: int
    at: datetime
    action: str
    decision: str
    actor: str | None
    subject: str | None
    score: float | None
    details: dict[str, Any] = field(default_factory=dict)
    client: str | None = None


@dataclass(frozen=True)
class AuditQuery:
    """Filters for ``AuditLog.query``; ``None`` means "any". Times are inclusive/exclusive."""

    action: str | None = None
    subject: str | None = None
    decision: str | None = None
    actor: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 100


class AuditLog:
    def __init__(self, db: Database) -> None:
        self.db = db

    def record(self, event: AuditEvent) -> AuditEntry:
        """Append one event in its own transaction and return the stored line."""
        with self.db.session(write=True) as s:
            row = self.record_in(s, event)
            s.flush()
            return _entry(row)

    def record_in(self, session: Session, event: AuditEvent) -> AuditRecord:
        """Append one event inside ``session`` (committed or rolled back with it), chained to the
        previous line (``facegate.core.store.audit_chain``)."""
        row = AuditRecord(
            at=utcnow(),
            actor=event.actor,
            action=event.action,
            subject=event.subject,
            decision=event.decision,
            score=None if event.score is None else float(event.score),
            details=jsonable(event.details),
            client=(event.client or current_client.get() or None),
        )
        if row.client:
            row.client = row.client[:64]
        return audit_chain.append(session, row)

    def latest(self, n: int = 50) -> list[AuditEntry]:
        return self.query(AuditQuery(limit=n))

    def query(self, q: AuditQuery | None = None) -> list[AuditEntry]:
        """Newest first, filtered by action/subject/decision/actor and ``since <= at < until``."""
        q = q or AuditQuery()
        with self.db.session() as s:
            rows = s.scalars(_select(q)).all()
            return [_entry(r) for r in rows]

    def count(self, q: AuditQuery | None = None) -> int:
        from sqlalchemy import func

        q = q or AuditQuery()
        stmt = _select(q).with_only_columns(func.count()).order_by(None).limit(None)
        with self.db.session() as s:
            return int(s.scalar(stmt) or 0)


def _select(q: AuditQuery) -> Select[AuditRecord]:
    stmt = select(AuditRecord)
    if q.action is not None:
        stmt = stmt.where(AuditRecord.action == q.action)
    if q.subject is not None:
        stmt = stmt.where(AuditRecord.subject == q.subject)
    if q.decision is not None:
        stmt = stmt.where(AuditRecord.decision == q.decision)
    if q.actor is not None:
        stmt = stmt.where(AuditRecord.actor == q.actor)
    if q.since is not None:
        stmt = stmt.where(AuditRecord.at >= q.since)
    if q.until is not None:
        stmt = stmt.where(AuditRecord.at < q.until)
    return stmt.order_by(AuditRecord.at.desc(), AuditRecord.id.desc()).limit(max(q.limit, 0))


def _entry(r: AuditRecord) -> AuditEntry:
    return AuditEntry(
        id=r.id,
        at=r.at,
        action=r.action,
        decision=r.decision,
        actor=r.actor,
        subject=r.subject,
        score=r.score,
        details=dict(r.details or {}),
        client=r.client,
    )


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON: numpy scalars/arrays, tuples, sets, datetimes and other objects
    are converted (audit and history details)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def entries_as_dicts(entries: Sequence[AuditEntry]) -> list[dict[str, Any]]:
    return [
        {
            "id": e.id,
            "at": e.at.isoformat(),
            "action": e.action,
            "decision": e.decision,
            "actor": e.actor,
            "subject": e.subject,
            "score": e.score,
            "details": e.details,
            "client": e.client,
        }
        for e in entries
    ]
