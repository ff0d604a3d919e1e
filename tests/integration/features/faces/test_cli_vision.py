"""`facegate detect / embed / compare` through the real entry point (exit codes, one-line errors)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image


def run(*args: str, env_data: Path) -> subprocess.CompletedProcess[str]:
    import os

    env = dict(os.environ, FACEGATE_DATA_DIR=str(env_data))
    return subprocess.run(
        [sys.executable, "-m", "facegate", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


@pytest.fixture
def bad_files(tmp_path: Path, faces_dir: Path) -> dict[str, Path]:
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    text = tmp_path / "notes.jpg"
    text.write_text("this is not a JPEG\n")
    good = (faces_dir / "scenes" / "obama.jpg").read_bytes()
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(good[: len(good) // 3])
    huge = tmp_path / "huge.png"
    Image.new("L", (12000, 12000)).save(huge)
    return {"empty": empty, "text": text, "truncated": truncated, "huge": huge}


def test_compare_same_and_different_exit_codes(faces_dir: Path, tmp_path: Path) -> None:
    obama = sorted((faces_dir / "people" / "obama").iterdir())
    same = run("compare", str(obama[0]), str(obama[1]), env_data=tmp_path)
    assert same.returncode == 0, same.stderr
    assert "SAME" in same.stdout and "similarity" in same.stdout
    diff = run("compare", str(obama[0]), str(faces_dir / "scenes" / "biden.jpg"), env_data=tmp_path)
    assert diff.returncode == 1 and "DIFFERENT" in diff.stdout


def test_compare_several_faces_uses_largest_and_says_so(faces_dir: Path, tmp_path: Path) -> None:
    r = run(
        "compare",
        "--json",
        str(faces_dir / "scenes" / "obama_and_biden.jpg"),
        str(faces_dir / "scenes" / "obama.jpg"),
        env_data=tmp_path,
    )
    assert r.returncode in (0, 1), r.stderr
    out = json.loads(r.stdout)
    assert out["faces_found"][0] >= 2 and out["faces_found"][1] == 1


@pytest.mark.parametrize("kind", ["empty", "text", "truncated", "huge"])
def test_bad_input_one_line_exit_2(
    kind: str, bad_files: dict[str, Path], faces_dir: Path, tmp_path: Path
) -> None:
    r = run(
        "compare", str(bad_files[kind]), str(faces_dir / "scenes" / "obama.jpg"), env_data=tmp_path
    )
    assert r.returncode == 2
    lines = [ln for ln in r.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    assert bad_files[kind].name in lines[0]
    assert "Traceback" not in r.stderr


def test_no_face_exit_2(tmp_path: Path) -> None:
    blank = tmp_path / "blank.png"
    Image.new("RGB", (320, 240), (120, 120, 120)).save(blank)
    r = run("compare", str(blank), str(blank), env_data=tmp_path)
    assert r.returncode == 2 and "no face" in r.stderr


def test_detect_json_and_annotated_output(faces_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "annotated.png"
    r = run(
        "detect",
        str(faces_dir / "scenes" / "bbt1.jpg"),
        "--json",
        "--out",
        str(out),
        env_data=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert len(data["faces"]) == 4
    f = data["faces"][0]
    assert len(f["box"]) == 4 and len(f["landmarks"]) == 5 and "sharpness" in f["quality"]
    assert out.stat().st_size > 1000


def test_embed_json(faces_dir: Path, tmp_path: Path) -> None:
    r = run("embed", str(faces_dir / "scenes" / "32bit.png"), "--json", env_data=tmp_path)
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["model"] == "sface" and len(data["embedding"]) == 128
    assert abs(sum(v * v for v in data["embedding"]) - 1.0) < 1e-3


def test_missing_file_and_usage_errors(tmp_path: Path) -> None:
    r = run("compare", str(tmp_path / "nope.jpg"), str(tmp_path / "nope2.jpg"), env_data=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    r = run("compare", env_data=tmp_path)
    assert r.returncode == 2
