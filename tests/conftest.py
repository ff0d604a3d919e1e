"""Shared fixtures. Real data comes from ``FACEGATE_TEST_DATA`` or ``../shared/data``."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# Apps built by tests load models and galleries on first use, not at start (each test builds its
# own app); tests/integration/app/test_preload.py checks the server's default, preload at start.
os.environ.setdefault("FACEGATE_PRELOAD", "false")


def _data_root() -> Path:
    env = os.environ.get("FACEGATE_TEST_DATA")
    return (Path(env) if env else REPO.parent / "shared" / "data").resolve()


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """Root of the shared face data (LFW, NUAA, faces, videos); skips when absent."""
    root = _data_root()
    if not (root / "faces").is_dir():
        pytest.skip(f"shared face data not found at {root} (set FACEGATE_TEST_DATA)")
    return root


@pytest.fixture(scope="session")
def faces_dir(data_dir: Path) -> Path:
    return data_dir / "faces"


@pytest.fixture(scope="session")
def lfw_dir(data_dir: Path) -> Path:
    d = data_dir / "lfw"
    if not (d / "pairs.txt").is_file():
        pytest.skip(f"LFW not found at {d}")
    return d


@pytest.fixture
def settings(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Settings isolated in a temporary data dir (SQLite file inside it)."""
    from facegate.core.settings import Settings

    return Settings(data_dir=tmp_path / "data")


@pytest.fixture(scope="session")
def shared_container(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """One container with models loaded, shared by read-only vision tests (models load once)."""
    from facegate.app.bootstrap import Container
    from facegate.core.settings import Settings

    return Container(Settings(data_dir=tmp_path_factory.mktemp("shared-data")))


@pytest.fixture
def client(settings) -> Iterator[object]:  # type: ignore[no-untyped-def]
    """A TestClient on a fresh app with its own data dir, sending an admin API key."""
    from fastapi.testclient import TestClient

    from facegate.app.bootstrap import Container
    from facegate.app.http import create_app
    from tests.auth_helpers import admin_headers

    container = Container(settings)
    with TestClient(create_app(container=container), headers=admin_headers(container)) as c:
        yield c


# tests/compat drive a live server with the real CompreFace/DeepStack client packages, which live in
# their own virtual environments: tests/integration/test_compat_clients.py runs them there.
collect_ignore = ["compat"]
