"""Routes build and call their services off the event loop: building a service loads models and
opens the database, which must never stall the other requests (sync work → thread pool)."""

from __future__ import annotations

import asyncio
from functools import cached_property
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from facegate.app.bootstrap import Container
from facegate.app.http import create_app
from facegate.core.errors import NotFoundError
from facegate.core.settings import Settings
from tests.auth_helpers import admin_headers


def _built_off_the_loop(name: str) -> Any:
    try:
        asyncio.get_running_loop()
    except RuntimeError:  # a worker thread: no loop runs here
        raise NotFoundError(f"{name} built off the loop") from None
    raise AssertionError(f"{name} was built on the event loop")


class Probe(Container):
    """A container whose services say where they were built (then refuse with a 404)."""

    @cached_property
    def liveness(self) -> Any:  # type: ignore[override]
        return _built_off_the_loop("liveness")

    @cached_property
    def identification(self) -> Any:  # type: ignore[override]
        return _built_off_the_loop("identification")

    @cached_property
    def enrollment(self) -> Any:  # type: ignore[override]
        return _built_off_the_loop("enrollment")

    @cached_property
    def compare(self) -> Any:  # type: ignore[override]
        return _built_off_the_loop("compare")


@pytest.fixture
def client(tmp_path: Path) -> TestClient:
    container = Probe(Settings(data_dir=tmp_path))
    app = create_app(container=container)
    client = TestClient(app, raise_server_exceptions=True)  # no lifespan: nothing is preloaded
    client.headers.update(admin_headers(container))  # every /v1 route needs a key
    return client


IMG = {"image": ("a.jpg", b"not decoded before the service", "image/jpeg")}


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "service"),
    [
        ("post", "/v1/liveness/sessions", {}, "liveness"),
        ("get", "/v1/liveness/sessions/abc", {}, "liveness"),
        ("post", "/v1/liveness/sessions/abc/frames",
         {"data": {"timestamps": "[0]", "nonce": "n"}, "files": {"frames": ("f.jpg", b"x")}},
         "liveness"),
        ("post", "/v1/identify", {"files": IMG}, "identification"),
        ("post", "/v1/verify", {"data": {"external_id": "alice"}, "files": IMG}, "identification"),
        ("get", "/v1/people", {}, "enrollment"),
        ("get", "/v1/people/alice", {}, "enrollment"),
        ("post", "/v1/people", {"data": {"external_id": "alice"}, "files": IMG}, "enrollment"),
        ("post", "/v1/compare", {"files": {"image_a": ("a.jpg", b"a"), "image_b": ("b.jpg", b"b")}},
         "compare"),
    ],
)
def test_services_are_built_in_the_thread_pool(
    client: TestClient, method: str, path: str, kwargs: dict[str, Any], service: str
) -> None:
    r = getattr(client, method)(path, **kwargs)
    assert r.status_code == 404, r.text
    assert r.json()["error"]["message"] == f"{service} built off the loop"
