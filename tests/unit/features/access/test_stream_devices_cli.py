"""``facegate devices add/list/remove`` and ``facegate log tail`` on a temporary database."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from facegate.app.cli import app
from facegate.core.cli import container, run_app
from facegate.core.store.audit import AuditQuery

Main = Callable[..., tuple[int, str, str]]


@pytest.fixture
def main(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[Main]:
    monkeypatch.setenv("FACEGATE_DATA_DIR", str(tmp_path / "data"))
    container.cache_clear()

    def run(*args: str) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", ["facegate", *args])
        code = run_app(app)
        out, err = capsys.readouterr()
        return code, out, err

    yield run
    container.cache_clear()


def test_device_lifecycle(main: Main) -> None:
    code, out, _ = main("devices", "add", "front-door")
    assert code == 0
    token = out.strip().rsplit(" ", 1)[1]
    assert token.startswith("fgd_")
    c = container()
    assert c.devices.authenticate(token).name == "front-door"

    code, _, err = main("devices", "add", "front-door")
    assert code == 2 and err == "error: a device named 'front-door' already exists\n"

    code, out, _ = main("devices", "list", "--json")
    assert code == 0 and '"name": "front-door"' in out and token not in out

    assert main("devices", "remove", "front-door")[0] == 0
    code, _, err = main("devices", "remove", "front-door")
    assert code == 2 and err == "error: no device named 'front-door'\n"
    actions = [e.action for e in c.audit.query(AuditQuery())]
    assert actions[:2] == ["device.remove", "device.add"]


def test_bad_device_name_and_empty_log(main: Main) -> None:
    code, _, err = main("devices", "add", "two words")
    assert code == 2 and err.startswith("error: invalid device name") and err.count("\n") == 1
    code, out, _ = main("log", "tail")
    assert code == 0 and out == "no access decisions yet\n"
