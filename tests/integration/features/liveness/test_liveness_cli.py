"""``facegate liveness check | collect | train`` and ``facegate bench spoof`` through the CLI runner."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from facegate.app.cli import app
from facegate.core import cli as common
from facegate.core.liveness.challenge import InvalidStepsError


@pytest.fixture
def cli(shared_container: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("FACEGATE_DATA_DIR", str(tmp_path / "d"))
    common.container.cache_clear()
    c = common.container()
    c.__dict__["detector"] = shared_container.detector
    c.__dict__["pipeline"] = shared_container.pipeline
    runner = CliRunner()

    def run(*args: object, catch: bool = False) -> Any:
        return runner.invoke(app, [str(a) for a in args], catch_exceptions=catch)

    yield run
    common.container.cache_clear()


@pytest.fixture
def videos(data_dir: Path) -> Path:
    d = data_dir / "video"
    if not (d / "talking_blinks_1.mp4").is_file():
        pytest.skip(f"shared videos not found in {d}")
    return d


def test_check_offline_prints_evidence_and_exit_codes(cli: Any, videos: Path) -> None:
    r = cli("liveness", "check-offline", videos / "talking_blinks_1.mp4", "--steps", "blink", "--every", "2")
    assert r.exit_code == 0, r.output
    assert "OFFLINE" in r.output and "never accepted" in r.output
    assert "PASSED" in r.output and "1. blink: frames" in r.output and "EAR" in r.output
    r = cli("liveness", "check-offline", videos / "webcam_blink_turns.webm", "--steps", "right,blink",
            "--every", "3")
    assert r.exit_code == 1 and "FAILED" in r.output and "wrong way" in r.output
    bad = cli("liveness", "check-offline", videos / "talking_blinks_1.mp4", "--steps", "blink,jump",
              catch=True)
    assert isinstance(bad.exception, InvalidStepsError)  # run_app prints it on one line, exit 2
    missing = cli("liveness", "check-offline", videos / "nope.mp4")
    assert missing.exit_code == 2 and "cannot open video" in missing.output


def test_live_check_refuses_a_recording(cli: Any, videos: Path) -> None:
    r = cli("liveness", "check", videos / "talking_blinks_1.mp4")
    assert r.exit_code == 2 and "cannot react" in r.output and "check-offline" in r.output


def test_collect_train_and_bench_on_collected_crops(cli: Any, videos: Path, tmp_path: Path) -> None:
    out = tmp_path / "crops"
    r = cli("liveness", "collect", videos / "talking_blinks_1.mp4", "--label", "real", "--out", out,
            "--every", "25")
    assert r.exit_code == 0, r.output
    r = cli("liveness", "collect", videos / "expressions_d3.mp4", "--label", "spoof", "--out", out,
            "--every", "25")
    assert r.exit_code == 0, r.output
    reals = (out / "real.txt").read_text().split()
    assert len(reals) >= 5 and all((out / p).is_file() for p in reals)
    assert cli("liveness", "collect", videos / "talking_blinks_1.mp4", "--label", "x",
               "--out", out).exit_code == 2

    model = tmp_path / "m.npz"
    r = cli("liveness", "train", "--real", out / "real.txt", "--spoof", out / "spoof.txt",
            "--out", model, "--folds", "2")
    assert r.exit_code == 0, r.output
    meta = json.loads(model.with_suffix(".json").read_text())
    assert meta["train_real"] == len(reals) and meta["command"].startswith("facegate liveness train")

    bench = tmp_path / "bench"
    r = cli("bench", "spoof", "--skip-nuaa", "--real", out / "real.txt", "--spoof", out / "spoof.txt",
            "--weights", model, "--out", bench)
    assert r.exit_code == 0, r.output
    assert "APCER" in r.output and (bench / "spoof_det.png").stat().st_size > 1000
    sets = json.loads((bench / "spoof.json").read_text())["sets"]
    assert sets[0]["real"] == len(reals) and 0.0 <= sets[0]["acer"] <= 1.0
