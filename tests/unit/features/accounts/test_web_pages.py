"""HTTP tests of the web pages (TestClient, no browser): every form, CSRF, sessions, lockout.

The face parts are fakes here (a fake enroller and a fake live-face step that the test steers);
the real models, liveness and Chromium are exercised in tests/e2e/test_browser_web.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from facegate.app.bootstrap import Container
from facegate.core.auth.models import LoginAttempt, WebSession
from facegate.core.auth.sessions import Passwords
from facegate.core.errors import FaceQualityError
from facegate.core.settings import Settings
from facegate.core.store.audit import AuditQuery
from facegate.core.store.db import Base, Database
from facegate.features.accounts.service import (
    FACE_STEP_FAILED,
    AccountHook,
    AccountService,
    FaceCheck,
    FaceEnrollment,
)
from facegate.features.voting import models as voting_models  # noqa: F401  (the dashboard reads voters)

PASSWORD = "correct horse battery"


class FakeEnroller:
    """Accepts every file except those whose bytes start with b"bad" (rejected: "no face")."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.people: set[str] = set()

    def enroll_new(
        self, username: str, display_name: str, files: Sequence[tuple[str, bytes]], source: str,
        hook: AccountHook,
    ) -> FaceEnrollment:
        accepted = tuple(label for label, data in files if not data.startswith(b"bad"))
        rejected = tuple((label, "no face found") for label, data in files if data.startswith(b"bad"))
        if not accepted:
            raise FaceQualityError("no usable face", tuple(f"{a}: {b}" for a, b in rejected))
        with self.db.session(write=True) as s:
            hook(s)
        self.people.add(username)
        return FaceEnrollment(accepted, rejected)

    def has_person(self, username: str) -> bool:
        return username in self.people

    def remove_person(self, username: str, actor: str) -> None:
        self.people.discard(username)


@dataclass
class FakeFaceLogin:
    """Liveness + 1:1 decided by the test: ``verdict`` is returned by ``finish``."""

    verdict: FaceCheck = field(default_factory=lambda: FaceCheck(True, "ok", 0.8))
    started: list[str] = field(default_factory=list)
    finished: list[tuple[str, str]] = field(default_factory=list)
    frames: int = 0

    def start_challenge(self, username: str) -> dict[str, object]:
        cid = f"live-{len(self.started) + 1}"
        self.started.append(username)
        return {"id": cid, "steps": ["blink"], "state": "running", "instruction": "Blink",
                "steps_done": 0, "steps_total": 1}

    def add_frames(
        self, challenge_id: str, frames: Sequence[bytes], ts: Sequence[float]
    ) -> dict[str, object]:
        self.frames += len(frames)
        return {"id": challenge_id, "state": "passed", "steps_done": 1, "steps_total": 1}

    def finish(self, username: str, challenge_id: str) -> FaceCheck:
        self.finished.append((username, challenge_id))
        return self.verdict


