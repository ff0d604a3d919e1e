"""Alembic environment: the URL/connection come from ``facegate.core.store.db.Database``, not an ini.

Run through ``Database.upgrade()`` (``facegate db upgrade``, server start). Every area's tables
derive from ``facegate.core.store.db.Base``; its migrations live in ``versions/`` next to ours.
On PostgreSQL an advisory lock makes concurrent upgrades (several workers) wait for each other;
on SQLite the connection begins with ``BEGIN IMMEDIATE`` for the same effect.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

from facegate.core.store.db import Base

MIGRATION_LOCK_ID = 7_215_001  # arbitrary constant for pg_advisory_xact_lock

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        database = config.attributes["database"]
        with database.engine.connect() as conn:
            _run(conn.execution_options(sqlite_begin="IMMEDIATE"))
        return
    _run(connection)


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        transaction_per_migration=False,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(text(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_ID})"))
        context.run_migrations()
    if connection.in_transaction():
        connection.commit()


if context.is_offline_mode():
    raise SystemExit("FaceGate migrations run online only: use `facegate db upgrade`")
run_migrations_online()
