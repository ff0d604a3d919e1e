"""Every /v1 route needs a key with the right scope, on the live app (SQLite and PostgreSQL).

The route walk iterates over every route the app registers (HTTP and WebSocket) and calls it
without credentials: each must answer 401 (JSON error, ``WWW-Authenticate: Bearer``) unless it is
on the explicit allow-list, so a new route cannot ship open. The attacks of the security review
follow: anonymous enrolment, a ``recognize`` key adding faces, kiosk calls without the kiosk
scope, revoked/expired/malformed keys, and key creation escalating its scopes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute, APIWebSocketRoute
from fastapi.testclient import TestClient
from starlette.routing import Mount
from starlette.websockets import WebSocketDisconnect

from facegate.app.bootstrap import Container
from facegate.app.http import create_app
from facegate.core.settings import Settings
from facegate.core.store.audit import AuditQuery
from facegate.core.store.db import utcnow
from facegate.features.access.protocol import CLOSE_UNAUTHORIZED
from tests.auth_helpers import bearer, make_key
from tests.store_backends import BACKENDS, database_url

# Open without an API key: health, the API docs, static files
OPEN = {"/healthz", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json", "/static",
        "/static-docs", "/favicon.ico"}
# the drop-in APIs (features/compat) answer a missing key in their clients' own words
COMPAT_REFUSAL = {"/api/v1": (400, lambda body: body.get("code") == 20),
                  "/v1/vision": (401, lambda body: body.get("success") is False)}
# Web pages: their own session (and CSRF) checks, tested with the pages; never under /v1
WEB_PAGES = re.compile(r"^/($|login|logout|register|account|dashboard|elections|admin|kiosk/)")


@pytest.fixture(params=BACKENDS)
def app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[TestClient, Container]]:
    url = database_url(request.param, tmp_path)
    c = Container(Settings(data_dir=tmp_path / "data", database_url=url))
    with TestClient(create_app(container=c)) as client:
        yield client, c


def registered_routes(app: Any) -> list[tuple[str, set[str], Any, bool]]:
    """(path, methods, original route, in the schema) of every route the app serves, with the
    routers' prefixes (FastAPI >= 0.16x includes routers lazily: ``iter_route_contexts``)."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # older FastAPI: app.routes is already flat
        return [(r.path, set(getattr(r, "methods", None) or ()), r,
                 getattr(r, "include_in_schema", False)) for r in app.routes]
    return [(rc.path, set(rc.methods or ()), rc.original_route,
             bool(getattr(rc, "include_in_schema", False))) for rc in iter_route_contexts(app.routes)]


