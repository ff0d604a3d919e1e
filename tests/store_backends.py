"""Database backends for store tests: SQLite (a file under tmp) and PostgreSQL + pgvector.

PostgreSQL is started once per test session by the PyPI package ``pgserver`` (extra
``postgres``), which bundles PostgreSQL and the ``vector`` extension; each test gets a fresh
database. Tests skip the PostgreSQL case, naming the reason, only when it cannot start.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
import uuid
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest

BACKENDS = ["sqlite", "postgres"]


@lru_cache(maxsize=1)
def _pg_server() -> Any:
    """Start one pgserver for the session; returns the server or the reason it cannot start."""
    try:
        import pgserver
        import pgvector  # noqa: F401
        import psycopg  # noqa: F401
    except ImportError as exc:
        return f"PostgreSQL tests need the 'postgres' extra (pip install -e .[postgres]): {exc}"
    root = Path(tempfile.mkdtemp(prefix="facegate-pg-"))
    try:
        server = pgserver.get_server(root, cleanup_mode="stop")
        server.psql("CREATE EXTENSION IF NOT EXISTS vector;")
    except Exception as exc:  # pgserver raises plain exceptions when initdb/pg_ctl fail
        shutil.rmtree(root, ignore_errors=True)
        return f"pgserver could not start PostgreSQL: {type(exc).__name__}: {exc}"
    atexit.register(shutil.rmtree, root, True)
    return server


def postgres_url() -> str:
    """A fresh, empty database on the session's PostgreSQL (skips if it cannot start)."""
    server = _pg_server()
    if isinstance(server, str):
        pytest.skip(server)
    name = f"fg_{uuid.uuid4().hex[:12]}"
    server.psql(f"CREATE DATABASE {name};")
    uri: str = server.get_uri(name)
    return uri.replace("postgresql://", "postgresql+psycopg://", 1)


def database_url(backend: str, tmp_path: Path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'facegate.db'}"
    return postgres_url()


@pytest.fixture(params=BACKENDS)
def backend_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database URL on each backend (the same test runs on SQLite and on PostgreSQL)."""
    return database_url(request.param, tmp_path)


@pytest.fixture
def pg_url() -> str:
    """A fresh PostgreSQL database (for tests of PostgreSQL-only features)."""
    return postgres_url()
