"""The compatible APIs in process: envelopes, keys and scopes, groups, renames, the attacks.

(The real clients' tests against a live server: test_compat_clients.py.)
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from facegate.core.auth.principal import SCOPE_PEOPLE_READ, Principal
from facegate.core.store.audit import AuditQuery
from tests.integration.compat_support import COMPAT_SCOPES, StaticKeys
from tests.integration.store_helpers import store_container
from tests.store_backends import backend_url  # noqa: F401 - fixture

REC = "/api/v1/recognition"
KEY = str(uuid.uuid4())
READER = str(uuid.uuid4())
OTHER_GROUP = str(uuid.uuid4())


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
) -> Iterator[tuple[TestClient, Any]]:
    """An app on each database backend (SQLite, PostgreSQL + pgvector search)."""
    from facegate.app.http import create_app

    c = store_container(shared_container, backend_url, tmp_path / "data")
    c.credentials = StaticKeys({
        KEY: Principal("key:a", "api_key", COMPAT_SCOPES, frozenset({"a"})),
        READER: Principal("key:reader", "api_key", frozenset({SCOPE_PEOPLE_READ}), frozenset({"a"})),
        OTHER_GROUP: Principal("key:b", "api_key", COMPAT_SCOPES, frozenset({"b"})),
    })
    c.person_groups = TwoGroups()
    with TestClient(create_app(container=c)) as client:
        yield client, c


def _add(client: TestClient, key: str, subject: str, path: Path) -> Any:
    return client.post(f"{REC}/faces", params={"subject": subject}, headers={"x-api-key": key},
                       files={"file": ("x", path.read_bytes())})


def test_unknown_routes_and_methods_answer_in_each_api_s_envelope(app: Any) -> None:
    client, _ = app
    r = client.get("/api/v1/recognition/nothing", headers={"x-api-key": KEY})
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
    with TestClient(create_app(container=c)) as client:  # no container.credentials
        r = client.get(f"{REC}/subjects", headers={"x-api-key": KEY})
        assert r.status_code == 404 and r.json()["code"] == 10
        r = client.post("/v1/vision/face/list", data={"api_key": KEY})
        assert r.status_code == 401 and r.json() == {"success": False, "error": "Incorrect api key",
                                                     "duration": 0}
    refused = c.audit.query(AuditQuery(action="api_key"))
    assert len(refused) == 2 and all(e.details["client"] == "testclient" for e in refused)
    assert all(KEY not in str(e.details) for e in refused)  # the key itself is never written


def test_stranger_on_the_network(app: Any, faces_dir: Path) -> None:
    client, c = app
    img = (faces_dir / "people/obama/obama.jpg").read_bytes()
    for headers, code in (({}, 20), ({"x-api-key": "guess"}, 26), ({"x-api-key": str(uuid.uuid4())}, 10)):
        r = client.post(f"{REC}/recognize", headers=headers, files={"file": ("x", img)})
        assert r.json()["code"] == code and "result" not in r.json()
    r = client.post("/v1/vision/face/recognize", data={"api_key": ""}, files={"image": ("x", img)})
    assert r.status_code == 401
    assert c.audit.count(AuditQuery(action="api_key", decision="refused")) == 4
    assert c.audit.count(AuditQuery(action="identify")) == 0


def test_a_read_only_key_cannot_write(app: Any, faces_dir: Path) -> None:
    client, _ = app
    r = _add(client, READER, "Ada", faces_dir / "people/obama/obama.jpg")
    assert r.status_code == 403 and r.json()["code"] == 1
    assert client.get(f"{REC}/subjects", headers={"x-api-key": READER}).json() == {"subjects": []}
    r = client.post("/v1/vision/face/register", data={"api_key": READER, "userid": "x"},
                    files={"image": ("x", (faces_dir / "people/obama/obama.jpg").read_bytes())})
    assert r.status_code == 403 and r.json()["success"] is False


def test_groups_limit_what_a_key_sees(app: Any, faces_dir: Path) -> None:
    client, c = app
    assert _add(client, KEY, "Obama", faces_dir / "people/obama/obama.jpg").status_code == 201
    assert _add(client, OTHER_GROUP, "Biden", faces_dir / "people/biden/biden.jpg").status_code == 201
    assert [g for _, g in c.person_groups.assigned] == [frozenset({"a"}), frozenset({"b"})]
    a, b = {"x-api-key": KEY}, {"x-api-key": OTHER_GROUP}
    assert client.get(f"{REC}/subjects", headers=a).json() == {"subjects": ["Obama"]}
    assert client.get(f"{REC}/subjects", headers=b).json() == {"subjects": ["Biden"]}
    # group b cannot recognise, rename, delete or add to group a's subject
    r = client.post(f"{REC}/recognize", headers=b,
                    files={"file": ("x", (faces_dir / "people/obama/obama2.jpg").read_bytes())})
    assert r.json()["result"][0]["subjects"] == []
    assert client.delete(f"{REC}/subjects/Obama", headers=b).json()["code"] == 42
    assert client.put(f"{REC}/subjects/Obama", headers=b, json={"subject": "x"}).json()["code"] == 42
    assert _add(client, OTHER_GROUP, "Obama", faces_dir / "people/obama/obama2.jpg").status_code == 403
    assert client.delete(f"{REC}/faces", headers=b, params={"subject": "Obama"}).json() == {"deleted": 0}
    image_id = client.get(f"{REC}/faces", headers=a).json()["faces"][0]["image_id"]
    assert client.delete(f"{REC}/faces/{image_id}", headers=b).json()["code"] == 11
    r = client.post(f"{REC}/recognize", headers=a,
                    files={"file": ("x", (faces_dir / "people/obama/obama2.jpg").read_bytes())})
    assert r.json()["result"][0]["subjects"][0]["subject"] == "Obama"


def test_rename_onto_an_existing_subject_merges_and_keeps_image_ids(app: Any, faces_dir: Path) -> None:
    client, _ = app
    h = {"x-api-key": KEY}
    first = _add(client, KEY, "barack", faces_dir / "people/obama/obama.jpg").json()["image_id"]
    second = _add(client, KEY, "Barack Obama", faces_dir / "people/obama/obama2.jpg").json()["image_id"]
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
    client, c = app
    h = {"x-api-key": KEY}
    image_id = _add(client, KEY, "Joe", faces_dir / "people/biden/biden.jpg").json()["image_id"]
    assert client.delete(f"{REC}/faces/{image_id}", headers=h).json() == {"image_id": image_id,
                                                                         "subject": "Joe"}
    assert client.get(f"{REC}/subjects", headers=h).json() == {"subjects": ["Joe"]}
    r = client.post(f"{REC}/recognize", headers=h,
                    files={"file": ("x", (faces_dir / "people/biden/biden2.jpg").read_bytes())})
    assert r.json()["result"][0]["subjects"] == []
    removed = c.audit.query(AuditQuery(action="face.remove"))
    assert removed[0].actor == "key:a" and removed[0].details["client"] == "testclient"


def test_quality_gate_and_bad_images_are_compreface_errors(app: Any, faces_dir: Path) -> None:
    client, _ = app
    h = {"x-api-key": KEY}
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
    c.credentials = StaticKeys({KEY: Principal("key:a", "api_key", COMPAT_SCOPES, None)})
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
    client, c = app
    c.person_groups = None  # no groups feature: every key sees every person
    r = client.post("/v1/people", data={"external_id": "ann"},
                    files={"images": ("a.jpg", (faces_dir / "people/obama/obama.jpg").read_bytes())})
    assert r.status_code == 201, r.text
    h = {"x-api-key": KEY}
    assert client.get(f"{REC}/subjects", headers=h).json() == {"subjects": ["ann"]}
    first = client.get(f"{REC}/faces", headers=h).json()
    again = client.get(f"{REC}/faces", headers=h).json()
    assert first == again and first["total_elements"] == 1 and first["faces"][0]["subject"] == "ann"
    r = client.post("/v1/vision/face/recognize", data={"api_key": KEY},
                    files={"image": ("x", (faces_dir / "people/obama/obama2.jpg").read_bytes())})
    assert r.json()["predictions"][0]["userid"] == "ann"
