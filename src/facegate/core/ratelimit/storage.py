"""A ``limits`` storage on our database: fixed-window counters in the ``rate_limits`` table.

``incr`` is ONE statement (``INSERT … ON CONFLICT DO UPDATE … RETURNING``, SQLite ≥ 3.35 and
PostgreSQL): a new or expired window restarts at ``amount``, a live one adds to it, so concurrent
workers never lose a hit. Expired rows are deleted on write, about once per ``purge_every`` writes
(any worker may do it; the delete is idempotent), and by ``purge()``.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from limits.storage import Storage
from sqlalchemy import Connection, Table, delete, select, text
from sqlalchemy.exc import SQLAlchemyError

from facegate.core.ratelimit.models import RateLimitCounter
from facegate.core.store.db import Database

Clock = Callable[[], float]
_T: Table = RateLimitCounter.__table__  # type: ignore[assignment]
# the same upsert on SQLite (>= 3.35) and PostgreSQL: a live window adds, an expired one restarts
_UPSERT = text(
    'INSERT INTO rate_limits ("key", hits, expires_at) VALUES (:key, :amount, :exp) '
    'ON CONFLICT ("key") DO UPDATE SET '
    "hits = CASE WHEN rate_limits.expires_at > :now THEN rate_limits.hits + :amount "
    "ELSE :amount END, "
    "expires_at = CASE WHEN rate_limits.expires_at > :now THEN rate_limits.expires_at "
    "ELSE :exp END "
    "RETURNING hits"
)
_PURGE = text("DELETE FROM rate_limits WHERE expires_at <= :now")


class SqlStorage(Storage):
    """Fixed-window counters in the database every worker and host shares."""

    STORAGE_SCHEME = None

    def __init__(
        self, db: Database, purge_every: int = 200, clock: Clock = time.time,
        rng: Callable[[], float] = random.random,
    ) -> None:
        super().__init__(None, wrap_exceptions=False)
        self.db = db
        self.purge_every = max(1, purge_every)
        self.clock = clock
        self.rng = rng

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return SQLAlchemyError

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        return self.incr_many([(key, expiry, amount)])[0]

    def incr_many(self, entries: Sequence[tuple[str, int, int]]) -> list[int]:
        """``incr`` of several (key, expiry, amount) in ONE transaction (one commit per request
        instead of one per counter); the new counts, in order. Plain SQL on a Core connection:
        this runs on every limited request, so it skips the ORM session and statement building."""
        now = self.clock()
        counts: list[int] = []
        with self._write() as conn:
            for key, expiry, amount in entries:
                row = conn.execute(_UPSERT, {"key": key, "amount": amount, "now": now,
                                             "exp": now + expiry})
                counts.append(int(row.scalar_one()))
            if self.rng() * self.purge_every < 1.0:
                conn.execute(_PURGE, {"now": now})
        return counts

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self.db.engine.connect() as conn:
            if self.db.is_sqlite:  # take the write lock at BEGIN (see Database.session)
                conn = conn.execution_options(sqlite_begin="IMMEDIATE")
            with conn.begin():
                yield conn

    def get(self, key: str) -> int:
        with self.db.session() as s:
            hits = s.scalar(
                select(_T.c.hits).where(_T.c.key == key, _T.c.expires_at > self.clock())
            )
        return int(hits or 0)

    def get_expiry(self, key: str) -> float:
        now = self.clock()
        with self.db.session() as s:
            at = s.scalar(select(_T.c.expires_at).where(_T.c.key == key, _T.c.expires_at > now))
        return float(at) if at is not None else now

    def check(self) -> bool:
        try:
            with self.db.session() as s:
                s.execute(select(1))
        except SQLAlchemyError:
            return False
        return True

    def reset(self) -> int | None:
        with self.db.session(write=True) as s:
            return int(s.execute(delete(_T)).rowcount or 0)  # type: ignore[attr-defined]

    def clear(self, key: str) -> None:
        with self.db.session(write=True) as s:
            s.execute(delete(_T).where(_T.c.key == key))

    def purge(self) -> int:
        """Delete every expired counter; the number deleted."""
        with self.db.session(write=True) as s:
            result = s.execute(delete(_T).where(_T.c.expires_at <= self.clock()))
            return int(result.rowcount or 0)  # type: ignore[attr-defined]
