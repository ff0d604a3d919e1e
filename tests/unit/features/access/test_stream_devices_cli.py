"""``facegate devices add/list/remove``, ``facegate apikeys …`` and ``facegate log tail`` on a
temporary database."""

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
    device = c.credentials.authenticate(token)
    assert (device.name, device.scopes, device.groups) == (
        "device:front-door", frozenset({"stream"}), frozenset())  # a new door admits no group yet
    code, _, err = main("devices", "add", "back-door", "--groups", "staff,night-shift")
    assert code == 2 and "night-shift" in err  # every group a door admits must exist
    assert main("groups", "create", "night-shift")[0] == 0
    code, out, _ = main("devices", "add", "back-door", "--groups", "staff,night-shift")
    assert code == 0
    assert c.credentials.authenticate(out.strip().rsplit(" ", 1)[1]).groups == {"staff", "night-shift"}

    code, _, err = main("devices", "add", "front-door")
    assert code == 2 and err == "error: a device named 'front-door' already exists\n"

    code, out, _ = main("devices", "list", "--json")
    assert code == 0 and '"name": "front-door"' in out and token not in out

    assert '"groups": []' in out
    assert main("devices", "remove", "front-door")[0] == 0
    code, _, err = main("devices", "remove", "front-door")
    assert code == 2 and err == "error: no device named 'front-door'\n"
    actions = [e.action for e in c.audit.query(AuditQuery())]
    assert actions[:3] == ["device.remove", "device.create", "group.create"]


def test_device_groups_show_set_clear_audited(main: Main) -> None:
    assert main("devices", "add", "door")[0] == 0
    nobody = "door admits: nobody (no group: every frame is denied)\n"
    assert main("devices", "groups", "door") == (0, nobody, "")
    assert main("devices", "groups", "door", "staff,customers")[1] == "door admits: customers, staff\n"
    code, _, err = main("devices", "groups", "door", "ghosts")
    assert code == 2 and "ghosts" in err
    code, _, err = main("devices", "groups", "door", "staff", "--clear")
    assert code == 2 and "not both" in err
    assert main("devices", "groups", "door", "--clear")[1] == nobody
    c = container()
    assert c.credentials.get("door", "device").groups == ()
    changes = [e.details for e in c.audit.query(AuditQuery(action="device.groups"))]
    assert changes == [{"before": ["customers", "staff"], "groups": []},
                       {"before": [], "groups": ["customers", "staff"]}]


def test_bad_device_name_and_empty_log(main: Main) -> None:
    code, _, err = main("devices", "add", "two words")
    assert code == 2 and err.startswith("error: invalid name") and err.count("\n") == 1
    code, out, _ = main("log", "tail")
    assert code == 0 and out == "no access decisions yet\n"


def test_apikeys_lifecycle(main: Main) -> None:
    code, out, _ = main("apikeys", "create", "ops", "--scopes", "admin", "--quiet")
    key = out.strip()
    assert code == 0 and key.startswith("fgk_") and "\n" not in key
    c = container()
    assert c.credentials.authenticate(key).name == "key:ops"
    code, out, _ = main("apikeys", "create", "cf", "--scopes", "recognize", "--groups", "staff",
                        "--expires", "30d", "--uuid")
    assert code == 0 and "shown only now" in out
    uuid_key = out.strip().splitlines()[-1]
    assert len(uuid_key) == 36 and c.credentials.authenticate(uuid_key).groups == {"staff"}
    code, out, _ = main("apikeys", "list")
    assert code == 0 and "ops  [active]  scopes admin  groups all" in out
    assert "cf  [active]  scopes recognize  groups staff  expires 20" in out
    assert key not in out and uuid_key not in out
    code, out, _ = main("apikeys", "rotate", "ops", "--quiet")
    assert code == 0 and out.strip() != key and c.credentials.authenticate(out.strip())
    assert main("apikeys", "revoke", "cf") == (0, "API key cf revoked\n", "")
    code, out, _ = main("apikeys", "list", "--json")
    assert '"status": "revoked"' in out and "fgk_" not in out


def test_apikeys_bad_input_is_one_line(main: Main) -> None:
    for args, message in [
        (("--scopes", "root"), "error: unknown scope(s) 'root'"),
        (("--scopes", ""), "error: give at least one scope"),
        (("--scopes", "recognize", "--expires", "yesterday"), "error: invalid expiry 'yesterday'"),
        (("--scopes", "recognize", "--groups", "a b"), "error: invalid group name 'a b'"),
    ]:
        code, _, err = main("apikeys", "create", "k", *args)
        assert code == 2 and err.startswith(message) and err.count("\n") == 1, err
    code, _, err = main("apikeys", "revoke", "nope")
    assert code == 2 and err == "error: no API key named 'nope'\n"
