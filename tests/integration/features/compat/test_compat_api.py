"""The compatible APIs in process: envelopes, keys and scopes, groups, renames, the attacks.

(The real clients' tests against a live server: test_compat_clients.py.)
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from facegate.core.auth.principal import CLI_PRINCIPAL, SCOPE_PEOPLE_READ
from facegate.core.store.audit import AuditQuery
from tests.integration.compat_support import COMPAT_SCOPES
from tests.integration.store_helpers import store_container
from tests.store_backends import backend_url  # noqa: F401 - fixture

REC = "/api/v1/recognition"
UNKNOWN = str(uuid.uuid4())  # well-formed, never issued


@dataclass(frozen=True)
class Keys:
    a: str  # recognition service of group a (recognize, people:read, people:write)
    reader: str  # group a, people:read only
    b: str  # recognition service of group b


def _keys(c: Any) -> Keys:
    """Real UUID-shaped API keys, as `facegate apikeys create NAME --uuid` makes them."""
    def make(name: str, scopes: frozenset[str], group: str) -> str:
        return str(c.credentials.create(name, scopes, CLI_PRINCIPAL, groups=frozenset({group}),
                                        uuid_shaped=True)[1])
    return Keys(make("svc-a", COMPAT_SCOPES, "a"), make("reader", frozenset({SCOPE_PEOPLE_READ}), "a"),
                make("svc-b", COMPAT_SCOPES, "b"))


class TwoGroups:
    """PersonGroups as the groups feature would answer: people belong to one group each."""

    def __init__(self) -> None:
        self.members: dict[int, str] = {}
        self.assigned: list[tuple[int, frozenset[str] | None]] = []

    def visible_person_ids(self, groups: frozenset[str] | None) -> frozenset[int] | None:
        if groups is None:
            return None
        return frozenset(pid for pid, g in self.members.items() if g in groups)

    def assign(self, s: Session, person_id: int, groups: frozenset[str] | None) -> None:
        self.assigned.append((person_id, groups))
        if groups:
            self.members[person_id] = sorted(groups)[0]

    def threshold(self, groups: frozenset[str] | None) -> float | None:
        return None


@pytest.fixture
def app(
    shared_container: Any, tmp_path: Path, backend_url: str  # noqa: F811
) -> Iterator[tuple[TestClient, Any, Keys]]:
    """An app on each database backend (SQLite, PostgreSQL + pgvector search)."""
    from facegate.app.http import create_app

    c = store_container(shared_container, backend_url, tmp_path / "data")
    c.person_groups = TwoGroups()
    keys = _keys(c)
    with TestClient(create_app(container=c)) as client:
        yield client, c, keys


def _add(client: TestClient, key: str, subject: str, path: Path) -> Any:
    return client.post(f"{REC}/faces", params={"subject": subject}, headers={"x-api-key": key},
                       files={"file": ("x", path.read_bytes())})


def test_unknown_routes_and_methods_answer_in_each_api_s_envelope(app: Any) -> None:
    client, _, k = app
    r = client.get("/api/v1/recognition/nothing", headers={"x-api-key": k.a})
    assert r.status_code == 404 and set(r.json()) == {"message", "code"}
    r = client.patch(f"{REC}/subjects")
    assert r.status_code == 405 and set(r.json()) == {"message", "code"}
    r = client.get("/v1/vision/face")
    assert r.status_code == 405 and r.json()["success"] is False
    # FaceGate's own API keeps its envelope
    assert "error" in client.get("/v1/people/nobody").json()


def test_secure_by_default_without_a_key_store(shared_container: Any, tmp_path: Path) -> None:
    from facegate.app.http import create_app

    c = store_container(shared_container, None, tmp_path / "d")
    with TestClient(create_app(container=c)) as client:  # no key issued yet
        r = client.get(f"{REC}/subjects", headers={"x-api-key": UNKNOWN})
        assert r.status_code == 404 and r.json()["code"] == 10
        r = client.post("/v1/vision/face/list", data={"api_key": UNKNOWN})
        assert r.status_code == 401 and r.json() == {"success": False, "error": "Incorrect api key",
                                                     "duration": 0}
    refused = c.audit.query(AuditQuery(action="api_key"))
    assert len(refused) == 2 and all(e.client == "testclient" for e in refused)
    assert all(UNKNOWN not in str(e.details) for e in refused)  # the key itself is never written


def test_stranger_on_the_network(app: Any, faces_dir: Path) -> None:
    client, c, _ = app
    img = (faces_dir / "people/obama/obama.jpg").read_bytes()
    for headers, code in (({}, 20), ({"x-api-key": "guess"}, 26), ({"x-api-key": str(uuid.uuid4())}, 10)):
        r = client.post(f"{REC}/recognize", headers=headers, files={"file": ("x", img)})
        assert r.json()["code"] == code and "result" not in r.json()
    r = client.post("/v1/vision/face/recognize", data={"api_key": ""}, files={"image": ("x", img)})
    assert r.status_code == 401
    assert c.audit.count(AuditQuery(action="api_key", decision="refused")) == 4
    assert c.audit.count(AuditQuery(action="identify")) == 0


def test_a_read_only_key_cannot_write(app: Any, faces_dir: Path) -> None:
    client, _, k = app
    r = _add(client, k.reader, "Ada", faces_dir / "people/obama/obama.jpg")
    assert r.status_code == 403 and r.json()["code"] == 1
    assert client.get(f"{REC}/subjects", headers={"x-api-key": k.reader}).json() == {"subjects": []}
    r = client.post("/v1/vision/face/register", data={"api_key": k.reader, "userid": "x"},
                    files={"image": ("x", (faces_dir / "people/obama/obama.jpg").read_bytes())})
    assert r.status_code == 403 and r.json()["success"] is False


def test_groups_limit_what_a_key_sees(app: Any, faces_dir: Path) -> None:
    client, c, k = app
    assert _add(client, k.a, "Obama", faces_dir / "people/obama/obama.jpg").status_code == 201
    assert _add(client, k.b, "Biden", faces_dir / "people/biden/biden.jpg").status_code == 201
    assert [g for _, g in c.person_groups.assigned] == [frozenset({"a"}), frozenset({"b"})]
    a, b = {"x-api-key": k.a}, {"x-api-key": k.b}
    assert client.get(f"{REC}/subjects", headers=a).json() == {"subjects": ["Obama"]}
    assert client.get(f"{REC}/subjects", headers=b).json() == {"subjects": ["Biden"]}
    # group b cannot recognise, rename, delete or add to group a's subject
    r = client.post(f"{REC}/recognize", headers=b,
                    files={"file": ("x", (faces_dir / "people/obama/obama2.jpg").read_bytes())})
    assert r.json()["result"][0]["subjects"] == []
    assert client.delete(f"{REC}/subjects/Obama", headers=b).json()["code"] == 42
    assert client.put(f"{REC}/subjects/Obama", headers=b, json={"subject": "x"}).json()["code"] == 42
    assert _add(client, k.b, "Obama", faces_dir / "people/obama/obama2.jpg").status_code == 403
    assert client.delete(f"{REC}/faces", headers=b, params={"subject": "Obama"}).json() == {"deleted": 0}
    image_id = client.get(f"{REC}/faces", headers=a).json()["faces"][0]["image_id"]
    assert client.delete(f"{REC}/faces/{image_id}", headers=b).json()["code"] == 11
    r = client.post(f"{REC}/recognize", headers=a,
                    files={"file": ("x", (faces_dir / "people/obama/obama2.jpg").read_bytes())})
    assert r.json()["result"][0]["subjects"][0]["subject"] == "Obama"


def test_rename_onto_an_existing_subject_merges_and_keeps_image_ids(app: Any, faces_dir: Path) -> None:
    client, _, k = app
    h = {"x-api-key": k.a}
    first = _add(client, k.a, "barack", faces_dir / "people/obama/obama.jpg").json()["image_id"]
    second = _add(client, k.a, "Barack Obama", faces_dir / "people/obama/obama2.jpg").json()["image_id"]
    r = client.put(f"{REC}/subjects/barack", headers=h, json={"subject": "Barack Obama", "api_endpoint": 1})
    assert r.json() == {"updated": True}
    assert client.get(f"{REC}/subjects", headers=h).json() == {"subjects": ["Barack Obama"]}
    faces = client.get(f"{REC}/faces", headers=h).json()["faces"]
    assert sorted(f["image_id"] for f in faces) == sorted([first, second])
    assert {f["subject"] for f in faces} == {"Barack Obama"}
    r = client.post(f"{REC}/faces/{first}/verify", headers=h,
                    files={"file": ("x", (faces_dir / "people/obama/obama2.jpg").read_bytes())})
    assert r.json()["result"][0]["similarity"] > 0.9
    # plain rename
    assert client.put(f"{REC}/subjects/Barack Obama", headers=h, json={"subject": "B. Obama"}).json() == {
        "updated": True}
    r = client.post(f"{REC}/recognize", headers=h,
                    files={"file": ("x", (faces_dir / "scenes/obama3.jpg").read_bytes())})
    assert r.json()["result"][0]["subjects"][0]["subject"] == "B. Obama"


def test_deleting_the_last_face_keeps_the_subject_but_nobody_is_recognised(app: Any, faces_dir: Path) -> None:
    client, c, k = app
    h = {"x-api-key": k.a}
    image_id = _add(client, k.a, "Joe", faces_dir / "people/biden/biden.jpg").json()["image_id"]
    assert client.delete(f"{REC}/faces/{image_id}", headers=h).json() == {"image_id": image_id,
                                                                         "subject": "Joe"}
    assert client.get(f"{REC}/subjects", headers=h).json() == {"subjects": ["Joe"]}
    r = client.post(f"{REC}/recognize", headers=h,
                    files={"file": ("x", (faces_dir / "people/biden/biden2.jpg").read_bytes())})
    assert r.json()["result"][0]["subjects"] == []
    removed = c.audit.query(AuditQuery(action="face.remove"))
    assert removed[0].actor == "key:svc-a" and removed[0].client == "testclient"


def test_quality_gate_and_bad_images_are_compreface_errors(app: Any, faces_dir: Path) -> None:
    client, _, k = app
    h = {"x-api-key": k.a}
    r = client.post(f"{REC}/faces", params={"subject": "x"}, headers=h, files={"file": ("x", b"GIF89a..")})
    assert r.status_code == 400 and r.json()["code"] == 21
    r = client.post(f"{REC}/faces", params={"subject": "x"}, headers=h,
                    files={"file": ("x", (faces_dir / "scenes/obama_and_biden.jpg").read_bytes())})
    assert r.status_code == 400 and r.json()["code"] == 31
    r = client.post(f"{REC}/recognize", headers={**h, "content-type": "application/json"}, content=b"{")
    assert r.status_code == 400 and isinstance(r.json()["code"], int)
    assert client.get(f"{REC}/subjects", headers=h).json() == {"subjects": []}  # nothing half-written


def test_oversized_uploads_are_refused_in_each_envelope(shared_container: Any, tmp_path: Path,
                                                        faces_dir: Path) -> None:
    from facegate.app.bootstrap import Container
    from facegate.app.http import create_app
    from facegate.core.settings import Settings

    c = Container(Settings(data_dir=tmp_path / "small", max_upload_bytes=20_000))
    c.__dict__["pipeline"] = shared_container.pipeline
    _, KEY = c.credentials.create("svc", COMPAT_SCOPES, CLI_PRINCIPAL, uuid_shaped=True)
    big = (faces_dir / "scenes/obama_and_biden.jpg").read_bytes()
    assert len(big) > 20_000 * 9
    with TestClient(create_app(container=c)) as client:
        r = client.post(f"{REC}/recognize", headers={"x-api-key": KEY}, files={"file": ("x", big[:30_000])})
        assert r.status_code == 413 and r.json()["code"] == 21
        r = client.post(f"{REC}/recognize", headers={"x-api-key": KEY}, files={"file": ("x", big)})
        assert r.status_code == 413 and r.json()["code"] == 21  # whole form refused before parsing
        r = client.post("/v1/vision/face/recognize", data={"api_key": KEY}, files={"image": ("x", big)})
        assert r.status_code == 413 and r.json()["success"] is False
        many = [(f"image{i}", ("x", b"GIF89a")) for i in range(9)]
        r = client.post("/v1/vision/face/register", data={"api_key": KEY, "userid": "u"}, files=many)
        assert r.status_code == 413 and r.json()["success"] is False


def test_people_enrolled_through_v1_are_subjects_with_faces(app: Any, faces_dir: Path) -> None:
    client, c, k = app
    c.person_groups = None  # no groups feature: every key sees every person
    admin = c.credentials.create("admin", frozenset({"admin"}), CLI_PRINCIPAL)[1]
    r = client.post("/v1/people", data={"external_id": "ann"}, headers={"X-API-Key": admin},
                    files={"images": ("a.jpg", (faces_dir / "people/obama/obama.jpg").read_bytes())})
    assert r.status_code == 201, r.text
    h = {"x-api-key": k.a}
    assert client.get(f"{REC}/subjects", headers=h).json() == {"subjects": ["ann"]}
    first = client.get(f"{REC}/faces", headers=h).json()
    again = client.get(f"{REC}/faces", headers=h).json()
    assert first == again and first["total_elements"] == 1 and first["faces"][0]["subject"] == "ann"
    r = client.post("/v1/vision/face/recognize", data={"api_key": k.a},
                    files={"image": ("x", (faces_dir / "people/obama/obama2.jpg").read_bytes())})
    assert r.json()["predictions"][0]["userid"] == "ann"
