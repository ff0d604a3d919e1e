"""The server loads the face models and the in-memory gallery at start, not on the first request."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from facegate.app.bootstrap import Container
from facegate.app.http import create_app
from facegate.core.people.identification import MemorySearch
from facegate.core.settings import Settings
from tests.auth_helpers import admin_headers
from tests.integration.store_helpers import image, store_container


def _enrolled_store(shared: Any, data: Path, faces_dir: Path) -> None:
    c = store_container(shared, None, data)
    c.enrollment.enroll("obama", [image(faces_dir, "people/obama/obama.jpg")], "Barack Obama")
    c.shutdown()


def test_server_start_loads_models_and_gallery(
    shared_container: Any, tmp_path: Path, faces_dir: Path
) -> None:
    data = tmp_path / "d"
    _enrolled_store(shared_container, data, faces_dir)
    container = Container(Settings(data_dir=data, preload=True))  # a fresh "process"
    headers = admin_headers(container)
    with TestClient(create_app(container=container), headers=headers) as client:
        assert "pipeline" in container.__dict__  # models loaded by the start, before any request
        search = container.template_search
        assert isinstance(search, MemorySearch) and search.reloads == 1
        assert len(search.gallery("sface")) == 1
        with open(faces_dir / "scenes/obama1.jpg", "rb") as f:
            r = client.post("/v1/identify", files={"image": ("o.jpg", f, "image/jpeg")})
        assert r.status_code == 200, r.text
        assert [f["person"] for f in r.json()["faces"]] == ["obama"]
        assert search.reloads == 1  # the first request found the gallery already loaded


def test_preload_can_be_switched_off(tmp_path: Path) -> None:
    container = Container(Settings(data_dir=tmp_path / "d", preload=False))
    with TestClient(create_app(container=container)) as client:
        assert client.get("/healthz").status_code == 200
        assert "pipeline" not in container.__dict__
