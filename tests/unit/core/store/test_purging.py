"""Purging: expired liveness sessions (and locker challenges, which are liveness sessions) are
deleted as new ones are opened; the open sessions of a caller are capped in every worker; old
login attempts go; stale rate-limit counters are covered in test_rate_limits."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from facegate.app.http import create_app
from facegate.core.auth.models import LoginAttempt
from facegate.core.auth.sessions import AuthOptions, LoginThrottle
from facegate.core.settings import Settings
from facegate.core.store.db import Database
from facegate.core.store.liveness_models import LivenessSessionRecord
from tests.auth_helpers import admin_headers
from tests.store_backends import backend_url  # noqa: F401 (fixture)
from tests.unit.core.liveness.test_liveness_service import Clock, make_service


@pytest.fixture
def db(backend_url: str) -> Iterator[Database]:  # noqa: F811
    d = Database(backend_url)
    d.upgrade()
    yield d
    d.dispose()


def _count(db: Database, model: type) -> int:
    with db.session() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def test_expired_liveness_sessions_are_purged_when_new_ones_open(db: Database) -> None:
    clock = Clock()
    service, _ = make_service(db, None, clock=clock)
    service.store.keep_expired_s = 600  # type: ignore[attr-defined]
    old = [service.create_session(actor="api").id for _ in range(50)]
    assert _count(db, LivenessSessionRecord) == 50
    clock.now += timedelta(seconds=60 + 599)  # expired, but not yet for keep_expired_s
    service.create_session(actor="api")
    assert _count(db, LivenessSessionRecord) == 51
    assert service.get_session(old[0]).status in ("pending", "expired")  # still answerable
    clock.now += timedelta(seconds=2)
    fresh = service.create_session(actor="api").id
    assert _count(db, LivenessSessionRecord) == 2  # the 50 old ones are gone
    assert service.get_session(fresh).status == "pending"


def test_purge_expired_can_run_alone(db: Database) -> None:
    clock = Clock()
    service, _ = make_service(db, None, clock=clock)
    for _ in range(5):
        service.create_session()
    store = service.store
    assert store.purge_expired(clock.now) == 0  # type: ignore[attr-defined]
    assert store.purge_expired(clock.now + timedelta(days=1)) == 5  # type: ignore[attr-defined]


@pytest.fixture
def capped(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path / "data", max_open_liveness_sessions=3,
                        rate_limit_liveness="1000/minute")
    with TestClient(create_app(settings)) as c:
        c.headers.update(admin_headers(c.app.state.container))  # every /v1 route needs a key
        yield c


def test_open_sessions_per_caller_are_capped(capped: TestClient) -> None:
    for _ in range(3):
        assert capped.post("/v1/liveness/sessions").status_code == 201
    r = capped.post("/v1/liveness/sessions")
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
    r = capped.post("/v1/lockers/access/challenge")  # locker challenges count the same
    assert r.status_code == 429
    other = TestClient(capped.app, client=("192.0.2.44", 1234),  # another caller: its own cap
                       headers=admin_headers(capped.app.state.container, "other-admin"))
    assert other.post("/v1/liveness/sessions").status_code == 201


def test_old_login_attempts_are_purged_on_write(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    db = Database(f"sqlite:///{tmp_path / 'a.db'}")
    db.upgrade()
    now = [datetime(2026, 1, 1, tzinfo=UTC)]
    throttle = LoginThrottle(db, AuthOptions(), lambda: now[0])
    for n in range(99):
        throttle.begin_attempt(f"user{n}", f"10.0.{n}.1")
    assert _count(db, LoginAttempt) == 99
    now[0] += timedelta(days=2)
    throttle.begin_attempt("late", "10.9.9.9")  # the 100th attempt purges what is 2 days old
    assert _count(db, LoginAttempt) == 1