def _path(template: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", template)


def test_every_route_needs_a_key(app: tuple[TestClient, Container]) -> None:
    client, c = app
    checked, api_routes, compat_checked = 0, 0, 0
    for path, methods, route, in_schema in registered_routes(client.app):
        if isinstance(route, APIWebSocketRoute):
            with client.websocket_connect(_path(path)) as ws:
                msg = ws.receive_json()
                assert msg["error"]["code"] == "unauthorized", (path, msg)
                with pytest.raises(WebSocketDisconnect) as closed:
                    ws.receive_json()
                assert closed.value.code == CLOSE_UNAUTHORIZED
            checked += 1
            continue
        if path in OPEN or (isinstance(route, Mount) and path in OPEN):
            continue
        if isinstance(route, Mount) and path in COMPAT_REFUSAL:
            status, refused = COMPAT_REFUSAL[path]
            for sub_path, sub_methods, _, _ in registered_routes(route.app):
                for method in sorted(sub_methods - {"HEAD"}):
                    r = client.request(method, _path(path + sub_path))
                    assert r.status_code == status and refused(r.json()), (method, path + sub_path,
                                                                            r.status_code, r.text)
                    compat_checked += 1
            continue
        assert isinstance(route, APIRoute), f"unexpected route type {type(route)} at {path}"
        if not path.startswith("/v1/"):
            assert WEB_PAGES.match(path) and not in_schema, (
                f"{path} is neither an API route (/v1, key required) nor a known web page")
            continue
        for method in sorted(methods):
            r = client.request(method, _path(path))
            assert r.status_code == 401, (method, path, r.status_code, r.text)
            assert r.headers["www-authenticate"] == "Bearer"
            assert r.json()["error"]["code"] == "unauthorized"
            checked += 1
            api_routes += 1
    assert api_routes >= 30 and checked > api_routes  # the walk really saw the API and the stream
    assert compat_checked >= 15  # and the CompreFace and DeepStack routes
    denied = c.audit.query(AuditQuery(action="auth", limit=1000))
    assert len(denied) == checked and all(e.client == "testclient" for e in denied)
    refused = c.audit.query(AuditQuery(action="api_key", limit=1000))
    assert len(refused) == compat_checked and all(e.client == "testclient" for e in refused)


def test_wrong_scheme_and_junk_keys_are_401(app: tuple[TestClient, Container]) -> None:
    client, c = app
    key = make_key(c, "people:read", "reader")
    for headers in ({"Authorization": f"Basic {key}"}, {"Authorization": "Bearer"},
                    {"Authorization": "Bearer fgk_" + "x" * 43}, {"X-API-Key": "junk"},
                    {"Authorization": b"Bearer " + "\u00e9".encode("latin-1") * 30}):  # type: ignore[dict-item]
        r = client.get("/v1/people", headers=headers)
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized", headers
    assert client.get("/v1/apikeys", headers={"X-API-Key": key}).status_code == 403


def test_anonymous_enrolment_and_deletion_are_refused(app: tuple[TestClient, Container]) -> None:
    client, c = app
    files = [("images", ("a.jpg", b"\xff\xd8\xff attacker", "image/jpeg"))]
    r = client.post("/v1/people", data={"external_id": "attacker"}, files=files)
    assert r.status_code == 401
    assert client.delete("/v1/people/alice").status_code == 401
    assert client.get("/v1/people").status_code == 401
    assert "pipeline" not in c.__dict__  # refused before any model was loaded


def test_a_recognize_key_cannot_add_faces_or_manage_keys(app: tuple[TestClient, Container]) -> None:
    client, c = app
    h = bearer(make_key(c, "recognize", "matcher"))
    files = [("images", ("a.jpg", b"\xff\xd8\xff attacker", "image/jpeg"))]
    r = client.post("/v1/people/customer:C1/faces", files=files, headers=h)
    assert r.status_code == 403 and r.json()["error"]["code"] == "insufficient_scope"
    assert client.post("/v1/people", data={"external_id": "x"}, files=files, headers=h).status_code == 403
    assert client.delete("/v1/people/alice", headers=h).status_code == 403
    assert client.post("/v1/apikeys", json={"name": "x", "scopes": ["admin"]}, headers=h).status_code == 403
    e = c.audit.query(AuditQuery(action="auth", decision="forbidden"))[0]
    assert (e.actor, e.client) == ("key:matcher", "testclient")


def test_kiosk_routes_need_the_kiosk_scope(app: tuple[TestClient, Container]) -> None:
    client, c = app
    h = bearer(make_key(c, "recognize,people:write,liveness,stream", "not-a-kiosk"))
    for path, kw in (("/v1/lockers/access/challenge", {}),
                     ("/v1/lockers/access/challenge/abc/frames", {"data": {"timestamps_ms": "0"}}),
                     ("/v1/lockers/access", {}), ("/v1/lockers/1/open", {"json": {"key": "123456"}})):
        assert client.post(path, **kw).status_code == 401, path
        r = client.post(path, headers=h, **kw)
        assert r.status_code == 403 and r.json()["error"]["code"] == "insufficient_scope", path
    assert "lockers" not in c.__dict__


def test_revoked_expired_and_rotated_keys_are_401(app: tuple[TestClient, Container]) -> None:
    client, c = app
    admin = bearer(make_key(c))
    r = client.post("/v1/apikeys", json={"name": "short", "scopes": ["admin"], "expires": "1h"},
                    headers=admin)
    assert r.status_code == 201 and r.json()["key"].startswith("fgk_")
    short = bearer(r.json()["key"])
    assert client.get("/v1/apikeys", headers=short).status_code == 200
    listed = client.get("/v1/apikeys", headers=admin).json()
    assert {k["name"] for k in listed} == {"test-admin", "short"} and all(k["key"] is None for k in listed)
    with c.database.session() as s:  # an hour later
        from facegate.core.auth.models import ApiKey

        s.query(ApiKey).filter(ApiKey.name == "short").update({"expires_at": utcnow() - timedelta(1)})
    r = client.get("/v1/apikeys", headers=short)
    assert r.status_code == 401 and "expired" in r.json()["error"]["message"]
    r = client.post("/v1/apikeys", json={"name": "ci", "scopes": ["recognize"], "uuid": True},
                    headers=admin)
    ci = r.json()["key"]
    assert re.fullmatch(r"[0-9a-f-]{36}", ci)
    rotated = client.post("/v1/apikeys/ci/rotate", headers=admin).json()["key"]
    assert client.get("/v1/people", headers=bearer(ci)).status_code == 401
    assert client.get("/v1/people", headers={"X-API-Key": rotated}).status_code == 403  # valid, no scope
    assert client.post("/v1/apikeys/ci/revoke", headers=admin).json()["status"] == "revoked"
    assert client.get("/v1/people", headers={"X-API-Key": rotated}).status_code == 401


def test_key_creation_cannot_escalate(app: tuple[TestClient, Container]) -> None:
    client, c = app
    staff = bearer(make_key(c, "admin", "staff-admin", groups=frozenset({"staff"})))
    r = client.post("/v1/apikeys", json={"name": "all", "scopes": ["recognize"]}, headers=staff)
    assert r.status_code == 403 and r.json()["error"]["code"] == "scope_escalation"
    r = client.post("/v1/apikeys", json={"name": "s", "scopes": ["recognize"], "groups": ["staff"]},
                    headers=staff)
    assert r.status_code == 201 and r.json()["groups"] == ["staff"]
    r = client.post("/v1/apikeys", json={"name": "bad", "scopes": ["root"]}, headers=staff)
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_credential"


def test_the_docs_say_how_to_authenticate(app: tuple[TestClient, Container]) -> None:
    client, _ = app
    spec = client.get("/openapi.json").json()
    assert set(spec["components"]["securitySchemes"]) == {"HTTPBearer", "APIKeyHeader"}
    assert spec["paths"]["/v1/people"]["post"]["security"] == [{"HTTPBearer": []}, {"APIKeyHeader": []}]
    assert "security" not in spec["paths"]["/healthz"]["get"]


def test_api_docs_can_be_closed(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path / "data", api_docs=False))
    with TestClient(app) as client:
        for path in ("/docs", "/redoc", "/openapi.json"):
            assert client.get(path).status_code == 404
        assert client.get("/healthz").status_code == 200


def test_audit_names_the_key_and_the_client(app: tuple[TestClient, Container]) -> None:
    client, c = app
    h = bearer(make_key(c, "admin", "ops"))
    assert client.post("/v1/apikeys", json={"name": "k2", "scopes": ["stream"]}, headers=h).status_code == 201
    e = c.audit.query(AuditQuery(action="apikey.create", subject="key:k2"))[0]
    assert (e.actor, e.client) == ("key:ops", "testclient")
    assert all("fgk_" not in str(x.details) for x in c.audit.query(AuditQuery(limit=1000)))

