"""``/v1/lockers`` and the kiosk pages over HTTP (TestClient), on the migrated store, fake models.

The container is real (migrations up to 0005_lockers, audit, accounts, sessions); only the
locker service's face parts are the fakes of ``test_locker_service`` (frames are uniform JPEGs
whose grey level says who is in them).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient

from facegate.app.bootstrap import Container
from facegate.app.http import create_app
from facegate.core.auth.sessions import STAGE_FULL
from facegate.core.settings import Settings
from facegate.core.store.audit import AuditQuery
from facegate.features.lockers.actuator import LoggingActuator
from facegate.features.lockers.keys import KeyHasher, KeyPolicy
from facegate.features.lockers.service import LockerOptions, LockerService
from tests.auth_helpers import bearer, make_key
from tests.unit.features.lockers.test_locker_service import FakeEnroller, FakeIdentify, FakeLiveness

ALICE, STRANGER = 1, 9


def jpeg_of(code: int) -> bytes:
    ok, buf = cv2.imencode(".jpg", np.full((48, 48, 3), code, dtype=np.uint8))
    assert ok
    return buf.tobytes()


def frames_form(code: int, n: int = 6) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("frames", (f"f{i}.jpg", jpeg_of(code), "image/jpeg")) for i in range(n)]


@dataclass
class Api:
    client: TestClient
    c: Container
    csrf: dict[str, str]
    kiosk: dict[str, str]
    actuator: LoggingActuator
    liveness: FakeLiveness


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir migrated to head with an admin account, copied by each test (migrating and
    hashing a password per test would cost seconds)."""
    data = tmp_path_factory.mktemp("lockers-api") / "data"
    c = Container(Settings(data_dir=data))
    c.prepare_store()
    c.accounts.create_admin("boss", "correct horse battery")
    c.shutdown()
    return data


@pytest.fixture
def api(migrated: Path, tmp_path: Path) -> Iterator[Api]:
    shutil.copytree(migrated, tmp_path / "data")
    c = Container(Settings(data_dir=tmp_path / "data"))
    c.prepare_store()
    liveness = FakeLiveness()
    actuator = LoggingActuator()
    enroller = FakeEnroller(c.database)
    c.__dict__["lockers"] = LockerService(
        c.database, c.audit, KeyHasher(b"z" * 32), actuator, lambda: enroller,
        FakeIdentify(c.database), liveness, LockerOptions(policy=KeyPolicy(max_attempts=3)),
    )
    admin = c.accounts.get_account("boss")
    token, session = c.auth.sessions.create_session(admin.id, STAGE_FULL, "testclient")
    kiosk = bearer(make_key(c, "kiosk", "hall-kiosk"))
    with TestClient(create_app(c.settings, container=c), follow_redirects=False) as client:
        client.cookies.set("fg_session", token)
        yield Api(client, c, {"X-CSRF-Token": session.csrf_token}, kiosk, actuator, liveness)


def _setup_alice(a: Api) -> None:
    for n in (12, 13):
        r = a.client.post("/v1/lockers", json={"number": n, "location": "Vault"}, headers=a.csrf)
        assert r.status_code == 201, r.text
    r = a.client.post(
        "/v1/lockers/register",
        data={"customer_id": "C1", "name": "Alice", "locker": "12"},
        files=frames_form(ALICE),
        headers=a.csrf,
    )
    assert r.status_code == 201, r.text
    assert r.json()["customer"]["lockers"] == [12]


def _error(r: Any) -> str:
    body = r.json()
    assert set(body["error"]) >= {"code", "message"}
    return str(body["error"]["code"])


