"""The compatible APIs over FaceGate's real groups (``container.person_groups`` = the group
service): a key limited to a group sees and fills that group only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from facegate.app.http import create_app
from facegate.core.auth.principal import CLI_PRINCIPAL
from tests.integration.compat_support import COMPAT_SCOPES
from tests.integration.store_helpers import store_container

REC = "/api/v1/recognition"


def test_a_staff_key_fills_and_sees_staff_only(shared_container: Any, faces_dir: Path,
                                               tmp_path: Path) -> None:
    c = store_container(shared_container, None, tmp_path / "data")
    assert c.person_groups is c.groups
    c.enrollment.enroll("biden", [_image(faces_dir, "biden")])
    _, key = c.credentials.create("staff-svc", COMPAT_SCOPES, CLI_PRINCIPAL,
                                  groups=frozenset({"staff"}), uuid_shaped=True)
    h = {"x-api-key": str(key)}
    with TestClient(create_app(container=c)) as client:
        photo = (faces_dir / "people/obama/obama.jpg").read_bytes()
        r = client.post(f"{REC}/faces", params={"subject": "Obama"}, headers=h,
                        files={"file": ("o.jpg", photo, "image/jpeg")})
        assert r.status_code == 201, r.text
        assert client.get(f"{REC}/subjects", headers=h).json() == {"subjects": ["Obama"]}  # no biden
        assert client.post(f"{REC}/subjects", headers=h, json={"subject": "Empty"}).status_code == 201
    assert c.enrollment.show_person("Obama").groups == ("staff",)  # not also 'default'
    assert c.enrollment.show_person("Empty").groups == ("staff",)
    assert c.enrollment.show_person("biden").groups == ("default",)
    c.shutdown()


def _image(faces_dir: Path, name: str) -> Any:
    from facegate.core.vision.images import read_image_file

    return read_image_file(faces_dir / f"people/{name}/{name}.jpg")
