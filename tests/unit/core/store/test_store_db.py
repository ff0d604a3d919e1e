"""Database: migrations on SQLite and PostgreSQL, SQLite pragmas, session commit/rollback."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from facegate.core.store.db import Database
from facegate.core.store.models import Person
from tests.store_backends import backend_url, pg_url  # noqa: F401  (fixtures)

CORE_TABLES = {"people", "face_templates", "audit_log", "gallery_state", "imported_images"}


def test_upgrade_creates_core_tables_and_is_idempotent(backend_url: str) -> None:  # noqa: F811
    db = Database(backend_url)
    assert db.current_revision() is None
    db.upgrade()
    assert db.current_revision() == db.head_revision()
    tables = set(inspect(db.engine).get_table_names())
    assert tables >= CORE_TABLES
    assert ("template_search_vectors" in tables) == db.is_postgres
    db.upgrade()  # second run: nothing to do, no error
    assert db.current_revision() == db.head_revision()


def test_core_revision_is_0001_core(backend_url: str) -> None:  # noqa: F811
    db = Database(backend_url)
    db.upgrade("0001_core")
    assert db.current_revision() == "0001_core"


def test_pgvector_hnsw_indexes_exist_on_postgres(pg_url: str) -> None:  # noqa: F811
    db = Database(pg_url)
    db.upgrade("0001_core")
    with db.session() as s:
        defs = s.execute(
            text("SELECT indexdef FROM pg_indexes WHERE tablename = 'template_search_vectors'")
        ).scalars().all()
    hnsw = [d for d in defs if "hnsw" in d]
    assert len(hnsw) == 2 and any("vector(128)" in d for d in hnsw)


def test_sqlite_pragmas(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'x.db'}")
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000


def test_session_rolls_back_on_error(backend_url: str) -> None:  # noqa: F811
    db = Database(backend_url)
    db.upgrade("0001_core")
    with pytest.raises(RuntimeError), db.session(write=True) as s:
        s.add(Person(external_id="a", display_name="A"))
        s.flush()
        raise RuntimeError("boom")
    with db.session() as s:
        assert s.query(Person).count() == 0
    with db.session(write=True) as s:
        s.add(Person(external_id="a", display_name="A"))
    with db.session() as s:
        p = s.query(Person).one()
        assert p.created_at.tzinfo is not None


def test_foreign_keys_are_enforced(backend_url: str) -> None:  # noqa: F811
    from sqlalchemy.exc import IntegrityError

    from facegate.core.store.models import FaceTemplate

    db = Database(backend_url)
    db.upgrade("0001_core")
    with pytest.raises(IntegrityError), db.session() as s:
        s.add(FaceTemplate(person_id=999, model="m", model_version="1", dim=2, is_mean=False,
                           sample_count=1, key_id="k", ciphertext=b"x", source="upload"))
        s.flush()


def test_sqlite_write_sessions_take_the_write_lock_at_begin(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "x.db"
    db = Database(f"sqlite:///{path}")
    db.upgrade("0001_core")
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    with db.session(write=True), pytest.raises(sqlite3.OperationalError, match="locked"):
        other.execute("BEGIN IMMEDIATE")
    other.execute("BEGIN IMMEDIATE")  # released at commit
    other.execute("ROLLBACK")
    with db.session():  # a read session takes no write lock
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
    other.close()
