"""Groups and one face, one identity with the real models and real photos, on SQLite and
PostgreSQL: the REST API, the web sign-up (one person cannot hold two accounts, so cannot vote
twice), a door that admits only its groups, and the CLI."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from facegate.app.bootstrap import Container
from facegate.app.http import create_app
from facegate.core.auth.principal import CLI_PRINCIPAL
from facegate.core.errors import DuplicateFaceError, NotFoundError
from facegate.core.settings import Settings
from facegate.core.store.audit import AuditQuery
from facegate.core.vision.images import read_image_file
from tests.auth_helpers import bearer, make_device, make_key
from tests.integration.store_helpers import cli_runner
from tests.store_backends import BACKENDS, database_url

PASSWORD = "integration pw 1"


@pytest.fixture(params=BACKENDS)
def site(
    request: pytest.FixtureRequest, shared_container: Any, tmp_path: Path
) -> Iterator[tuple[TestClient, Container]]:
    # the door part streams one still photo: door liveness off (this test is about groups; the
    # door modes are tested in tests/integration/features/access/test_door_liveness_real.py)
    settings = Settings(data_dir=tmp_path / "d", database_url=database_url(request.param, tmp_path),
                        web_cookie_secure=False, stream_door_liveness="off")
    c = Container(settings)
    c.__dict__["pipeline"] = shared_container.pipeline  # reuse the loaded models
    with TestClient(create_app(settings, c)) as client:
        # a non-admin key of every group (the override and the other person's name need admin)
        client.headers.update(bearer(make_key(c, "people:read,people:write,recognize", "ci")))
        yield client, c


def _file(faces_dir: Path, rel: str) -> tuple[str, tuple[str, bytes, str]]:
    return ("images", (Path(rel).name, (faces_dir / rel).read_bytes(), "image/jpeg"))


def test_api_refuses_a_second_identity_for_one_face(site: Any, faces_dir: Path) -> None:
    api, c = site
    r = api.post("/v1/people", data={"external_id": "obama", "group": "staff"},
                 files=[_file(faces_dir, "people/obama/obama.jpg")])
    assert r.status_code == 201 and r.json()["person"]["groups"] == ["staff"]
    again = api.post("/v1/people", data={"external_id": "barack", "group": "staff"},
                     files=[_file(faces_dir, "people/obama/obama2.jpg")])
    assert again.status_code == 409, again.text
    err = again.json()["error"]
    assert err["code"] == "duplicate_face" and "obama" not in err["message"]  # names nobody
    forced = api.post("/v1/people", data={"external_id": "barack", "group": "staff",
                                          "allow_duplicate": "true"},
                      files=[_file(faces_dir, "people/obama/obama2.jpg")])
    assert forced.status_code == 403  # only an administrator may override
    admin = bearer(make_key(c))
    named = api.post("/v1/people", data={"external_id": "barack", "group": "staff"},
                     files=[_file(faces_dir, "people/obama/obama2.jpg")], headers=admin)
    assert named.status_code == 409 and "matches person 'obama'" in named.text  # admins see who
    limited = bearer(make_key(c, "people:write", "web-only", groups=frozenset({"web"})))
    outside = api.post("/v1/people", data={"external_id": "carl", "group": "staff"},
                       files=[_file(faces_dir, "people/biden/biden.jpg")], headers=limited)
    assert outside.status_code == 403  # a key limited to 'web' cannot enrol into 'staff'
    r = api.post("/v1/people", data={"external_id": "biden"},
                 files=[_file(faces_dir, "people/biden/biden.jpg")])
    assert r.status_code == 201 and r.json()["person"]["groups"] == ["default"]
    # biden is in 'default', obama in 'staff': different galleries, so this is no duplicate …
    r = api.post("/v1/people/biden/faces", files=[_file(faces_dir, "people/biden/biden2.jpg")])
    assert r.status_code == 200
    # … but obama's face added to biden, once biden is also staff, is
    c.groups.change_memberships("biden", add=["staff"])
    r = api.post("/v1/people/biden/faces", files=[_file(faces_dir, "scenes/obama1.jpg")])
    assert r.status_code == 409 and r.json()["error"]["code"] == "duplicate_face"
    nobody = api.post("/v1/people", data={"external_id": "crowd"},
                      files=[_file(faces_dir, "scenes/obama_and_biden.jpg")])
    assert nobody.status_code == 422 and api.get("/v1/people/crowd").status_code == 404
    empty = api.post("/v1/people", data={"external_id": "ghost"})
    assert empty.status_code == 422 and api.get("/v1/people/ghost").status_code == 404
    refused = c.audit.query(AuditQuery(action="enroll", decision="refused"))
    assert {e.details.get("duplicate_of") for e in refused} >= {"obama"}


def test_identify_and_verify_take_groups(site: Any, faces_dir: Path) -> None:
    api, _ = site
    for ext, rel, group in (("obama", "people/obama/obama.jpg", "staff"),
                            ("biden", "people/biden/biden.jpg", "web")):
        assert api.post("/v1/people", data={"external_id": ext, "group": group},
                        files=[_file(faces_dir, rel)]).status_code == 201
    scene = [("image", ("s.jpg", (faces_dir / "scenes/obama_and_biden.jpg").read_bytes(),
                        "image/jpeg"))]

    def known(*groups: str) -> list[str]:
        r = api.post("/v1/identify", data={"group": list(groups)} if groups else {}, files=scene)
        assert r.status_code == 200, r.text
        return sorted(f["person"] for f in r.json()["faces"] if f["known"])

    assert known() == ["biden", "obama"]
    assert known("staff") == ["obama"]
    assert known("web") == ["biden"]
    assert known("staff,web") == ["biden", "obama"] == known("staff", "web")
    bad = api.post("/v1/identify", data={"group": "Not Valid"}, files=scene)
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_group_name"
    assert api.post("/v1/identify", data={"group": "ghosts"}, files=scene).status_code == 404
    probe = [("image", ("o.jpg", (faces_dir / "scenes/obama1.jpg").read_bytes(), "image/jpeg"))]
    ok = api.post("/v1/verify", data={"external_id": "obama", "group": "staff"}, files=probe)
    assert ok.status_code == 200 and ok.json()["verified"]
    outside = api.post("/v1/verify", data={"external_id": "obama", "group": "web"}, files=probe)
    assert outside.status_code == 404
    # a key limited to 'web' searches 'web' only, and may not name 'staff' (the attack: a site's
    # key used to look for employees)
    _, c = site
    web_key = bearer(make_key(c, "recognize", "site", groups=frozenset({"web"})))
    r = api.post("/v1/identify", files=scene, headers=web_key)
    assert sorted(f["person"] for f in r.json()["faces"] if f["known"]) == ["biden"]
    r = api.post("/v1/identify", data={"group": "staff"}, files=scene, headers=web_key)
    assert r.status_code == 403
    r = api.post("/v1/verify", data={"external_id": "obama"}, files=probe, headers=web_key)
    assert r.status_code == 404  # outside the key's groups: as if unknown


def _csrf(html: str) -> str:
    m = re.search(r'name="csrf-token" content="([^"]+)"', html)
    assert m
    return m.group(1)


def _sign_up(client: TestClient, username: str, files: list[tuple[str, bytes]]) -> Any:
    client.cookies.clear()
    token = _csrf(client.get("/register").text)
    return client.post(
        "/register",
        data={"csrf_token": token, "username": username, "display_name": username.title(),
              "password": PASSWORD, "password_again": PASSWORD, "source": "upload"},
        files=[("photos", (n, d, "image/jpeg")) for n, d in files],
    )


def test_one_person_one_web_account_and_doors_admit_only_their_groups(
    site: Any, faces_dir: Path
) -> None:
    client, c = site
    obama = faces_dir / "people/obama"
    r = _sign_up(client, "voter1", [("a.jpg", (obama / "obama.jpg").read_bytes())])
    assert r.status_code == 201, r.text
    # the same person, other photos, second account: refused, naming nobody
    r = _sign_up(client, "voter2", [("b.jpg", (obama / "obama2.jpg").read_bytes())])
    assert r.status_code == 409 and "already enrolled as another person" in r.text
    assert "voter1" not in r.text
    assert [a.username for a in c.accounts.list_accounts()] == ["voter1"]
    assert c.enrollment.show_person("voter1").groups == ("web",)
    # so there is one account to vote with, and an account votes once (voting service)
    from datetime import UTC, datetime, timedelta

    now = datetime.now(UTC)
    e = c.voting.create_election("Board", ["Red", "Green"], now - timedelta(hours=1),
                                 now + timedelta(hours=1), "test")
    assert c.accounts.count_accounts() == 1 and e.id > 0
    # a web sign-up is not granted at a door until put in one of the door's groups
    frame = read_image_file(faces_dir / "scenes/obama3.jpg")
    token = make_device(c, "door", frozenset())  # a new door: no group

    def at_the_door() -> Any:
        door = c.credentials.authenticate(token)  # the groups it admits: its credential's
        session = c.access.open_session(door.name, door.groups)
        return [session.process_image(frame).decision for _ in range(3)][-1]

    assert (at_the_door().status, at_the_door().reason) == ("denied", "no_groups")  # new door
    c.credentials.set_groups("door", frozenset({"staff"}), CLI_PRINCIPAL)
    assert (at_the_door().status, at_the_door().reason) == ("denied", "unknown")
    c.groups.change_memberships("voter1", add=["staff"])
    assert (at_the_door().status, at_the_door().person) == ("granted", "voter1")


def test_cli_groups_memberships_devices_and_override(
    shared_container: Any, faces_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FACEGATE_DATA_DIR", str(tmp_path / "d"))
    monkeypatch.setenv("FACEGATE_DATABASE_URL", database_url("sqlite", tmp_path))
    p = faces_dir / "people"
    with cli_runner(shared_container) as cli:
        assert cli("groups", "create", "night").exit_code == 0
        r = cli("people", "add", "obama", p / "obama/obama.jpg", "--group", "night,staff")
        assert r.exit_code == 0 and "groups night,staff" in r.output
        with pytest.raises(DuplicateFaceError, match="matches person 'obama'"):  # admins see who
            cli("people", "add", "barack", p / "obama/obama2.jpg", "-g", "staff")
        r = cli("people", "add", "barack", p / "obama/obama2.jpg", "-g", "staff",
                "--allow-duplicate")
        assert r.exit_code == 0 and "matches obama (audited)" in r.output
        r = cli("people", "groups", "obama", "--remove", "night", "--add", "default")
        assert r.output.strip() == "obama: default, staff"
        listed = cli("groups", "list").output
        assert "night\t0 member(s)" in listed and "staff\t2 member(s)" in listed
        assert cli("groups", "delete", "night").exit_code == 0
        with pytest.raises(Exception, match="2 member"):
            cli("groups", "delete", "staff")
        assert "groups default,staff" in cli("people", "show", "obama").output
        assert cli("devices", "add", "front").exit_code == 0
        assert "admits nobody" in cli("devices", "list").output
        r = cli("devices", "groups", "front", "staff,customers")
        assert r.output.strip() == "front admits: customers, staff"
        with pytest.raises(NotFoundError):
            cli("devices", "groups", "front", "ghosts")
        r = cli("identify", faces_dir / "scenes/obama1.jpg", "--group", "default")
        assert "  1: obama" in r.output
        r = cli("identify", faces_dir / "scenes/obama1.jpg", "--group", "customers")
        assert "  1: unknown" in r.output
