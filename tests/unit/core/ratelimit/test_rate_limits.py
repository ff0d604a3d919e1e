"""Rate limits: the database storage (both backends), 429 + Retry-After over HTTP, sharing between
workers, and the locker key-guessing throttle (a stranger throttles themself, never burns a key)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from facegate.app.bootstrap import Container
from facegate.app.http import create_app
from facegate.core.errors import RateLimitedError
from facegate.core.ratelimit.models import RateLimitCounter
from facegate.core.ratelimit.service import RateLimits, parse_rule
from facegate.core.ratelimit.storage import SqlStorage
from facegate.core.settings import Settings
from facegate.core.store.db import Database
from facegate.features.lockers.keys import KeyPolicy
from tests.auth_helpers import admin_headers, bearer, make_key
from tests.store_backends import backend_url  # noqa: F401 (fixture)
from tests.unit.features.lockers.test_locker_api import Api, _setup_alice, api, frames_form, migrated  # noqa: F401

ALICE = 1


class Clock:
    def __init__(self, t: float = 1_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def db(backend_url: str) -> Iterator[Database]:  # noqa: F811
    d = Database(backend_url)
    d.upgrade()
    yield d
    d.dispose()


def test_storage_counts_expires_and_purges(db: Database) -> None:
    clock = Clock()
    st = SqlStorage(db, purge_every=10**9, clock=clock, rng=lambda: 0.5)
    assert [st.incr("k", 60) for _ in range(3)] == [1, 2, 3]
    assert st.get("k") == 3 and st.get_expiry("k") == pytest.approx(clock.t + 60)
    assert st.incr("other", 10, amount=5) == 5
    clock.t += 61  # the window of "k" ended: it restarts at 1 with a new expiry
    assert st.get("k") == 0
    assert st.incr("k", 60) == 1 and st.get_expiry("k") == pytest.approx(clock.t + 60)
    clock.t += 61
    assert st.purge() == 2  # both rows expired
    with db.session() as s:
        assert s.scalars(select(RateLimitCounter.key)).all() == []


def test_storage_purges_on_write(db: Database) -> None:
    clock = Clock()
    st = SqlStorage(db, purge_every=1, clock=clock, rng=lambda: 0.0)  # purge on every write
    for n in range(5):
        st.incr(f"old{n}", 1)
    clock.t += 2
    st.incr("new", 60)
    with db.session() as s:
        assert s.scalars(select(RateLimitCounter.key)).all() == ["new"]


def test_concurrent_hits_are_never_lost(db: Database) -> None:
    st = SqlStorage(db)
    def work() -> None:
        for _ in range(10):
            st.incr("shared", 600)
    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert st.get("shared") == 40


def test_rules_refuse_with_retry_after(db: Database) -> None:
    clock = Clock()
    limits = RateLimits(SqlStorage(db, clock=clock), {"r": "2/minute"}, clock=clock)
    limits.hit("r", ["addr:a"])
    limits.hit("r", ["addr:a"])
    with pytest.raises(RateLimitedError) as err:
        limits.hit("r", ["addr:a"])
    assert 1 <= err.value.retry_after_s <= 60
    limits.hit("r", ["addr:b"])  # another caller is not affected
    clock.t += 61
    limits.hit("r", ["addr:a"])  # a new window


def test_bad_rule_strings_are_refused() -> None:
    with pytest.raises(ValueError):
        parse_rule("lots")
    with pytest.raises(ValueError):
        Settings(rate_limit_recognition="fast please")


@pytest.fixture
def limited(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path / "data", rate_limit_recognition="3/minute",
                        rate_limit_enrol="2/minute", rate_limit_liveness="2/minute")
    with TestClient(create_app(settings)) as c:
        c.headers.update(admin_headers(c.app.state.container))  # every /v1 route needs a key
        yield c


def _assert_429(r) -> None:  # type: ignore[no-untyped-def]
    assert r.status_code == 429, r.text
    assert int(r.headers["Retry-After"]) >= 1
    err = r.json()["error"]
    assert err["code"] == "rate_limited" and "try again" in err["message"]
    assert err["retry_after_s"] == int(r.headers["Retry-After"])


def test_recognition_is_limited_per_address_and_per_credential(limited: TestClient) -> None:
    for path in ("/v1/identify", "/v1/verify", "/v1/compare"):
        r = limited.post(path)  # invalid requests count too (422 before the limit runs out)
        assert r.status_code == 422
    _assert_429(limited.post("/v1/identify"))
    c = limited.app.state.container
    other = TestClient(limited.app, client=("10.9.9.9", 4000))
    other.headers.update(admin_headers(c, "other-admin"))
    assert other.post("/v1/identify").status_code == 422  # another address and key: its own budget
    # one credential from many addresses is limited as one caller
    key = admin_headers(c, "roaming-admin")
    for n in range(3):
        c = TestClient(limited.app, client=(f"10.1.0.{n}", 4000))
        assert c.post("/v1/identify", headers=key).status_code == 422
    _assert_429(TestClient(limited.app, client=("10.1.0.99", 4000)).post("/v1/identify", headers=key))


def test_enrolment_and_liveness_sessions_are_limited(limited: TestClient) -> None:
    for _ in range(2):
        # no image: refused (422, never a face-less person), but the attempt still counts
        assert limited.post("/v1/people", data={"external_id": "x"}).status_code == 422
    _assert_429(limited.post("/v1/people", data={"external_id": "x"}))
    for _ in range(2):
        assert limited.post("/v1/liveness/sessions").status_code == 201
    _assert_429(limited.post("/v1/liveness/sessions"))


def test_two_workers_share_the_counters(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", rate_limit_recognition="2/minute")
    a, b = Container(settings), Container(settings)  # two processes' containers, one database
    try:
        a.rate_limits.hit("recognition", ["addr:x"])
        b.rate_limits.hit("recognition", ["addr:x"])
        with pytest.raises(RateLimitedError):
            a.rate_limits.hit("recognition", ["addr:x"])
    finally:
        a.shutdown()
        b.shutdown()


def test_disabled_limits_never_refuse(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", rate_limit_enabled=False,
                        rate_limit_recognition="1/minute")
    with TestClient(create_app(settings)) as c:
        c.headers.update(admin_headers(c.app.state.container))
        assert [c.post("/v1/identify").status_code for _ in range(3)] == [422] * 3


def test_memory_storage_url_is_accepted(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", rate_limit_storage_url="memory://",
                        rate_limit_recognition="1/minute")
    c = Container(settings)
    c.rate_limits.hit("recognition", ["addr:m"])
    with pytest.raises(RateLimitedError):
        c.rate_limits.hit("recognition", ["addr:m"])


# ---- locker keys: throttle the caller, never burn a customer's key -----------------------------
def _issue_key(a: Api) -> str:
    _setup_alice(a)
    r = a.client.post("/v1/lockers/access", files=frames_form(ALICE), headers=a.kiosk)
    assert r.status_code == 200, r.text
    return str(r.json()["key"])


def _with_rules(a: Api, **rules: str) -> Clock:
    clock = Clock()
    base = {"locker_open": "100/minute", "locker_wrong_keys": "3/15 minutes",
            "locker_key_guesses": "100/minute", "recognition": "100/minute", "liveness": "100/minute"}
    base.update(rules)
    a.c.__dict__["rate_limits"] = RateLimits(SqlStorage(a.c.database, clock=clock), base, clock=clock)
    # the default policy: burning is a backstop far above what the guess limits let through
    a.c.lockers.options = replace(a.c.lockers.options, policy=KeyPolicy(max_attempts=20))
    return clock


def _wrong(key: str, n: int = 1) -> str:
    return f"{(int(key) + n) % 10**6:06d}"


def test_wrong_keys_throttle_the_stranger_not_the_owner(api: Api) -> None:  # noqa: F811
    _with_rules(api)
    key = _issue_key(api)
    stranger = TestClient(api.client.app, client=("203.0.113.7", 5000), headers=api.kiosk)
    for n in range(1, 4):
        assert stranger.post("/v1/lockers/12/open", json={"key": _wrong(key, n)}).status_code == 403
    _assert_429(stranger.post("/v1/lockers/12/open", json={"key": _wrong(key, 4)}))
    _assert_429(stranger.post("/v1/lockers/12/open", json={"key": key}))  # even the right key
    owner = TestClient(api.client.app, client=("198.51.100.20", 5000),  # at another kiosk
                       headers=bearer(make_key(api.c, "kiosk", "hall-b-kiosk")))
    r = owner.post("/v1/lockers/12/open", json={"key": key})
    assert r.status_code == 200 and r.json()["opened"] is True


def test_many_strangers_cannot_burn_a_key(api: Api) -> None:  # noqa: F811
    _with_rules(api, locker_key_guesses="4/minute")
    key = _issue_key(api)
    codes = []
    for n in range(1, 11):  # ten addresses at one kiosk, one wrong guess each
        c = TestClient(api.client.app, client=(f"203.0.113.{n}", 5000), headers=api.kiosk)
        codes.append(c.post("/v1/lockers/12/open", json={"key": _wrong(key, n)}).status_code)
    # the kiosk credential's wrong-key budget (3) runs out before the key could burn (20)
    assert codes.count(403) <= 4 and codes.count(429) >= 6
    owner = TestClient(api.client.app, client=("198.51.100.20", 5000),  # at another kiosk
                       headers=bearer(make_key(api.c, "kiosk", "hall-b-kiosk")))
    r = owner.post("/v1/lockers/12/open", json={"key": key})  # the key still works
    assert r.status_code == 200, r.text
