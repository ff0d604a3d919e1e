"""Liveness challenge sessions (``liveness_sessions``) and ``SqlLivenessStore``.

Migrations: ``versions/0002_liveness.py``, ``0011_liveness_paced.py`` (mode, pacing).
A row holds the challenge (nonce, steps, limits), every
frame measurement received so far, the sampled embeddings of the session's face (encrypted with
the template cipher when one is configured) and, once passed, the mean embedding the session is
bound to. ``version`` is an optimistic lock: two server processes adding frames to the same
session at once cannot both win.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, LargeBinary, String, Text, delete, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from facegate.core.errors import ConflictError, NotFoundError
from facegate.core.store.db import Base, Database, utcnow


class LivenessSessionRecord(Base):
    __tablename__ = "liveness_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(128))
    steps: Mapped[list[str]] = mapped_column(JSON)
    limits: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), index=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    person_id: Mapped[int | None] = mapped_column(
        ForeignKey("people.id", ondelete="SET NULL"), nullable=True
    )
    actor: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    decided_at: Mapped[datetime | None] = mapped_column(nullable=True)
    consumed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    frame_count: Mapped[int] = mapped_column(Integer, default=0)
    last_timestamp_ms: Mapped[int | None] = mapped_column(Integer, nullable=True)
    frames: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    samples: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    evidence: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    embedding_model: Mapped[str | None] = mapped_column(String(64), nullable=True)
    key_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    sample_blob: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    mean_blob: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    # "paced" (live, server-paced: may authenticate) or "offline" (a recording: never accepted)
    mode: Mapped[str] = mapped_column(String(16), default="offline", server_default="offline")
    pacing: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class SqlLivenessStore:
    """Load / save session rows. ``save`` refuses a row changed by someone else meanwhile."""

    def __init__(self, db: Database, keep_expired_s: float = 3600.0) -> None:
        self.db = db
        self.keep_expired_s = keep_expired_s

    def insert(self, row: LivenessSessionRecord) -> None:
        """Add a session; in the same transaction, delete sessions that expired more than
        ``keep_expired_s`` ago (any worker may: the delete is idempotent), so the table holds
        only recent challenges however many are opened."""
        with self.db.session(write=True) as s:
            self._purge_in(s, row.created_at or utcnow())
            s.add(row)

    def purge_expired(self, now: datetime | None = None) -> int:
        """Delete sessions that expired more than ``keep_expired_s`` ago; the number deleted."""
        with self.db.session(write=True) as s:
            return self._purge_in(s, now or utcnow())

    def _purge_in(self, s: Session, now: datetime) -> int:
        cutoff = now - timedelta(seconds=self.keep_expired_s)
        result = s.execute(
            delete(LivenessSessionRecord).where(LivenessSessionRecord.expires_at < cutoff)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    def load(self, session_id: str) -> LivenessSessionRecord:
        with self.db.session() as s:
            row = s.get(LivenessSessionRecord, session_id)
            if row is None:
                raise NotFoundError(f"liveness session '{session_id}' not found")
            s.expunge(row)
            return row

    def update(self, session_id: str, expected_version: int, values: dict[str, Any]) -> None:
        """Write ``values`` if the row still has ``expected_version`` (then bump it)."""
        with self.db.session(write=True) as s:
            self._update_in(s, session_id, expected_version, values)

    def modify(
        self,
        session_id: str,
        change: Callable[[LivenessSessionRecord], dict[str, Any] | None],
    ) -> LivenessSessionRecord:
        """Read the row and write ``change(row)``'s values in one write transaction.

        ``change`` may raise to abort (nothing is written) or return None to write nothing.
        Returns the row as it is after the change.
        """
        with self.db.session(write=True) as s:
            row = s.execute(
                select(LivenessSessionRecord).where(LivenessSessionRecord.id == session_id)
            ).scalar_one_or_none()
            if row is None:
                raise NotFoundError(f"liveness session '{session_id}' not found")
            values = change(row)
            if values:
                self._update_in(s, session_id, row.version, values)
                s.refresh(row)
            s.expunge(row)
            return row

    @staticmethod
    def _update_in(s: Session, session_id: str, expected_version: int, values: dict[str, Any]) -> None:
        result = s.execute(
            update(LivenessSessionRecord)
            .where(
                LivenessSessionRecord.id == session_id,
                LivenessSessionRecord.version == expected_version,
            )
            .values(**values, version=expected_version + 1)
            .execution_options(synchronize_session=False)
        )
        if getattr(result, "rowcount", 0) != 1:
            raise ConflictError(
                f"liveness session '{session_id}' was changed by another request; retry"
            )
