"""``Database``: engine + sessions from a URL, SQLite pragmas, and Alembic upgrades in code.

SQLite (the embedded default) runs in WAL mode with foreign keys on and a busy timeout, and takes
the write lock at ``BEGIN IMMEDIATE`` for sessions opened with ``write=True`` (so read-then-write
transactions of several processes queue instead of failing). PostgreSQL is chosen by the URL.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, Engine, create_engine, event, text
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.pool import StaticPool
from sqlalchemy.types import TypeDecorator

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
SQLITE_BUSY_TIMEOUT_MS = 30_000


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite stores it naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """Declarative base of every FaceGate table (import it to add tables in your own module)."""

    type_annotation_map = {datetime: UTCDateTime()}  # noqa: RUF012 (SQLAlchemy's API)


class Database:
    """One engine and session factory for a URL. Cheap to build; connects on first use."""

    def __init__(self, url: str | URL, echo: bool = False) -> None:
        self.url = make_url(url)
        self.engine: Engine = _create_engine(self.url, echo)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def is_postgres(self) -> bool:
        return self.dialect == "postgresql"

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @contextmanager
    def session(self, write: bool = False) -> Iterator[Session]:
        """A session committed on success and rolled back on any exception.

        ``write=True`` takes SQLite's write lock at the start (``BEGIN IMMEDIATE``), which makes
        read-then-write transactions of several processes wait for each other instead of failing.
        """
        with self.sessions() as session:
            if write and self.is_sqlite:
                session.connection(execution_options={"sqlite_begin": "IMMEDIATE"})
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def upgrade(self, revision: str = "head") -> None:
        """Run the Alembic migrations (FaceGate's and every other area's) up to ``revision``."""
        from alembic import command

        with self.engine.connect() as conn:
            conn = conn.execution_options(sqlite_begin="IMMEDIATE")
            cfg = self.alembic_config(conn)
            command.upgrade(cfg, revision)

    def current_revision(self) -> str | None:
        from alembic.runtime.migration import MigrationContext

        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def head_revision(self) -> str | None:
        from alembic.script import ScriptDirectory

        return ScriptDirectory.from_config(self.alembic_config(None)).get_current_head()

    def alembic_config(self, connection: Connection | None) -> Any:
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        cfg.attributes["database"] = self
        cfg.attributes["connection"] = connection
        return cfg

    def dispose(self) -> None:
        self.engine.dispose()

    def __repr__(self) -> str:
        return f"Database({self.url.render_as_string(hide_password=True)!r})"


def _create_engine(url: URL, echo: bool) -> Engine:
    if url.get_backend_name() != "sqlite":
        return create_engine(url, echo=echo, pool_pre_ping=True, future=True)
    memory = url.database in (None, "", ":memory:")
    kwargs: dict[str, Any] = {"echo": echo}
    if memory:
        kwargs.update(poolclass=StaticPool, connect_args={"check_same_thread": False})
    else:
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
    engine = create_engine(url, **kwargs)
    _install_sqlite_hooks(engine, wal=not memory, file=None if memory else Path(str(url.database)))
    return engine


def private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) and make it 0700: only the server's user may enter it."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    with contextlib.suppress(PermissionError):  # not ours (a shared mount): files stay 0600
        os.chmod(path, 0o700)
    return path


def private_sqlite_files(db_file: Path) -> None:
    """Make the database file and its WAL/SHM companions 0600 (SQLite gives new companions the
    database file's mode, so fixing the database file first covers the ones created later)."""
    for p in (db_file, Path(f"{db_file}-wal"), Path(f"{db_file}-shm"), Path(f"{db_file}-journal")):
        try:
            if p.exists() and (p.stat().st_mode & 0o077):
                os.chmod(p, 0o600)
        except (PermissionError, FileNotFoundError):
            pass


def _install_sqlite_hooks(engine: Engine, wal: bool, file: Path | None = None) -> None:
    """Pragmas on every connection; let SQLAlchemy (not pysqlite) emit BEGIN (transactional DDL).
    The database file and its WAL/SHM files are made 0600 before WAL mode creates them."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        if file is not None:
            private_sqlite_files(file)
        dbapi_conn.isolation_level = None  # autocommit at the driver; we send BEGIN ourselves
        cur = dbapi_conn.cursor()
        if wal:
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "")
        conn.exec_driver_sql(f"BEGIN {mode}".strip())


def sqlite_file(url: str | URL) -> Path | None:
    """The file of a SQLite URL (None for other backends and in-memory databases)."""
    u = make_url(url)
    if u.get_backend_name() != "sqlite" or u.database in (None, "", ":memory:"):
        return None
    return Path(u.database)


def ping(db: Database) -> bool:
    with db.engine.connect() as conn:
        return conn.execute(text("SELECT 1")).scalar() == 1
