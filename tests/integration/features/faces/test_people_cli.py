"""CLI: people add/list/show/remove/import, identify, verify, db upgrade, keys rotate.

Includes the crash test: ``people import`` killed with SIGKILL mid-run leaves a consistent
database, and a rerun finishes the job.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from facegate.app.cli import app
from facegate.core import cli as common
from tests.integration.store_helpers import cli_runner
from tests.store_backends import BACKENDS, database_url

REPO = Path(__file__).resolve().parents[4]


@pytest.fixture(params=BACKENDS)
def cli(
    request: pytest.FixtureRequest, shared_container: Any, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Any]:
    monkeypatch.setenv("FACEGATE_DATA_DIR", str(tmp_path / "d"))
    monkeypatch.setenv("FACEGATE_DATABASE_URL", database_url(request.param, tmp_path))
    with cli_runner(shared_container) as run:
        yield run


def test_people_commands(cli: Any, faces_dir: Path, tmp_path: Path) -> None:
    p = faces_dir / "people"
    r = cli("people", "add", "obama", p / "obama/obama.jpg", p / "obama/obama2.jpg",
            "--display-name", "Barack Obama")
    assert r.exit_code == 0 and r.output.startswith("enrolled obama: 2 accepted, 0 rejected")
    r = cli("people", "add", "biden", p / "biden/biden2.jpg", faces_dir / "scenes/bbt1.jpg")
    assert r.exit_code == 0 and "rejected" in r.output and "4 faces found" in r.output
    assert "2 people" in cli("people", "list").output
    shown = cli("people", "show", "obama", "--json")
    assert shown.exit_code == 0 and '"samples": 2' in shown.output

    out = tmp_path / "annotated.png"
    r = cli("identify", faces_dir / "scenes/obama_and_biden.jpg", "--out", out)
    assert r.exit_code == 0 and "3 face(s)" in r.output and out.stat().st_size > 1000
    assert sorted(line.split()[1] for line in r.output.splitlines()[1:]) == [
        "biden", "obama", "unknown"]

    v = cli("verify", "obama", faces_dir / "scenes/obama1.jpg")
    assert v.exit_code == 0 and "(threshold 0.325)" in v.output  # 1:1, not 1:N 0.48
    assert cli("verify", "biden", faces_dir / "scenes/obama1.jpg").exit_code == 1

    r = cli("keys", "rotate")
    assert r.exit_code == 0 and r.output.startswith("re-encrypted 5 templates")
    assert cli("verify", "obama", faces_dir / "scenes/obama1.jpg").exit_code == 0

    assert cli("people", "remove", "obama", "--yes").output.startswith("removed obama")
    assert "1 person" in cli("people", "list").output


def _env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FACEGATE_")}
    env["FACEGATE_DATA_DIR"] = str(data_dir)
    return env


def test_errors_are_one_line_and_exit_2(
    cli: Any, faces_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def main(*args: str) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", ["facegate", *map(str, args)])
        code = common.run_app(app)
        out, err = capsys.readouterr()
        return code, out, err

    code, _, err = main("verify", "nobody", faces_dir / "scenes/obama1.jpg")
    assert code == 2 and err == "error: no person with id 'nobody'\n"
    code, _, err = main("people", "add", "x", faces_dir / "scenes/team_photo_16_faces.jpg")
    assert code == 2 and err.startswith("error: no usable face: ") and err.count("\n") == 1
    assert "16 faces found" in err
    code, _, err = main("people", "add", "x", faces_dir / "missing.jpg")
    assert code == 2 and "cannot read file" in err and err.count("\n") == 1
    assert main("people", "show", "x")[0] == 2
    assert main("people", "remove", "x", "--yes")[0] == 2
    code, out, _ = main("db", "upgrade")
    assert code == 0 and "-> " in out


def _link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.symlink_to(src)


def test_import_summary_and_idempotent_rerun(cli: Any, faces_dir: Path, tmp_path: Path) -> None:
    src = tmp_path / "import"
    _link(faces_dir / "people/obama/obama.jpg", src / "alice/1.jpg")
    _link(faces_dir / "people/obama/obama2.jpg", src / "alice/2.jpg")
    _link(faces_dir / "people/biden/biden2.jpg", src / "bob_smith.jpg")
    _link(faces_dir / "scenes/obama_and_biden.jpg", src / "group/1.jpg")
    _link(faces_dir / "people/obama/obama.jpg", src / "zed/copy.jpg")
    (src / "notes.txt").write_text("ignored")
    r = cli("people", "import", src, "--no-progress")
    assert r.exit_code == 0, r.output
    assert r.output.splitlines()[0] == (
        "2 people enrolled (3 images), 1 rejected, 1 duplicate, 0 already imported, "
        "4 people seen"
    )
    assert "3 faces found" in r.output and "same image as alice" in r.output
    shown = cli("people", "show", "bob_smith", "--json").output
    assert '"display_name": "bob smith"' in shown
    again = cli("people", "import", src, "--no-progress")
    assert again.output.splitlines()[0] == (
        "0 people enrolled (0 images), 0 rejected, 1 duplicate, 4 already imported, "
        "4 people seen"
    )
    assert "2 people" in cli("people", "list").output


def _lfw_import_dir(lfw: Path, dest: Path, people: int) -> int:
    """``people`` LFW folders with ≥2 images, 2 images each (symlinks); returns image count."""
    n = 0
    for d in sorted((lfw / "lfw-deepfunneled").iterdir()):
        files = sorted(d.glob("*.jpg"))
        if len(files) < 2:
            continue
        for f in files[:2]:
            _link(f, dest / d.name / f.name)
            n += 1
        if n >= 2 * people:
            break
    return n


def _db_state(db: Path) -> tuple[int, int, int, int]:
    with sqlite3.connect(db) as conn:
        people = conn.execute("SELECT count(*) FROM people").fetchone()[0]
        samples = conn.execute("SELECT count(*) FROM face_templates WHERE is_mean = 0").fetchone()[0]
        bad_means = conn.execute(
            "SELECT count(*) FROM people p LEFT JOIN face_templates m "
            "ON m.person_id = p.id AND m.is_mean = 1 WHERE m.id IS NULL OR m.sample_count != "
            "(SELECT count(*) FROM face_templates s WHERE s.person_id = p.id AND s.is_mean = 0)"
        ).fetchone()[0]
        unrecorded = conn.execute(
            "SELECT count(*) FROM face_templates t WHERE t.is_mean = 0 AND NOT EXISTS "
            "(SELECT 1 FROM imported_images i WHERE i.sha256 = t.image_sha256)"
        ).fetchone()[0]
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    return people, samples, bad_means, unrecorded


@pytest.mark.slow
def test_kill_9_mid_import_then_rerun_finishes(lfw_dir: Path, tmp_path: Path) -> None:
    src = tmp_path / "lfw-import"
    images = _lfw_import_dir(lfw_dir, src, people=12)
    env = _env(tmp_path / "d")
    db = tmp_path / "d" / "facegate.db"
    proc = subprocess.Popen(
        [sys.executable, "-m", "facegate", "people", "import", str(src), "--no-progress"],
        env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    people = 0
    while time.monotonic() < deadline and proc.poll() is None:
        if db.exists():
            try:
                people = _db_state(db)[0]
            except sqlite3.OperationalError:  # tables not created yet
                people = 0
            if people >= 2:
                break
        time.sleep(0.05)
    assert proc.poll() is None, "import finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    people, _samples, bad_means, unrecorded = _db_state(db)
    with sqlite3.connect(db) as conn:
        before_kill_recorded = conn.execute("SELECT count(*) FROM imported_images").fetchone()[0]
    assert 2 <= people < 12
    assert bad_means == 0 and unrecorded == 0  # whole people only, every sample recorded

    rerun = subprocess.run(
        [sys.executable, "-m", "facegate", "people", "import", str(src), "--no-progress"],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert rerun.returncode == 0, rerun.stderr
    final_people, final_samples, bad_means, unrecorded = _db_state(db)
    assert bad_means == 0 and unrecorded == 0
    with sqlite3.connect(db) as conn:
        recorded = conn.execute("SELECT count(*) FROM imported_images").fetchone()[0]
        enrolled = conn.execute(
            "SELECT count(*) FROM imported_images WHERE status = 'enrolled'"
        ).fetchone()[0]
    assert recorded == images  # every image handled exactly once (enrolled or rejected)
    assert final_samples == enrolled
    added = final_people - people
    assert rerun.stdout.startswith(f"{added} {'person' if added == 1 else 'people'} enrolled")
    assert f"{before_kill_recorded} already imported" in rerun.stdout
