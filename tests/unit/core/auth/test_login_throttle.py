"""Login throttling per (account, client address) with growing back-off, plus slower limits per
account and per address: a stranger hammering the login cannot lock the owner out."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient

from facegate.core.auth.sessions import AuthOptions, LoginThrottle
from facegate.core.store.audit import AuditQuery
from facegate.core.store.db import Base, Database
from tests.store_backends import backend_url  # noqa: F401 (fixture)
from tests.unit.features.accounts.test_web_pages import Web, build_web, login, register

WRONG = "wrong password!"


def _from(web: Web, address: str) -> Web:
    """The same app seen from another client address (own cookies)."""
    return replace(web, client=TestClient(web.client.app, client=(address, 40000)))


def test_owner_logs_in_from_another_address_while_an_attacker_hammers(tmp_path: Path) -> None:
    for web in build_web(tmp_path):
        register(web)
        attacker = _from(web, "203.0.113.66")
        codes = [login(attacker, password=WRONG).status_code for _ in range(25)]
        assert codes[:5] == [401] * 5 and set(codes[5:]) == {429}
        locked = login(attacker)  # the right password from the attacker's address
        assert locked.status_code == 429 and 1 <= int(locked.headers["Retry-After"]) <= 3600
        owner = _from(web, "198.51.100.7")
        assert login(owner).status_code == 200  # the owner is not locked out
        denied = web.container.audit.query(AuditQuery(action="login", decision="denied", limit=100))
        assert len(denied) == 26  # every failure is audited, with who and from where
        assert {e.details.get("client") for e in denied} == {"203.0.113.66"}
        assert sum(e.details["reason"] == "locked (client)" for e in denied) == 21


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def _throttle(tmp_path: Path, url: str | None = None, **opts: int) -> tuple[LoginThrottle, Clock]:
    db = Database(url or f"sqlite:///{tmp_path / 't.db'}")
    if url:
        db.upgrade()
    else:
        Base.metadata.create_all(db.engine)
    clock = Clock()
    return LoginThrottle(db, AuthOptions(**opts), clock), clock  # type: ignore[arg-type]


def _fail(t: LoginThrottle, user: str = "alice", client: str = "a") -> int:
    lock, _ = t.begin_attempt(user, client)
    return lock.retry_after_s if lock.locked else 0


def test_backoff_grows_with_each_further_failure_and_success_resets(
    tmp_path: Path, backend_url: str  # noqa: F811
) -> None:
    t, clock = _throttle(tmp_path, backend_url, max_failures=3, window_s=60, backoff_max_s=600)
    assert [_fail(t) for _ in range(3)] == [0, 0, 0]
    assert _fail(t) == 60  # locked: 60 s
    clock.now += timedelta(seconds=61)
    assert _fail(t) == 0  # one more try, wrong again…
    assert _fail(t) == 120  # …doubles the lock
    clock.now += timedelta(seconds=121)
    assert _fail(t) == 0
    assert _fail(t) == 240
    clock.now += timedelta(seconds=241)
    assert _fail(t) == 0
    assert _fail(t) == 480
    clock.now += timedelta(seconds=481)
    _, attempt = t.begin_attempt("alice", "a")
    assert _fail(t) == 600  # capped at backoff_max_s
    clock.now += timedelta(seconds=601)
    _, attempt = t.begin_attempt("alice", "a", "face")
    t.mark_success(attempt)  # a full login: the pair starts afresh
    assert [_fail(t) for _ in range(3)] == [0, 0, 0]


def test_slower_per_account_limit_catches_guessing_from_many_addresses(
    tmp_path: Path, backend_url: str  # noqa: F811
) -> None:
    t, clock = _throttle(tmp_path, backend_url, max_failures=5, account_max_failures=10,
                         account_window_s=3600)
    assert [_fail(t, client=f"10.0.0.{n}") for n in range(10)] == [0] * 10
    assert 3500 < _fail(t, client="10.0.0.99") <= 3600  # the whole account now waits
    assert _fail(t, user="bob", client="10.0.0.99") == 0  # other accounts are not affected
    clock.now += timedelta(seconds=3601)
    assert _fail(t, client="10.0.0.99") == 0


def test_per_address_limit_catches_password_spraying(tmp_path: Path) -> None:
    t, _ = _throttle(tmp_path, client_max_failures=4)
    assert [_fail(t, user=f"user{n}") for n in range(4)] == [0] * 4
    assert _fail(t, user="user9") > 0
    assert _fail(t, user="user9", client="elsewhere") == 0
