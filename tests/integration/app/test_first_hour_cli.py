"""What a new user meets on the command line: remove without a terminal, people list, progress on
stderr, help that is not cut, elections created with 'now' / '+7d' and a warning when closed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from facegate.features.accounts.cli import _utc
from tests.integration.store_helpers import cli_runner

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


@pytest.fixture
def cli(shared_container: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("FACEGATE_DATA_DIR", str(tmp_path / "d"))
    monkeypatch.delenv("FACEGATE_DATABASE_URL", raising=False)
    with cli_runner(shared_container) as run:
        yield run


def test_remove_without_a_terminal_refuses_with_a_hint(cli: Any, faces_dir: Path) -> None:
    assert cli("people", "add", "obama", faces_dir / "people/obama/obama.jpg").exit_code == 0
    r = cli("people", "remove", "obama")  # no terminal, no answer on stdin
    assert r.exit_code == 2  # before: "aborted", exit 130
    assert "pass --yes (-y)" in r.stderr and r.stderr.startswith("error: ")
    assert "1 person" in cli("people", "list").stdout  # nothing was erased
    r = cli("people", "remove", "-y", "obama")
    assert r.exit_code == 0 and r.stdout.startswith("removed obama: 1 sample, 0 stored images")


def test_people_list_has_headers_and_plurals(cli: Any, faces_dir: Path) -> None:
    p = faces_dir / "people"
    r = cli("people", "add", "obama", p / "obama/obama.jpg", "--display-name", "Barack Obama")
    assert "(1 sample, model" in r.stdout  # not "1 samples"
    cli("people", "add", "biden", p / "biden/biden.jpg", p / "biden/biden2.jpg")
    lines = cli("people", "list").stdout.splitlines()
    assert lines[0] == "2 people"
    assert lines[1].split() == ["ID", "NAME", "SAMPLES", "GROUPS", "IMAGES"]
    assert lines[2].split() == ["biden", "biden", "2", "default", "0"]
    assert lines[3].split() == ["obama", "Barack", "Obama", "1", "default", "0"]
    assert lines[2].index("2") == lines[1].index("SAMPLES")  # columns line up


def test_import_progress_goes_to_stderr(cli: Any, faces_dir: Path, tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    (photos / "obama").mkdir(parents=True)
    (photos / "obama" / "a.jpg").symlink_to(faces_dir / "people/obama/obama.jpg")
    r = cli("people", "import", photos)
    assert r.exit_code == 0
    assert "import:" not in r.stdout and "|" not in r.stdout and "\r" not in r.stdout
    assert "import: 100%" in r.stderr
    assert "enrolled" in r.stdout


def test_help_is_wrapped_not_cut(cli: Any) -> None:
    from typer.testing import CliRunner

    from facegate.app.cli import app

    r = CliRunner().invoke(app, ["client", "--help"], terminal_width=80, env={"COLUMNS": "80"})
    assert r.exit_code == 0
    assert "http://127.0.0.1:8000" in r.stdout and "…" not in r.stdout
    assert "FACEGATE_DEVICE_TOKEN" in r.stdout
    assert max(len(line) for line in r.stdout.splitlines()) <= 80


def test_election_with_relative_times_and_a_warning_when_closed(cli: Any) -> None:
    r = cli("admin", "election", "Board", "--party", "Red", "--party", "Green",
            "--opens", "now", "--closes", "+7d")
    assert r.exit_code == 0 and r.stderr == ""
    r = cli("admin", "election", "Old", "--party", "Red", "--party", "Green",
            "--opens", "2026-05-01T08:00", "--closes", "2026-05-01T20:00")
    assert r.exit_code == 0 and "warning: this election closed at 2026-05-01 20:00 UTC" in r.stderr
    r = cli("admin", "election", "Bad", "--party", "Red", "--party", "Green",
            "--opens", "tomorrow", "--closes", "+1d")
    assert r.exit_code == 2 and "not a date/time: 'tomorrow'" in r.stderr


@given(st.integers(min_value=0, max_value=999_999), st.sampled_from("mhd"))
def test_relative_times(n: int, unit: str) -> None:
    delta = {"m": timedelta(minutes=n), "h": timedelta(hours=n), "d": timedelta(days=n)}[unit]
    assert _utc(f"+{n}{unit}", NOW) == NOW + delta
    assert _utc(" NOW ", NOW) == NOW


@given(st.text(max_size=40))
def test_time_parser_raises_only_value_errors(text: str) -> None:
    try:
        value = _utc(text, NOW)
    except ValueError:
        return
    assert value.tzinfo is not None and value.utcoffset() == timedelta(0)


def test_a_prompt_without_a_terminal_is_an_error_not_aborted(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("FACEGATE_")}
    env.update(FACEGATE_DATA_DIR=str(tmp_path / "d"),
               PYTHONPATH=str(Path(__file__).resolve().parents[3] / "src"))
    r = subprocess.run([sys.executable, "-m", "facegate", "admin", "create", "newadmin"],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, env=env,
                       timeout=120, check=False)
    assert r.returncode == 2, r.stderr  # before: "aborted", exit 130
    assert r.stderr.strip().splitlines()[-1].startswith("error: this command asks a question")
