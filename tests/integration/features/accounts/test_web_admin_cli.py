"""`facegate admin create` / `admin election` through the real entry point (subprocess)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from facegate.app.bootstrap import Container
from facegate.core.settings import Settings


def run(data: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "facegate", *args], capture_output=True, text=True, timeout=300,
        env=dict(os.environ, FACEGATE_DATA_DIR=str(data), **env),
    )


def test_admin_create_with_face_promote_and_errors(tmp_path: Path, faces_dir: Path) -> None:
    data = tmp_path / "data"
    pw = tmp_path / "pw.txt"
    pw.write_text("admin password 1\n")
    photo = sorted((faces_dir / "people" / "obama").glob("*"))[0]

    r = run(data, "admin", "create", "root1", "--password-file", str(pw), "--face", str(photo))
    assert r.returncode == 0, r.stderr
    assert "root1 is an administrator" in r.stdout and "cannot log in" not in r.stdout

    # no password anywhere (and no terminal for the prompt): refused, nothing created
    r = run(data, "admin", "create", "root2", "--password-file", str(tmp_path / "missing.txt"))
    assert r.returncode == 2 and r.stderr.startswith("error: cannot read a password")

    # face-less admin from the environment's password: created, with the warning
    r = run(data, "admin", "create", "root3", FACEGATE_ADMIN_PASSWORD="another password")
    assert r.returncode == 0 and "cannot log in until one is" in r.stdout

    c = Container(Settings(data_dir=data))
    accounts = {a.username: a.is_admin for a in c.accounts.list_accounts()}
    assert accounts == {"root1": True, "root3": True}
    events = [(e.action, e.subject) for e in c.audit.query() if e.action == "admin.create"]
    assert sorted(events) == [("admin.create", "root1"), ("admin.create", "root3")]
