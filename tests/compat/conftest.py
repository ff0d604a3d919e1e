"""Shared fixtures for the CompreFace / DeepStack compatibility tests.

These tests drive a LIVE server with the real, unmodified client packages from PyPI:

    FACEGATE_COMPAT_URL   base URL of the running server, e.g. http://127.0.0.1:8765
                          (a path prefix such as http://127.0.0.1:8765/compat also works: it is
                          glued onto the clients' "port", the only place they accept one)
    FACEGATE_COMPAT_KEY   the API key (CompreFace: x-api-key header; DeepStack: api_key form field)
    FACEGATE_TEST_DATA    optional: the shared/data folder (default: found by walking up from here)

Run them with the compat venv's interpreter (compreface-sdk 0.6.0 + deepstack-python 0.8), and the
DeepStack ones again with the 0.9 venv (both venvs are made by scripts/test.sh):

    .venv-compat/bin/python -m pytest -c tests/compat/pytest.ini tests/compat
    .venv-compat9/bin/python -m pytest -c tests/compat/pytest.ini \
        tests/compat/test_deepstack_client.py tests/compat/test_deepstack_raw.py

tests/integration/test_compat_clients.py does both against a live FaceGate server. The server must
be dedicated to the run: several tests call delete_all().
"""
from __future__ import annotations

import io
import os
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest

URL = os.environ.get("FACEGATE_COMPAT_URL", "").rstrip("/")
KEY = os.environ.get("FACEGATE_COMPAT_KEY", "")



def pytest_collection_modifyitems(config, items):
    if not URL:
        skip = pytest.mark.skip(reason="FACEGATE_COMPAT_URL is not set (these tests need a live server)")
        for item in items:
            item.add_marker(skip)


def _find_data() -> Path | None:
    env = os.environ.get("FACEGATE_TEST_DATA")
    if env:
        return Path(env)
    for parent in Path(__file__).resolve().parents:
        cand = parent / "shared" / "data"
        if (cand / "faces" / "people").is_dir():
            return cand
    return None


DATA = _find_data()
FACES = DATA / "faces" if DATA else None


def _split_url() -> tuple[str, str, str]:
    """-> (scheme://host, host, port-with-optional-path-prefix)."""
    u = urlsplit(URL)
    port = str(u.port or (443 if u.scheme == "https" else 80))
    return f"{u.scheme}://{u.hostname}", u.hostname or "", port + u.path.rstrip("/")


CF_DOMAIN, DS_HOST, PORT = _split_url()


@pytest.fixture(scope="session")
def faces_dir() -> Path:
    if FACES is None or not (FACES / "people").is_dir():
        pytest.skip("face data not found: set FACEGATE_TEST_DATA to the shared/data folder")
    return FACES


@pytest.fixture(scope="session")
def img(faces_dir):
    """img("people/obama/obama.jpg") -> absolute path as str (the SDKs want str paths)."""
    def _img(rel: str) -> str:
        p = faces_dir / rel
        assert p.is_file(), p
        return str(p)
    return _img


@pytest.fixture(scope="session")
def img_bytes(img):
    def _b(rel: str) -> bytes:
        return Path(img(rel)).read_bytes()
    return _b


@pytest.fixture(scope="session")
def no_face_jpeg() -> bytes:
    """A plain grey JPEG: decodes fine, contains no face."""
    from PIL import Image
    buf = io.BytesIO()
    Image.new("RGB", (320, 240), (128, 128, 128)).save(buf, format="JPEG")
    return buf.getvalue()


@pytest.fixture(scope="session")
def no_face_path(no_face_jpeg, tmp_path_factory) -> str:
    p = tmp_path_factory.mktemp("noface") / "grey.jpg"
    p.write_bytes(no_face_jpeg)
    return str(p)


@pytest.fixture
def uniq():
    """uniq("Ada") -> "Ada 3f2a1c" — unique per call, keeps a space in it on purpose."""
    def _u(base: str) -> str:
        return f"{base} {uuid.uuid4().hex[:6]}"
    return _u


@pytest.fixture(scope="session")
def base_url() -> str:
    return URL


@pytest.fixture(scope="session")
def api_key() -> str:
    return KEY


@pytest.fixture(scope="session")
def http():
    import httpx
    with httpx.Client(base_url=URL, timeout=60) as c:
        yield c
