"""The CompreFace and DeepStack clients from PyPI, unmodified, against a live FaceGate server.

A real uvicorn server on a free loopback port serves a fresh SQLite data dir; a UUID API key is
created for it (recognize, people:read, people:write; group "compat-test"); the client tests of
tests/compat then run in their own virtual environments (made by scripts/test.sh):
.venv-compat (compreface-sdk 0.6.0, deepstack-python 0.8, the version Home Assistant pins) and
.venv-compat9 (deepstack-python 0.9). Override the locations with FACEGATE_COMPAT_VENV and
FACEGATE_COMPAT9_VENV.
"""

from __future__ import annotations

import os
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from facegate.core.auth.principal import CLI_PRINCIPAL
from facegate.core.store.audit import AuditQuery
from tests.conftest import REPO
from tests.integration.compat_support import COMPAT_SCOPES, LiveServer
from tests.integration.store_helpers import store_container

pytestmark = pytest.mark.slow
COMPAT = REPO / "tests" / "compat"


def _venv(env: str, default: str) -> Path:
    path = Path(os.environ.get(env) or REPO / default)
    python = path / "bin" / "python"
    if not python.exists():
        pytest.fail(f"{python} is missing: scripts/test.sh creates it (or set {env})")
    return python


@pytest.fixture(scope="module")
def live(shared_container: Any, data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[
        tuple[str, str, Any]]:
    """(base URL, API key, container) of a dedicated live server."""
    from facegate.app.http import create_app

    c = store_container(shared_container, None, tmp_path_factory.mktemp("compat-live"))
    # a real UUID-shaped API key, as `facegate apikeys create compat --uuid --scopes ...` makes it
    _, key = c.credentials.create("compat-clients", COMPAT_SCOPES, CLI_PRINCIPAL, uuid_shaped=True)
    with LiveServer(create_app(container=c)) as url:
        yield url, key, c


def _run(python: Path, live: tuple[str, str, Any], data_dir: Path, tmp: Path, *paths: str) -> dict[str, Any]:
    url, key, _ = live
    report = tmp / f"{python.parent.parent.name}.xml"
    env = {**os.environ, "FACEGATE_COMPAT_URL": url, "FACEGATE_COMPAT_KEY": key,
           "FACEGATE_TEST_DATA": str(data_dir), "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("PYTHONPATH", None)  # the clients' venv sees nothing of FaceGate
    proc = subprocess.run(
        [str(python), "-m", "pytest", "-c", str(COMPAT / "pytest.ini"), "-q", f"--junitxml={report}",
         *[str(COMPAT / p) for p in paths]],
        cwd=COMPAT, env=env, capture_output=True, text=True, timeout=900, check=False,
    )
    out = proc.stdout[-6000:] + proc.stderr[-2000:]
    assert proc.returncode == 0, out
    suite = ET.parse(report).getroot()
    suite = suite if suite.tag == "testsuite" else suite[0]
    skipped = [c.get("name") for c in suite.iter("testcase") if c.find("skipped") is not None]
    return {"tests": int(suite.get("tests", 0)), "failures": int(suite.get("failures", 0)),
            "errors": int(suite.get("errors", 0)), "skipped": skipped, "out": out}


def test_compreface_sdk_and_deepstack_08_clients(live: Any, data_dir: Path, tmp_path: Path) -> None:
    python = _venv("FACEGATE_COMPAT_VENV", ".venv-compat")
    res = _run(python, live, data_dir, tmp_path, ".")
    assert res["failures"] == 0 and res["errors"] == 0, res["out"]
    # every test ran; only 0.9's get_registered_faces() does not exist in deepstack-python 0.8
    assert res["skipped"] == ["test_get_registered_faces"], res["out"]
    assert res["tests"] >= 70, res["out"]
    # the key was checked on every call and the audit log names the caller
    _, _, container = live
    entries = container.audit.query(AuditQuery(action="identify", limit=500))
    assert entries and all(e.actor == "key:compat-clients" for e in entries)
    assert {e.details.get("api") for e in entries} == {"compreface", "deepstack"}
    assert all(e.client == "127.0.0.1" for e in entries)


def test_deepstack_09_client(live: Any, data_dir: Path, tmp_path: Path) -> None:
    python = _venv("FACEGATE_COMPAT9_VENV", ".venv-compat9")
    res = _run(python, live, data_dir, tmp_path, "test_deepstack_client.py", "test_deepstack_raw.py")
    assert res["failures"] == 0 and res["errors"] == 0 and res["skipped"] == [], res["out"]
    assert res["tests"] >= 24, res["out"]


def test_runs_outside_the_facegate_venv() -> None:
    """The client venvs are separate interpreters: FaceGate is not importable there."""
    python = _venv("FACEGATE_COMPAT_VENV", ".venv-compat")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([str(python), "-c", "import compreface, deepstack.core; import facegate"],
                          env=env, capture_output=True, text=True, cwd="/", check=False)
    assert proc.returncode != 0 and "facegate" in proc.stderr, proc.stderr
