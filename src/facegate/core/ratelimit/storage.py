"""A ``limits`` storage on our database: fixed-window counters in the ``rate_limits`` table.

``incr`` is ONE statement (``INSERT … ON CONFLICT DO UPDATE … RETURNING``, SQLite ≥ 3.35 and
PostgreSQL): a new or expired window restarts at ``amount``, a live one adds to it, so concurrent
workers never lose a hit. Expired rows are deleted on write, about once per ``purge_every`` writes
(any worker may do it; the delete is idempotent), and by ``purge()``.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

from limits.storage import Storage
from sqlalchemy import Table, case, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from facegate.core.ratelimit.models import RateLimitCounter
from facegate.core.store.db import Database

Clock = Callable[[], float]
_T: Table = RateLimitCounter.__table__  # type: ignore[assignment]


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
        now = self.clock()
        live = _T.c.expires_at > now
        insert: Any = (postgresql if self.db.is_postgres else sqlite).insert(_T)
        stmt = (
            insert.values(key=key, hits=amount, expires_at=now + expiry)
            .on_conflict_do_update(
                index_elements=[_T.c.key],
                set_={
                    "hits": case((live, _T.c.hits + amount), else_=amount),
                    "expires_at": case((live, _T.c.expires_at), else_=now + expiry),
                },
            )
            .returning(_T.c.hits)
        )
        with self.db.session(write=True) as s:
            hits = int(s.execute(stmt).scalar_one())
            if self.rng() * self.purge_every < 1.0:
                s.execute(delete(_T).where(_T.c.expires_at <= now))
        return hits

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
