"""Train the Siamese verifier for a few steps on a tiny LFW subset, export it, reload it as a pack.

Needs PyTorch (the ``train`` extra: ``pip install torch==2.13.0``); skipped with that reason
otherwise.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch not installed: pip install torch==2.13.0")

from facegate.core.vision.detector import YunetDetector  # noqa: E402
from facegate.core.vision.packs import get_pack  # noqa: E402
from facegate.research.training.data import (  # noqa: E402
    IMAGE_DIR,
    CropCache,
    IdentitySplit,
    align_images,
    list_images,
)
from facegate.research.training.evaluate import embed_crops  # noqa: E402
from facegate.research.training.export import export_onnx  # noqa: E402
from facegate.research.training.model import VerifierNet  # noqa: E402
from facegate.research.training.trainer import (  # noqa: E402
    TrainOptions,
    TrainResult,
    load_checkpoint,
    net_from_checkpoint,
    train_siamese,
)

TRAIN_IDS, VAL_IDS, PER_ID = 6, 2, 8


@pytest.fixture(scope="module")
def tiny(lfw_dir: Path) -> tuple[CropCache, IdentitySplit]:
    images = list_images(lfw_dir)
    counts = Counter(p.split("/", 1)[0] for p in images)
    names = sorted(n for n, c in counts.items() if c >= PER_ID)[: TRAIN_IDS + VAL_IDS]
    paths = [p for n in names for p in sorted(q for q in images if q.startswith(n + "/"))[:PER_ID]]
    cache = align_images(lfw_dir / IMAGE_DIR, paths, YunetDetector(), progress=False)
    split = IdentitySplit(
        eval_folds=(),
        eval_pairs=(),
        train_identities=tuple(names[:TRAIN_IDS]),
        val_identities=tuple(names[TRAIN_IDS:]),
        excluded_identities=0,
    )
    return cache, split


OPTIONS = TrainOptions(
    epochs=20, batch_size=16, lr=0.05, warmup_epochs=0.5, max_steps=36, patience=100, seed=3
)


@pytest.fixture(scope="module")
def trained(tiny: tuple[CropCache, IdentitySplit], tmp_path_factory: pytest.TempPathFactory) -> TrainResult:
    cache, split = tiny
    return train_siamese(cache, split, tmp_path_factory.mktemp("run"), OPTIONS, progress=False)


def test_loss_decreases_and_checkpoints(trained: TrainResult) -> None:
    losses = np.array(trained.step_losses)
    assert trained.stopped == "max steps" and len(losses) == 36
    assert losses[-6:].mean() < 0.8 * losses[:6].mean(), losses
    assert trained.classes == TRAIN_IDS and trained.train_images == TRAIN_IDS * PER_ID
    assert trained.last_checkpoint.is_file() and trained.best_checkpoint.is_file()
    assert load_checkpoint(trained.last_checkpoint)["step"] == 36
    assert [h.epoch for h in trained.history] == list(range(1, len(trained.history) + 1))


def test_time_budget_holds_inside_the_first_epoch_and_saves(
    tiny: tuple[CropCache, IdentitySplit], tmp_path: Path
) -> None:
    import time

    cache, split = tiny
    options = TrainOptions(epochs=5, batch_size=8, lr=0.05, seed=1, max_minutes=0.5)
    # the budget is already spent when training starts (say, by aligning): one step, then stop
    started = time.monotonic() - 31.0
    result = train_siamese(cache, split, tmp_path / "run", options, progress=False, started=started)
    steps_per_epoch = len(cache.paths[: TRAIN_IDS * PER_ID]) // 8
    assert result.stopped == "time budget" and len(result.history) == 1
    assert len(result.step_losses) == 1 < steps_per_epoch  # stopped inside epoch 1
    assert result.last_checkpoint.is_file() and result.best_checkpoint.is_file()
    assert load_checkpoint(result.last_checkpoint)["step"] == 1


def test_alignment_stops_at_the_deadline(lfw_dir: Path) -> None:
    import time

    from facegate.research.training.data import AlignmentTimeout

    paths = list_images(lfw_dir)[:5]
    with pytest.raises(AlignmentTimeout) as exc:
        align_images(lfw_dir / IMAGE_DIR, paths, YunetDetector(), progress=False,
                     deadline=time.monotonic() - 1)
    assert (exc.value.done, exc.value.total) == (0, 5)


def test_cli_budget_spent_while_aligning_is_a_clear_error(
    lfw_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import sys

    from facegate.app.cli import app
    from facegate.core import cli as common

    monkeypatch.setenv("FACEGATE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr(sys, "argv", ["facegate", "train", "siamese", "--lfw", str(lfw_dir),
                                      "--smoke", "--max-minutes", "0", "--out", str(tmp_path / "r")])
    common.container.cache_clear()
    try:
        code = common.run_app(app)
    finally:
        common.container.cache_clear()
    err = capsys.readouterr().err
    assert code == 2
    assert err.splitlines()[-1].startswith("error: --max-minutes ran out while aligning LFW (0 of ")
    assert "--smoke" in err


def test_resume_continues_the_same_run(tiny: tuple[CropCache, IdentitySplit], tmp_path: Path) -> None:
    cache, split = tiny
    options = TrainOptions(epochs=2, batch_size=16, lr=0.05, seed=5)
    whole = train_siamese(cache, split, tmp_path / "whole", options, progress=False)
    # an "interrupted" run: same recipe, stopped inside epoch 1 by its time budget (after one
    # step); the restart lifts the budget (run control, not recipe) and must replay the rest
    # exactly, finishing epoch 1 where it stopped
    interrupted = TrainOptions(epochs=2, batch_size=16, lr=0.05, seed=5, max_minutes=0.0)
    first = train_siamese(cache, split, tmp_path / "resumed", interrupted, progress=False)
    assert first.stopped == "time budget" and len(first.history) == 1
    assert len(first.step_losses) == 1 and first.best_checkpoint.is_file()
    resumed = train_siamese(cache, split, tmp_path / "resumed", options, resume=True, progress=False)
    assert len(resumed.history) == 2
    np.testing.assert_allclose(resumed.step_losses, whole.step_losses[len(first.step_losses) :], rtol=1e-4)


def test_export_reload_gives_the_same_embeddings(
    tiny: tuple[CropCache, IdentitySplit], trained: TrainResult, tmp_path: Path
) -> None:
    cache, split = tiny
    result = trained
    onnx_path = export_onnx(result.best_checkpoint, tmp_path / "model.onnx", 0.4242, "test")
    pack = get_pack(f"siamese:{onnx_path}")
    assert pack.name.startswith("siamese-") and len(pack.name) == len("siamese-") + 12
    assert pack.default_threshold == pytest.approx(0.4242)
    embedder = pack.build()
    assert embedder.name == pack.name and embedder.input_size == 112
    trained = VerifierNet(net_from_checkpoint(load_checkpoint(result.best_checkpoint)))
    reference = embed_crops(trained, cache.crops)
    reloaded = np.stack([embedder.embed(crop) for crop in np.asarray(cache.crops)])
    cosines = np.sum(reference * reloaded, axis=1)
    assert cosines.min() >= 0.999, cosines.min()
    # a different file (other weights) gets another name, so its templates never mix
    few = TrainOptions(max_steps=3, batch_size=16, seed=9)
    other = train_siamese(cache, split, tmp_path / "other", few, progress=False)
    other_path = export_onnx(other.last_checkpoint, tmp_path / "other.onnx", 0.4242, "test")
    assert get_pack(f"siamese:{other_path}").name != pack.name
