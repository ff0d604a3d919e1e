"""The audit log's hash chain: each row stores the previous row's hash and the hash of its own
content chained to it, so editing, deleting or reordering rows is noticed by ``verify_chain``.

``row_hash = SHA-256(prev_hash + "\\n" + canonical JSON of (at, actor, client, action, subject,
decision, score, details))``; the first row chains to ``GENESIS``. ``append`` runs inside the
writer's transaction and first updates the single ``audit_chain_head`` row: that takes a row lock
on PostgreSQL and the write lock on SQLite, so concurrent writers (threads or processes) append
one after the other and never fork the chain. The head also records the last row, so rows cut off
the end are noticed too. A hash chain in the same database proves integrity against edits made
without recomputing every later hash; copy the head hash elsewhere (``facegate audit verify``
prints it) to pin it against an attacker who can rewrite the whole table.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from facegate.core.store.db import Database
from facegate.core.store.models import AuditChainHead, AuditRecord

GENESIS = "0" * 64
HEAD_ID = 1


def _at(value: datetime) -> str:
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(timespec="microseconds")


def row_content(r: AuditRecord) -> str:
    """The canonical text of a row's content (what its hash covers)."""
    return json.dumps(
        {"at": _at(r.at), "actor": r.actor, "client": r.client, "action": r.action,
         "subject": r.subject, "decision": r.decision,
         "score": None if r.score is None else float(r.score), "details": r.details or {}},
        sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=True,
    )


def chain_hash(prev_hash: str, r: AuditRecord) -> str:
    return hashlib.sha256(f"{prev_hash}\n{row_content(r)}".encode()).hexdigest()


def ensure_head(session: Session) -> None:
    """Create the head row (the migration does; tables made by ``create_all`` lack it)."""
    if session.get(AuditChainHead, HEAD_ID) is None:
        try:
            with session.begin_nested():  # another writer may create it at the same moment
                session.add(AuditChainHead(id=HEAD_ID, last_id=None, last_hash=GENESIS, count=0))
        except IntegrityError:
            pass


def append(session: Session, row: AuditRecord) -> AuditRecord:
    """Chain ``row`` to the log inside ``session``'s transaction (serialised by the head row)."""
    bumped = session.execute(
        update(AuditChainHead).where(AuditChainHead.id == HEAD_ID)
        .values(count=AuditChainHead.count + 1)
        .execution_options(synchronize_session=False)
    )
    if bumped.rowcount == 0:  # type: ignore[attr-defined]  # a store older than the chain
        ensure_head(session)
        return append(session, row)
    head = session.scalars(
        select(AuditChainHead).where(AuditChainHead.id == HEAD_ID)
        .execution_options(populate_existing=True)
    ).one()
    row.prev_hash = head.last_hash
    row.row_hash = chain_hash(head.last_hash, row)
    session.add(row)
    session.flush()  # assigns row.id
    head.last_id, head.last_hash = row.id, row.row_hash
    return row


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    rows: int
    head_hash: str
    broken_id: int | None = None
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "rows": self.rows, "head_hash": self.head_hash,
                "broken_id": self.broken_id, "reason": self.reason}


def verify_chain(db: Database, batch: int = 1000) -> ChainReport:
    """Walk the log in id order; the first row whose link or content does not match, if any."""
    prev, n, last_id = GENESIS, 0, None
    with db.session() as s:
        head = s.get(AuditChainHead, HEAD_ID)
        after = 0
        while True:
            rows = s.scalars(
                select(AuditRecord).where(AuditRecord.id > after).order_by(AuditRecord.id).limit(batch)
            ).all()
            if not rows:
                break
            for r in rows:
                if r.prev_hash != prev:
                    why = "previous-hash mismatch (a row before it was deleted, or its link edited)"
                    return ChainReport(False, n, prev, r.id, f"row {r.id}: {why}")
                if r.row_hash != chain_hash(prev, r):
                    why = "its content does not match its hash (the row was edited)"
                    return ChainReport(False, n, prev, r.id, f"row {r.id}: {why}")
                prev, n, last_id = r.row_hash, n + 1, r.id
            after = rows[-1].id
            s.expunge_all()
        if head is not None and (head.last_id != last_id or head.last_hash != prev):
            return ChainReport(False, n, prev, head.last_id,
                               f"the log ends at row {last_id} but the chain head says row "
                               f"{head.last_id}: rows were removed from the end")
    return ChainReport(True, n, prev)
