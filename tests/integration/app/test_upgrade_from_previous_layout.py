"""A database made by the previous layout (commit f2bfeb9, before core/features/research/app)
upgrades with today's ``facegate db upgrade``, on SQLite and on PostgreSQL, and its people still
verify. The fixtures are dumps made by that code (``scripts/make_upgrade_fixture.sh``)."""

from __future__ import annotations

import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from facegate.core.store.db import Database
from tests.integration.store_helpers import cli_runner
from tests.store_backends import BACKENDS, postgres_url

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "upgrade"
TEST_KEY = "ZmFjZWdhdGUtdXBncmFkZS10ZXN0LWtleS0zMmJ5dGU="  # the key the fixtures were made with
PREVIOUS_HEAD = "0007_search_partitions"


def _load_sqlite(tmp_path: Path) -> str:
    path = tmp_path / "previous.db"
    with sqlite3.connect(path) as conn:
        conn.executescript((FIXTURES / "previous_layout.sqlite.sql").read_text(encoding="utf-8"))
    return f"sqlite:///{path}"


def _load_postgres() -> str:
    import pgserver.postgres_server as pg

    url = postgres_url()  # a fresh, empty database (skips, naming why, when PostgreSQL cannot start)
    subprocess.run(
        [str(pg.POSTGRES_BIN_PATH / "psql"), url.replace("postgresql+psycopg://", "postgresql://", 1),
         "-q", "-v", "ON_ERROR_STOP=1", "-f", str(FIXTURES / "previous_layout.pg.sql")],
        check=True, capture_output=True,
    )
    return url


@pytest.fixture(params=BACKENDS)
def previous_db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return _load_sqlite(tmp_path) if request.param == "sqlite" else _load_postgres()


@pytest.fixture
def cli(
    previous_db: str, shared_container: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Any]:
    monkeypatch.setenv("FACEGATE_DATA_DIR", str(tmp_path / "d"))
    monkeypatch.setenv("FACEGATE_DATABASE_URL", previous_db)
    monkeypatch.setenv("FACEGATE_TEMPLATE_KEY", TEST_KEY)
    with cli_runner(shared_container) as run:
        yield run


def test_previous_layout_database_upgrades_and_people_still_verify(
    cli: Any, previous_db: str, faces_dir: Path
) -> None:
    assert Database(previous_db).current_revision() == PREVIOUS_HEAD
    r = cli("db", "upgrade")
    assert r.exit_code == 0, r.output
    db = Database(previous_db)
    assert db.current_revision() == db.head_revision()  # whatever migrations came after 0007
    again = cli("db", "upgrade")  # idempotent
    assert again.exit_code == 0, again.output

    listed = cli("people", "list")
    assert listed.exit_code == 0 and "obama" in listed.output and "biden" in listed.output
    granted = cli("verify", "obama", faces_dir / "scenes" / "obama.jpg")
    assert granted.exit_code == 0, granted.output
    denied = cli("verify", "biden", faces_dir / "scenes" / "obama.jpg")
    assert denied.exit_code == 1, denied.output
    lockers = cli("locker", "list")
    assert lockers.exit_code == 0 and "Vault A" in lockers.output
