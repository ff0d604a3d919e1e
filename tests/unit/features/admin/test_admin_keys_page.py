"""``/admin/keys``: a web admin creates, rotates and revokes API keys (CSRF on every POST); the
secret is shown once; members and anonymous visitors get nothing."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from facegate.core.store.audit import AuditQuery
from tests.unit.features.accounts.test_web_pages import Web, build_web
from tests.unit.features.voting.test_voting_pages import logged_in, make_admin


@pytest.fixture
def web(tmp_path: Path) -> Iterator[Web]:
    yield from build_web(tmp_path)


def _secret(html: str) -> str:
    m = re.search(r'<code id="secret">([^<]+)</code>', html)
    assert m, html[:2000]
    return m.group(1)


def test_keys_page_is_for_admins_only(web: Web) -> None:
    assert web.client.get("/admin/keys", follow_redirects=False).status_code == 303
    logged_in(web)
    r = web.client.get("/admin/keys")
    assert r.status_code == 403
    r = web.client.post("/admin/keys", data={"name": "x", "scopes": ["admin"]})
    assert r.status_code == 403 and web.container.credentials.list() == []


def test_admin_creates_rotates_and_revokes_a_key(web: Web) -> None:
    token = make_admin(web)
    r = web.client.post("/admin/keys", data={"name": "ci", "scopes": ["recognize", "people:read"],
                                             "groups": "staff", "expires": "30d",
                                             "csrf_token": token})
    assert r.status_code == 200, r.text
    secret = _secret(r.text)
    creds = web.container.credentials
    p = creds.authenticate(secret)
    assert (p.name, p.scopes, p.groups) == ("key:ci", {"recognize", "people:read"}, {"staff"})
    page = web.client.get("/admin/keys").text
    assert "ci" in page and secret not in page and 'id="secret"' not in page

    r = web.client.post("/admin/keys/ci/rotate", data={"csrf_token": token})
    rotated = _secret(r.text)
    assert rotated != secret and creds.authenticate(rotated).name == "key:ci"
    r = web.client.post("/admin/keys/ci/revoke", data={"csrf_token": token},
                        follow_redirects=False)
    assert r.status_code == 303 and creds.get("ci").revoked_at is not None
    e = web.container.audit.query(AuditQuery(action="apikey.revoke"))[0]
    assert (e.actor, e.subject) == ("root1", "key:ci")


def test_bad_input_and_missing_csrf(web: Web) -> None:
    token = make_admin(web)
    r = web.client.post("/admin/keys", data={"name": "bad name", "scopes": ["recognize"],
                                             "csrf_token": token})
    assert r.status_code == 422 and "invalid name" in r.text
    r = web.client.post("/admin/keys", data={"name": "k", "csrf_token": token})
    assert r.status_code == 422 and "at least one scope" in r.text
    r = web.client.post("/admin/keys", data={"name": "k", "scopes": ["recognize"]})
    assert r.status_code == 403 and r.json()["error"]["code"] == "csrf_failed"
    r = web.client.post("/admin/keys/nope/revoke", data={"csrf_token": token})
    assert r.status_code == 404
    assert web.container.credentials.list() == []
