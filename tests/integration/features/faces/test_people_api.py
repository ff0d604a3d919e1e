"""REST: /v1/people, /v1/people/{id}/faces, /v1/verify, /v1/identify on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from facegate.app.bootstrap import Container
from facegate.app.http import create_app
from facegate.core.settings import Settings
from facegate.core.store.audit import AuditQuery
from tests.auth_helpers import admin_headers, bearer, make_key
from tests.store_backends import BACKENDS, database_url


@pytest.fixture(params=BACKENDS)
def api(request: pytest.FixtureRequest, shared_container: Any, tmp_path: Path) -> Iterator[Any]:
    settings = Settings(data_dir=tmp_path / "d", database_url=database_url(request.param, tmp_path))
    c = Container(settings)
    c.__dict__["pipeline"] = shared_container.pipeline  # reuse the loaded models
    with TestClient(create_app(container=c), headers=admin_headers(c)) as client:
        yield client


def _file(faces_dir: Path, rel: str) -> tuple[str, bytes, str]:
    return (Path(rel).name, (faces_dir / rel).read_bytes(), "image/jpeg")


def test_people_lifecycle(api: Any, faces_dir: Path) -> None:
    r = api.post(
        "/v1/people",
        data={"external_id": "obama", "display_name": "Barack Obama"},
        files=[("images", _file(faces_dir, "people/obama/obama.jpg"))],
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["created"] and body["person"]["samples"] == 1 and body["accepted"] == ["obama.jpg"]

    dup = api.post("/v1/people", data={"external_id": "obama"},
                   files=[("images", _file(faces_dir, "people/obama/obama2.jpg"))])
    assert dup.status_code == 409 and dup.json()["error"]["code"] == "conflict"

    add = api.post("/v1/people/obama/faces",
                   files=[("images", _file(faces_dir, "people/obama/obama2.jpg")),
                          ("images", _file(faces_dir, "scenes/obama_and_biden.jpg"))])
    assert add.status_code == 200, add.text
    assert add.json()["person"]["samples"] == 2
    assert add.json()["rejected"] == [
        {"image": "obama_and_biden.jpg", "reason": "3 faces found; enrolment needs exactly one"}
    ]
    missing = api.post("/v1/people/nobody/faces",
                       files=[("images", _file(faces_dir, "people/obama/obama2.jpg"))])
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"

    listed = api.get("/v1/people").json()
    assert listed["count"] == 1 and listed["people"][0]["id"] == "obama"
    shown = api.get("/v1/people/obama").json()
    assert sorted(t["mean"] for t in shown["templates"]) == [False, False, True]
    assert "embedding" not in str(shown) and "ciphertext" not in str(shown)
    assert api.get("/v1/people/nobody").status_code == 404

    assert api.delete("/v1/people/obama").json()["samples"] == 2
    assert api.get("/v1/people/obama").status_code == 404
    assert api.delete("/v1/people/obama").status_code == 404


def test_no_usable_face_is_422_with_reason_and_nothing_written(api: Any, faces_dir: Path) -> None:
    r = api.post("/v1/people", data={"external_id": "group"},
                 files=[("images", _file(faces_dir, "scenes/team_photo_16_faces.jpg"))])
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["code"] == "face_quality"
    assert err["reasons"] == ["team_photo_16_faces.jpg: 16 faces found; enrolment needs exactly one"]
    assert api.get("/v1/people").json()["count"] == 0
    bad = api.post("/v1/people", data={"external_id": "x"},
                   files=[("images", ("x.jpg", b"not an image", "image/jpeg"))])
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_image"
    assert api.get("/v1/people").json()["count"] == 0


def test_verify_and_identify(api: Any, faces_dir: Path) -> None:
    for ext, rel in [("obama", "people/obama/obama.jpg"), ("biden", "people/biden/biden2.jpg")]:
        assert api.post("/v1/people", data={"external_id": ext},
                        files=[("images", _file(faces_dir, rel))]).status_code == 201
    matcher = bearer(make_key(api.app.state.container, "recognize", "matcher"))
    v = api.post("/v1/verify", data={"external_id": "obama"},
                 files={"image": _file(faces_dir, "scenes/obama1.jpg")}, headers=matcher)
    assert v.status_code == 200 and v.json()["verified"] and v.json()["decision"] == "granted"
    assert v.json()["threshold"] == 0.325  # 1:1 (SFace's measured LFW threshold), not 1:N 0.48
    refused = api.post("/v1/people/obama/faces", headers=matcher,
                       files=[("images", _file(faces_dir, "people/biden/biden2.jpg"))])
    assert refused.status_code == 403  # a recognize key cannot add faces
    logged = api.app.state.container.audit.query(AuditQuery(action="verify"))[0]
    assert (logged.actor, logged.client) == ("key:matcher", "testclient")
    v2 = api.post("/v1/verify", data={"external_id": "biden"},
                  files={"image": _file(faces_dir, "scenes/obama1.jpg")})
    assert v2.status_code == 200 and not v2.json()["verified"]
    v404 = api.post("/v1/verify", data={"external_id": "nobody"},
                    files={"image": _file(faces_dir, "scenes/obama1.jpg")})
    assert v404.status_code == 404
    i = api.post("/v1/identify", files={"image": _file(faces_dir, "scenes/obama_and_biden.jpg")})
    assert i.status_code == 200
    faces = i.json()["faces"]
    assert sorted(f["label"] for f in faces) == ["biden", "obama", "unknown"]
    assert all(len(f["candidates"]) == 2 for f in faces)
    empty = api.post("/v1/identify", files={"image": ("b.png", _blank_png(), "image/png")})
    assert empty.status_code == 200 and empty.json()["faces"] == []


def _blank_png() -> bytes:
    import cv2
    import numpy as np

    ok, buf = cv2.imencode(".png", np.full((64, 64, 3), 200, dtype=np.uint8))
    assert ok
    return bytes(buf)