def test_kiosk_flow_over_http(api: Api) -> None:
    _setup_alice(api)
    ch = api.client.post("/v1/lockers/access/challenge", headers=api.kiosk)
    assert ch.status_code == 200 and ch.json()["steps"]
    st = api.client.post(f"/v1/lockers/access/challenge/{ch.json()['id']}/frames",
                         data={"timestamps_ms": "0,66,133"}, files=frames_form(ALICE, 3),
                         headers=api.kiosk)
    assert st.status_code == 200 and st.json()["status"] == "passed", st.text
    bad = api.client.post(f"/v1/lockers/access/challenge/{ch.json()['id']}/frames",
                          data={"timestamps_ms": "0"}, files=frames_form(ALICE, 3),
                          headers=api.kiosk)
    assert bad.status_code == 400 and "timestamps" in bad.json()["error"]["message"]
    r = api.client.post(
        "/v1/lockers/access",
        data={"challenge_id": ch.json()["id"], "timestamps_ms": "0,80,160,240,320,400"},
        files=frames_form(ALICE), headers=api.kiosk,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["granted"] and body["locker"] == 12 and len(body["key"]) == 6
    wrong = f"{(int(body['key']) + 1) % 10**6:06d}"
    r = api.client.post("/v1/lockers/12/open", json={"key": wrong}, headers=api.kiosk)
    assert r.status_code == 403 and _error(r) == "key_refused"
    assert "2 attempts left" in r.json()["error"]["message"]
    r = api.client.post("/v1/lockers/12/open", json={"key": body["key"]}, headers=api.kiosk)
    assert r.status_code == 200 and r.json()["opened"] is True
    assert [o.locker_number for o in api.actuator.opened] == [12]
    r = api.client.post("/v1/lockers/12/open", json={"key": body["key"]}, headers=api.kiosk)
    assert r.status_code == 403 and "already been used" in r.json()["error"]["message"]
    entries = api.c.audit.query(AuditQuery(action="locker.open", limit=10))
    assert [e.decision for e in entries] == ["refused", "opened"]
    assert (entries[0].actor, entries[0].client) == ("key:hall-kiosk", "testclient")


def test_denials_and_bad_input_are_clear_4xx(api: Api) -> None:
    _setup_alice(api)
    r = api.client.post("/v1/lockers/access", files=frames_form(STRANGER), headers=api.kiosk)
    assert r.status_code == 403 and _error(r) == "access_denied"
    assert "face not recognised" in r.json()["error"]["message"]
    api.liveness.passed = False
    r = api.client.post("/v1/lockers/access", files=frames_form(ALICE), headers=api.kiosk)
    assert r.status_code == 403 and "liveness" in r.json()["error"]["message"]
    r = api.client.post("/v1/lockers/access", data={"timestamps_ms": "0,1"},
                        files=frames_form(ALICE), headers=api.kiosk)
    assert r.status_code == 400 and "timestamps" in r.json()["error"]["message"]
    r = api.client.post("/v1/lockers/access",
                        files=[("frames", ("x.jpg", b"not an image", "image/jpeg"))],
                        headers=api.kiosk)
    assert r.status_code == 422 and _error(r) == "invalid_image"
    r = api.client.post("/v1/lockers/access", headers=api.kiosk)
    assert r.status_code == 422 and _error(r) == "invalid_request"
    r = api.client.post("/v1/lockers/12/open", json={"key": "12ab"}, headers=api.kiosk)
    assert r.status_code == 422 and _error(r) == "invalid_key_format"
    r = api.client.post("/v1/lockers/12/open", json={}, headers=api.kiosk)
    assert r.status_code == 422
    r = api.client.post("/v1/lockers/99/open", json={"key": "123456"}, headers=api.kiosk)
    assert r.status_code == 403 and "no key" in r.json()["error"]["message"]


def test_registration_onto_a_taken_locker_is_409(api: Api) -> None:
    _setup_alice(api)
    r = api.client.post(
        "/v1/lockers/register",
        data={"customer_id": "C2", "name": "Bob", "locker": "12"},
        files=frames_form(2),
        headers=api.csrf,
    )
    assert r.status_code == 409 and _error(r) == "locker_unavailable"
    assert "locker 12 is already assigned" in r.json()["error"]["message"]
    r = api.client.post("/v1/lockers/12/release", headers=api.csrf)
    assert r.status_code == 200 and r.json()["status"] == "free"
    r = api.client.post(
        "/v1/lockers/register",
        data={"customer_id": "C2", "name": "Bob", "locker": "12"},
        files=frames_form(2),
        headers=api.csrf,
    )
    assert r.status_code == 201 and r.json()["customer"]["customer_id"] == "C2"


def test_administration_endpoints(api: Api) -> None:
    _setup_alice(api)
    r = api.client.get("/v1/lockers")
    assert [(x["number"], x["status"], x["holder"]) for x in r.json()] == [
        (12, "assigned", "C1"), (13, "free", None),
    ]
    assert api.client.post("/v1/lockers/13/assign", json={"customer_id": "C1"},
                           headers=api.csrf).json()["holder"] == "C1"
    r = api.client.post("/v1/lockers/13/block", json={"reason": "audit"}, headers=api.csrf)
    assert r.json()["status"] == "blocked" and r.json()["block_reason"] == "audit"
    assert api.client.post("/v1/lockers/13/unblock", headers=api.csrf).json()["status"] == (
        "assigned"
    )
    hist = api.client.get("/v1/lockers/13/history").json()
    assert [e["kind"] for e in hist] == ["unblock", "block", "assign", "add"]
    cust = api.client.get("/v1/lockers/customers/C1/history").json()
    assert {e["kind"] for e in cust} >= {"register", "assign"}
    assert api.client.get("/v1/lockers/customers").json()[0]["lockers"] == [12, 13]
    r = api.client.post("/v1/lockers/customers/C1/revoke", headers=api.csrf)
    assert r.status_code == 200 and r.json()["has_face"] is False
    assert api.client.get("/v1/lockers/77").status_code == 404
    r = api.client.post("/v1/lockers", json={"number": 0}, headers=api.csrf)
    assert r.status_code == 422


def test_staff_endpoints_need_an_admin_and_csrf(api: Api) -> None:
    r = api.client.post("/v1/lockers", json={"number": 5})  # admin cookie, no CSRF header
    assert r.status_code == 403 and _error(r) == "csrf_failed"
    api.client.cookies.clear()
    assert api.client.get("/v1/lockers").status_code in (303, 401)
    r = api.client.post("/v1/lockers/register", data={"customer_id": "C9", "name": "x",
                                                      "locker": "1"}, files=frames_form(1))
    assert r.status_code in (303, 401, 403)
    assert api.client.get("/kiosk/lockers/register").status_code in (303, 401)
    assert api.c.lockers.list_lockers() == []


def test_admin_page_lists_lockers_and_history(api: Api) -> None:
    _setup_alice(api)
    r = api.client.get("/kiosk/lockers/admin")
    assert r.status_code == 200 and "Alice" in r.text and "assigned" in r.text
    r = api.client.get("/kiosk/lockers/admin", params={"locker": 12})
    assert r.status_code == 200 and "History of locker 12" in r.text and "register" in r.text
    assert api.client.get("/kiosk/lockers/admin", params={"locker": 99}).status_code == 404
    api.client.cookies.clear()
    assert api.client.get("/kiosk/lockers/admin").status_code in (303, 401)


def test_kiosk_pages_are_served(api: Api) -> None:
    r = api.client.get("/kiosk/lockers/access")
    assert r.status_code == 303 and r.headers["location"] == "/kiosk/lockers/setup"
    api.client.cookies.set("fg_kiosk", "anything")
    r = api.client.get("/kiosk/lockers/access")
    assert r.status_code == 200 and "Locker access" in r.text and "kiosk.js" in r.text
    js = api.client.get("/kiosk/lockers/kiosk.js")
    assert js.status_code == 200 and "/v1/lockers/access/challenge" in js.text
    r = api.client.get("/kiosk/lockers/register")
    assert r.status_code == 200 and 'name="csrf-token"' in r.text


def _setup_kiosk(api: Api, key: str) -> Any:
    page = api.client.get("/kiosk/lockers/setup")
    assert page.status_code == 200 and 'name="key"' in page.text
    csrf = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    api.client.cookies.set("fg_csrf", csrf)  # Secure cookies are not sent back over http://
    return api.client.post("/kiosk/lockers/setup", data={"key": key, "csrf_token": csrf})


def test_a_browser_becomes_a_kiosk_with_a_kiosk_only_key(api: Api) -> None:
    _setup_alice(api)
    api.client.cookies.clear()  # the kiosk browser has no staff session
    admin = make_key(api.c, "admin", "root")
    r = _setup_kiosk(api, admin)
    assert r.status_code == 403 and "whose only scope is" in r.text
    assert "fg_kiosk" not in r.cookies
    r = _setup_kiosk(api, "fgk_" + "x" * 43)
    assert r.status_code == 401 and "invalid API key" in r.text
    key = make_key(api.c, "kiosk", "hall-b")
    r = _setup_kiosk(api, key)
    assert r.status_code == 303 and r.headers["location"] == "/kiosk/lockers/access"
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and key in cookie
    api.client.cookies.set("fg_kiosk", key)
    # the cookie alone is not enough (a form on another site could send it): the header is needed
    assert api.client.post("/v1/lockers/access/challenge").status_code == 401
    r = api.client.post("/v1/lockers/access/challenge", headers={"X-FaceGate-Kiosk": "1"})
    assert r.status_code == 200 and r.json()["steps"]
    # and an admin key in that cookie does not make the browser an admin
    api.client.cookies.set("fg_kiosk", admin)
    r = api.client.get("/v1/lockers", headers={"X-FaceGate-Kiosk": "1"})
    assert r.status_code == 401
    r = api.client.post("/v1/lockers/access/challenge", headers={"X-FaceGate-Kiosk": "1"})
    assert r.status_code == 401 and "kiosk keys" in r.json()["error"]["message"]


def test_kiosk_calls_without_a_kiosk_credential_are_refused(api: Api) -> None:
    _setup_alice(api)
    r = api.client.post("/v1/lockers/access", files=frames_form(ALICE))  # staff cookie, no key
    assert r.status_code == 401
    other = bearer(make_key(api.c, "recognize,people:write", "not-kiosk"))
    r = api.client.post("/v1/lockers/access/challenge", headers=other)
    assert r.status_code == 403 and _error(r) == "insufficient_scope"
    r = api.client.post("/v1/lockers/12/open", json={"key": "123456"}, headers=other)
    assert r.status_code == 403
    assert api.c.audit.count(AuditQuery(action="locker.access")) == 0


def test_staff_endpoints_take_an_admin_key_instead_of_a_session(api: Api) -> None:
    api.client.cookies.clear()
    h = bearer(make_key(api.c, "admin", "ops"))
    r = api.client.post("/v1/lockers", json={"number": 7}, headers=h)  # a key needs no CSRF
    assert r.status_code == 201
    assert api.client.get("/v1/lockers", headers=api.kiosk).status_code == 403
    assert [x.number for x in api.c.lockers.list_lockers()] == [7]
    e = api.c.audit.query(AuditQuery(action="locker.add"))
    assert e and e[0].actor == "key:ops"
