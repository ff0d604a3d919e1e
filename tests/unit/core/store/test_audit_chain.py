"""The audit log's hash chain on SQLite and PostgreSQL: intact after concurrent writers; an
edited, deleted or truncated row is found and named; ``facegate audit verify``; the migration
chains the rows written before it."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from facegate.core.domain import AuditEvent
from facegate.core.store.audit import AuditLog, current_client
from facegate.core.store.audit_chain import GENESIS, verify_chain
from facegate.core.store.db import Database
from tests.store_backends import backend_url  # noqa: F401  (fixture)


@pytest.fixture
def log(backend_url: str) -> AuditLog:  # noqa: F811
    db = Database(backend_url)
    db.upgrade()
    return AuditLog(db)


def _fill(log: AuditLog, n: int) -> None:
    for i in range(n):
        log.record(AuditEvent("verify", "granted", actor="key:ci", subject=f"p{i}", score=0.5 + i / 100,
                              details={"threshold": 0.325, "faces": [1, 2], "name": "Zoë"}))


def test_chain_is_intact_and_records_the_client(log: AuditLog) -> None:
    assert verify_chain(log.db).ok and verify_chain(log.db).head_hash == GENESIS
    token = current_client.set("192.0.2.4")
    try:
        _fill(log, 3)
    finally:
        current_client.reset(token)
    log.record(AuditEvent("login", "ok", client="198.51.100.9"))
    report = verify_chain(log.db)
    assert report.ok and report.rows == 4, report
    assert [e.client for e in log.latest(4)] == ["198.51.100.9", "192.0.2.4", "192.0.2.4", "192.0.2.4"]


def test_an_edited_row_is_named(log: AuditLog) -> None:
    _fill(log, 5)
    ids = [e.id for e in reversed(log.latest(5))]
    with log.db.engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET decision = 'denied' WHERE id = :i"), {"i": ids[2]})
    report = verify_chain(log.db)
    assert not report.ok and report.broken_id == ids[2] and report.rows == 2
    assert "edited" in (report.reason or "")


def test_a_deleted_row_and_a_cut_tail_are_noticed(log: AuditLog) -> None:
    _fill(log, 5)
    ids = [e.id for e in reversed(log.latest(5))]
    with log.db.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE id = :i"), {"i": ids[4]})
    report = verify_chain(log.db)
    assert not report.ok and "removed from the end" in (report.reason or "")
    with log.db.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE id = :i"), {"i": ids[1]})
    report = verify_chain(log.db)
    assert not report.ok and report.broken_id == ids[2] and "previous-hash" in (report.reason or "")


def test_concurrent_writers_keep_one_chain(log: AuditLog) -> None:
    errors: list[BaseException] = []

    def writer(k: int) -> None:
        try:
            other = AuditLog(Database(log.db.url))  # its own engine, like another process
            for i in range(15):
                other.record(AuditEvent("identify", "ok", actor=f"w{k}", subject=str(i)))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    report = verify_chain(log.db)
    assert report.ok and report.rows == 60, report


def cli(monkeypatch: pytest.MonkeyPatch, data: Path) -> Any:
    """``run(*args)``: the ``facegate`` CLI in-process on the data dir ``data``."""
    from typer.testing import CliRunner

    from facegate.app.cli import app
    from facegate.core import cli as common

    monkeypatch.setenv("FACEGATE_DATA_DIR", str(data))
    monkeypatch.delenv("FACEGATE_DATABASE_URL", raising=False)
    common.container.cache_clear()
    runner = CliRunner()
    return lambda *args: runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def test_cli_verify_reports_the_broken_row(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from facegate.app.bootstrap import Container
    from facegate.core.settings import Settings

    c = Container(Settings(data_dir=tmp_path / "data"))
    c.prepare_store()
    _fill(c.audit, 3)
    run = cli(monkeypatch, tmp_path / "data")
    ok = run("audit", "verify")
    assert ok.exit_code == 0 and "audit log intact: 3 rows" in ok.output
    row = c.audit.latest(3)[1].id
    with c.database.engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET score = 0.99 WHERE id = :i"), {"i": row})
    bad = run("audit", "verify")
    assert bad.exit_code == 1 and f"BROKEN at row {row}" in bad.output, bad.output


def test_the_migration_chains_existing_rows_and_keeps_device_tokens(backend_url: str) -> None:  # noqa: F811
    from facegate.core.auth.credentials import Credentials, key_hash

    db = Database(backend_url)
    db.upgrade("0007_search_partitions")
    token = "fgd_" + "a" * 43
    with db.engine.begin() as conn:
        for i in range(3):
            conn.execute(text(
                "INSERT INTO audit_log (at, actor, action, subject, decision, score, details) "
                "VALUES (:at, 'api', 'verify', :s, 'granted', 0.5, :d)"
            ), {"at": f"2025-01-0{i + 1} 10:00:00.123456", "s": f"p{i}", "d": '{"a": 1}'})
        conn.execute(text(
            "INSERT INTO devices (name, token_hash, created_at) VALUES ('door', :h, :at)"
        ), {"h": key_hash(token), "at": "2025-01-01 00:00:00"})
    db.upgrade()
    log = AuditLog(db)
    assert verify_chain(db).ok and verify_chain(db).rows == 3
    log.record(AuditEvent("identify", "ok"))
    assert verify_chain(db).rows == 4 and verify_chain(db).ok
    p = Credentials(db, log).authenticate(token)
    # the token still works; 0009_groups then made the door admit no group until configured
    assert (p.name, p.scopes, p.groups) == ("device:door", frozenset({"stream"}), frozenset())
    from alembic import command

    command.downgrade(db.alembic_config(None), "0007_search_partitions")  # a device again
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT name FROM devices")).scalars().all() == ["door"]


def test_tables_made_without_migrations_start_the_chain(tmp_path: Path) -> None:
    from facegate.core.store.db import Base

    db = Database(f"sqlite:///{tmp_path / 'a.db'}")
    Base.metadata.create_all(db.engine)  # no head row yet
    log = AuditLog(db)
    _fill(log, 2)
    assert verify_chain(db).ok and verify_chain(db).rows == 2