@dataclass
class Web:
    client: TestClient
    container: Container
    enroller: FakeEnroller
    face: FakeFaceLogin

    @property
    def accounts(self) -> AccountService:
        return self.container.accounts


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf-token" content="([^"]+)"', html)
    assert m, "page without CSRF token"
    return m.group(1)


def install_fakes(c: object, enroller: FakeEnroller, face: FakeFaceLogin) -> None:
    """Cheap argon2id parameters and the fake face parts, set before the container builds its own."""
    from facegate.core.auth.sessions import AuthOptions, LoginThrottle, SessionStore, WebAuth

    st = c.settings  # type: ignore[attr-defined]
    db = c.database  # type: ignore[attr-defined]
    options = AuthOptions(st.web_session_ttl_s, st.web_session_idle_s, st.web_face_step_s,
                          st.login_max_failures, st.login_window_s, st.login_backoff_max_s,
                          st.login_account_max_failures, st.login_client_max_failures,
                          st.login_account_window_s)
    fast = Passwords(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    auth = WebAuth(fast, SessionStore(db, options), LoginThrottle(db, options))
    c.__dict__["auth"] = auth
    c.__dict__["accounts"] = AccountService(db, fast, auth.sessions, auth.throttle, enroller, face,
                                            c.audit)  # type: ignore[attr-defined]


def build_web(tmp_path: Path, **overrides: object) -> Iterator[Web]:
    from facegate.app.bootstrap import Container
    from facegate.app.http import create_app

    values: dict[str, object] = {"web_cookie_secure": False, **overrides}
    settings = Settings(data_dir=tmp_path / "data", **values)  # type: ignore[arg-type]
    c = Container(settings)
    settings.data_dir.mkdir(parents=True)

    Base.metadata.create_all(c.database.engine)  # unit tests: tables without Alembic
    c._store_ready = True
    enroller = FakeEnroller(c.database)
    face = FakeFaceLogin()
    install_fakes(c, enroller, face)
    with TestClient(create_app(settings, c)) as client:
        yield Web(client, c, enroller, face)


@pytest.fixture
def web(tmp_path: Path) -> Iterator[Web]:
    yield from build_web(tmp_path)


def register(web: Web, username: str = "alice", files: list[tuple[str, bytes]] | None = None,
             password: str = PASSWORD) -> httpx.Response:
    page = web.client.get("/register")
    token = csrf_of(page.text)
    files = files if files is not None else [("a.jpg", b"face-a"), ("b.jpg", b"face-b")]
    return web.client.post(
        "/register",
        data={"csrf_token": token, "username": username, "display_name": "Alice A",
              "password": password, "password_again": password, "source": "upload"},
        files=[("photos", (name, data, "image/jpeg")) for name, data in files],
    )


def login(
    web: Web, username: str = "alice", password: str = PASSWORD, face_ok: bool = True
) -> httpx.Response:
    """Both steps; returns the finish response (or the step-1 response when it failed)."""
    token = csrf_of(web.client.get("/login").text)
    r = web.client.post("/login", data={"csrf_token": token, "username": username,
                                         "password": password}, follow_redirects=False)
    if r.status_code != 303:
        return r
    assert r.headers["location"] == "/login/face"
    page = web.client.get("/login/face")
    face_csrf = csrf_of(page.text)
    h = {"X-CSRF-Token": face_csrf}
    assert web.client.post("/login/face/start", headers=h).status_code == 200
    web.face.verdict = FaceCheck(True, "ok", 0.8) if face_ok else FaceCheck(False, "liveness failed")
    fr = web.client.post("/login/face/frames", headers=h, data={"timestamps": "[0, 66.7]"},
                         files=[("frames", ("f0.jpg", b"x", "image/jpeg")),
                                ("frames", ("f1.jpg", b"y", "image/jpeg"))])
    assert fr.status_code == 200, fr.text
    return web.client.post("/login/face/finish", headers=h)


# ---- register ------------------------------------------------------------------------------
def test_register_creates_account_and_shows_rejected_frames(web: Web) -> None:
    r = register(web, files=[("good.jpg", b"face"), ("blurry.jpg", b"bad blur")])
    assert r.status_code == 201
    assert "Account alice created" in r.text
    assert "blurry.jpg: no face found" in r.text
    assert web.accounts.find_account("alice") is not None
    assert "alice" in web.enroller.people
    events = web.container.audit.query(AuditQuery(action="register"))
    assert [e.decision for e in events] == ["ok"]


def test_register_without_usable_face_writes_nothing(web: Web) -> None:
    r = register(web, files=[("x.jpg", b"bad one"), ("y.jpg", b"bad two")])
    assert r.status_code == 422
    assert "x.jpg: no face found" in r.text and "y.jpg: no face found" in r.text
    assert web.accounts.find_account("alice") is None


@pytest.mark.parametrize(
    ("username", "password", "again", "message"),
    [
        ("al", PASSWORD, PASSWORD, "username must be"),
        ("Bad Name!", PASSWORD, PASSWORD, "username must be"),
        ("alice", "short", "short", "password must be"),
        ("alice", PASSWORD, PASSWORD + "x", "the two passwords differ"),
    ],
)
def test_register_refuses_bad_input(web: Web, username: str, password: str, again: str, message: str) -> None:
    token = csrf_of(web.client.get("/register").text)
    r = web.client.post("/register", data={"csrf_token": token, "username": username,
                                            "password": password, "password_again": again},
                        files=[("photos", ("a.jpg", b"face", "image/jpeg"))])
    assert r.status_code in (400, 422)
    assert message in r.text
    assert web.accounts.count_accounts() == 0


def test_register_refuses_taken_username_and_no_photos(web: Web) -> None:
    assert register(web).status_code == 201
    r = register(web)
    assert r.status_code == 409 and "is taken" in r.text
    r = register(web, username="bob", files=[])
    assert r.status_code == 400 and "at least one photo" in r.text


# ---- CSRF ----------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/register", "/login", "/logout"])
def test_forms_without_or_with_wrong_csrf_are_refused(web: Web, path: str) -> None:
    web.client.get("/login")  # gets the anonymous CSRF cookie
    for data in ({}, {"csrf_token": "x" * 43}):
        r = web.client.post(path, data={**data, "username": "alice", "password": PASSWORD})
        assert r.status_code == 403
        assert r.json()["error"]["code"] == "csrf_failed"
    assert web.accounts.count_accounts() == 0


def test_csrf_token_without_its_cookie_is_refused(web: Web) -> None:
    token = csrf_of(web.client.get("/login").text)
    web.client.cookies.clear()
    r = web.client.post("/login", data={"csrf_token": token, "username": "a", "password": "b"})
    assert r.status_code == 403


def test_js_posts_need_the_session_csrf_header(web: Web) -> None:
    register(web)
    token = csrf_of(web.client.get("/login").text)
    web.client.post("/login", data={"csrf_token": token, "username": "alice", "password": PASSWORD})
    assert web.client.post("/login/face/start").status_code == 403
    # the anonymous token no longer counts once the face-stage session exists
    assert web.client.post("/login/face/start", headers={"X-CSRF-Token": token}).status_code == 403
    assert web.face.started == []


# ---- login, sessions -----------------------------------------------------------------------
def test_full_login_sets_session_and_dashboard_works(web: Web) -> None:
    register(web)
    assert web.client.get("/dashboard", follow_redirects=False).status_code == 303
    r = login(web)
    assert r.status_code == 200 and r.json()["redirect"] == "/dashboard"
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "samesite=strict" in cookie.lower()
    d = web.client.get("/dashboard")
    assert d.status_code == 200 and "Welcome, Alice A" in d.text
    assert "login" in d.text  # own access events are listed
    decisions = [e.decision for e in web.container.audit.query(AuditQuery(action="login"))]
    assert decisions == ["granted", "password_ok"]
    assert web.face.finished == [("alice", "live-1")]


def test_secure_cookie_flag_by_default(tmp_path: Path) -> None:
    for w in build_web(tmp_path, web_cookie_secure=True):
        r = w.client.get("/login")
        assert "secure" in r.headers["set-cookie"].lower()


def test_password_alone_does_not_log_in(web: Web) -> None:
    register(web)
    token = csrf_of(web.client.get("/login").text)
    web.client.post("/login", data={"csrf_token": token, "username": "alice", "password": PASSWORD})
    assert web.client.get("/dashboard", follow_redirects=False).status_code == 303
    # finishing without a liveness challenge is denied, with the generic message
    page = web.client.get("/login/face")
    r = web.client.post("/login/face/finish", headers={"X-CSRF-Token": csrf_of(page.text)})
    assert r.status_code == 401
    assert "live face check did not succeed" in r.json()["error"]["message"]
    assert web.client.get("/dashboard", follow_redirects=False).status_code == 303


def test_face_failure_is_denied_with_a_message_that_hides_the_factor(web: Web) -> None:
    register(web)
    r = login(web, face_ok=False)
    assert r.status_code == 401
    message = r.json()["error"]["message"]
    assert message == FACE_STEP_FAILED  # which step to redo (the password step had passed) ...
    assert "Log in again with your password, then redo the face check" in message
    for hidden in ("liveness", "similar", "match", "score", "0."):  # ... never why, nor a score
        assert hidden not in message.lower()
    assert web.client.get("/dashboard", follow_redirects=False).status_code == 303
    denied = web.container.audit.query(AuditQuery(action="login", decision="denied"))
    assert denied[0].details["reason"] == "liveness failed"  # the reason is in the audit log only


def test_face_step_session_is_single_use(web: Web) -> None:
    register(web)
    assert login(web).status_code == 200
    h = {"X-CSRF-Token": csrf_of(web.client.get("/dashboard").text)}
    r = web.client.post("/login/face/finish", headers=h)  # the full session is not a face step
    assert r.status_code == 401


def test_wrong_password_and_unknown_user_look_the_same(web: Web) -> None:
    register(web)
    a = login(web, password="wrong password!")
    b = login(web, username="nobody")
    assert a.status_code == b.status_code == 401
    assert "wrong username or password" in a.text and "wrong username or password" in b.text


def test_logout_ends_the_session_in_the_database(web: Web) -> None:
    register(web)
    login(web)
    with web.container.database.session() as s:
        assert s.scalar(select(func.count()).select_from(WebSession).where(WebSession.stage == "full")) == 1
    token = csrf_of(web.client.get("/dashboard").text)
    r = web.client.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303
    with web.container.database.session() as s:
        assert s.scalar(select(func.count()).select_from(WebSession)) == 0
    assert web.client.get("/dashboard", follow_redirects=False).status_code == 303


def test_session_expires_after_idle_time(web: Web) -> None:
    from datetime import timedelta

    register(web)
    login(web)
    with web.container.database.session(write=True) as s:
        row = s.scalars(select(WebSession)).one()
        row.last_seen_at = row.last_seen_at - timedelta(hours=1)
    assert web.client.get("/dashboard", follow_redirects=False).status_code == 303


def test_session_is_shared_by_processes_through_the_database(web: Web, tmp_path: Path) -> None:
    """A second app (another process in production) on the same database accepts the cookie."""
    from facegate.app.bootstrap import Container
    from facegate.app.http import create_app

    register(web)
    login(web)
    other = Container(web.container.settings)
    other._store_ready = True
    install_fakes(other, web.enroller, web.face)
    with TestClient(create_app(other.settings, other)) as c2:
        c2.cookies.update(web.client.cookies)
        assert c2.get("/dashboard").status_code == 200


# ---- lockout -------------------------------------------------------------------------------
def test_five_failures_lock_the_account_even_with_the_right_password(web: Web) -> None:
    register(web)
    for _ in range(5):
        assert login(web, password="wrong password!").status_code == 401
    r = login(web)
    assert r.status_code == 429 and "too many failed logins" in r.text
    with web.container.database.session() as s:
        assert s.scalar(select(func.count()).select_from(LoginAttempt)) == 5  # locked: not counted
    locked = web.container.audit.query(AuditQuery(action="login", decision="denied"))
    assert locked[0].details["reason"] == "locked (client)"  # this (account, address) pair


def test_the_address_limit_answers_the_login_page_with_retry_after(tmp_path: Path) -> None:
    # FACEGATE_RATE_LIMIT_LOGIN: form posts per address, before the password is even looked at
    for web in build_web(tmp_path, rate_limit_login="2/minute"):
        register(web)
        assert login(web, password="wrong password!").status_code == 401
        assert login(web, password="wrong password!").status_code == 401
        r = login(web)  # the right password, but the third post this minute from this address
        assert r.status_code == 429
        assert r.headers["content-type"].startswith("text/html")  # the page, not a JSON body
        assert "too many requests" in r.text and 'name="password"' in r.text
        assert 1 <= int(r.headers["Retry-After"]) <= 60


def test_lockout_per_client_address_across_usernames(tmp_path: Path) -> None:
    for web in build_web(tmp_path, login_client_max_failures=5):
        register(web)
        for i in range(5):
            login(web, username=f"nobody{i}", password="x" * 10)
        assert login(web).status_code == 429  # same client, another account: locked by address


def test_lock_ends_after_the_window(web: Web) -> None:
    from datetime import timedelta

    register(web)
    for _ in range(5):
        login(web, password="wrong password!")
    with web.container.database.session(write=True) as s:
        for row in s.scalars(select(LoginAttempt)):
            row.at = row.at - timedelta(seconds=61)
    assert login(web).status_code == 200


def test_lockout_limits_are_configurable(tmp_path: Path) -> None:
    for w in build_web(tmp_path, login_max_failures=2, login_window_s=30):
        register(w)
        login(w, password="wrong password!")
        login(w, password="wrong password!")
        assert login(w).status_code == 429


def test_failed_face_steps_count_towards_the_lockout(web: Web) -> None:
    register(web)
    for _ in range(5):
        assert login(web, face_ok=False).status_code == 401
    assert login(web).status_code == 429


# ---- dashboard: delete my account ----------------------------------------------------------
def test_delete_my_account_removes_account_sessions_and_face(web: Web) -> None:
    register(web)
    login(web)
    token = csrf_of(web.client.get("/dashboard").text)
    r = web.client.post("/account/delete", data={"csrf_token": token, "confirm_username": "bob"})
    assert r.status_code == 422 and web.accounts.find_account("alice") is not None
    r = web.client.post("/account/delete", data={"csrf_token": token, "confirm_username": "alice"},
                        follow_redirects=False)
    assert r.status_code == 303
    assert web.accounts.find_account("alice") is None
    assert "alice" not in web.enroller.people
    with web.container.database.session() as s:
        assert s.scalar(select(func.count()).select_from(WebSession)) == 0
    assert web.client.get("/dashboard", follow_redirects=False).status_code == 303


def test_static_assets_are_served_locally(web: Web) -> None:
    for name in ("app.css", "camera.js", "login_face.js", "register.js"):
        assert web.client.get(f"/static/{name}").status_code == 200
    page = web.client.get("/register").text
    assert "http://" not in page and "https://" not in page  # no CDN


def test_expired_sessions_and_old_attempts_are_purged_at_login(web: Web) -> None:
    from datetime import timedelta

    register(web)
    login(web, password="wrong password!")
    login(web)
    with web.container.database.session(write=True) as s:
        for row in s.scalars(select(WebSession)):
            row.expires_at = row.expires_at - timedelta(days=2)
        for att in s.scalars(select(LoginAttempt)):
            att.at = att.at - timedelta(days=2)
    login(web)
    with web.container.database.session() as s:
        assert s.scalar(select(func.count()).select_from(WebSession)) == 1  # only the new one
        assert s.scalar(select(func.count()).select_from(LoginAttempt)) == 2  # this login's two steps


def test_pages_send_security_headers_and_the_face_step_starts_once(web: Web) -> None:
    r = web.client.get("/login")
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["x-frame-options"] == "DENY"
    register(web)
    token = csrf_of(web.client.get("/login").text)
    web.client.post("/login", data={"csrf_token": token, "username": "alice", "password": PASSWORD})
    h = {"X-CSRF-Token": csrf_of(web.client.get("/login/face").text)}
    assert web.client.post("/login/face/start", headers=h).status_code == 200
    assert web.client.post("/login/face/start", headers=h).status_code == 409
    assert web.face.started == ["alice"]
