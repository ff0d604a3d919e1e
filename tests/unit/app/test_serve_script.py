"""scripts/serve.sh installs only when pyproject.toml or the venv changed (a restart needs no
package index). Run against a copy of the script with a stand-in venv that logs what it is asked."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]

FAKE_PYTHON = """#!/usr/bin/env bash
if [ "$1" = "-c" ]; then echo "${FAKE_PY_VERSION:-3.11.9}"; exit 0; fi
echo "python $*" >> "$(dirname "$0")/../calls.log"
"""
FAKE_FACEGATE = """#!/usr/bin/env bash
echo "facegate $* data=$FACEGATE_DATA_DIR" >> "$(dirname "$0")/../calls.log"
"""


def _project(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "scripts").mkdir(parents=True)
    shutil.copy(REPO / "scripts" / "serve.sh", root / "scripts" / "serve.sh")
    (root / "pyproject.toml").write_text('[project]\nname = "facegate"\nversion = "1"\n')
    bin_dir = root / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    for name, text in (("python", FAKE_PYTHON), ("facegate", FAKE_FACEGATE)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755 | stat.S_IXUSR)
    return root


def _serve(root: Path, **env: str) -> list[str]:
    log = root / ".venv" / "calls.log"
    log.unlink(missing_ok=True)
    full = {**{k: v for k, v in os.environ.items() if not k.startswith("FACEGATE_")}, **env}
    subprocess.run(["bash", str(root / "scripts" / "serve.sh"), "--port", "8123"], env=full,
                   check=True, capture_output=True, timeout=60)
    return log.read_text().splitlines()


def _installs(calls: list[str]) -> int:
    return sum("pip install" in c and "-e" in c for c in calls)


def test_installs_once_then_starts_without_pip(tmp_path: Path) -> None:
    root = _project(tmp_path)
    first = _serve(root)
    assert _installs(first) == 1 and first[-1].startswith("facegate serve --port 8123 data=")
    assert first[-1].endswith(str(root / "data"))
    again = _serve(root)
    assert _installs(again) == 0 and not any("pip" in c for c in again)
    assert again == [first[-1]]


def test_reinstalls_when_the_project_or_python_changes(tmp_path: Path) -> None:
    root = _project(tmp_path)
    _serve(root)
    with (root / "pyproject.toml").open("a") as f:
        f.write('dependencies = ["numpy"]\n')
    assert _installs(_serve(root)) == 1
    assert _installs(_serve(root)) == 0
    assert _installs(_serve(root, FAKE_PY_VERSION="3.11.10")) == 1  # a rebuilt venv
    assert _installs(_serve(root, FAKE_PY_VERSION="3.11.10", FACEGATE_REINSTALL="1")) == 1
