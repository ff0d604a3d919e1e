"""``facegate train siamese|evaluate|export``: train FaceGate's own verifier (extra ``train``).

PyTorch is imported only inside these commands, so the rest of the CLI works without it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from facegate.core.cli import container, fail

if TYPE_CHECKING:
    from facegate.research.training.data import CropCache, IdentitySplit


train_app = typer.Typer(
    help="Train, evaluate and export a Siamese face verifier on LFW (needs: pip install torch==2.13.0).",
    no_args_is_help=True,
)

LfwOpt = Annotated[
    Path | None,
    typer.Option(
        "--lfw",
        help="LFW folder with pairs.txt and lfw-deepfunneled/ (default: <FACEGATE_TEST_DATA>/lfw)",
    ),
]
FoldsOpt = Annotated[
    str, typer.Option("--eval-folds", help="LFW folds held out for evaluation (1-based), e.g. 6-10")
]


def _need_torch() -> None:
    try:
        import torch  # noqa: F401
    except ImportError:
        raise fail(
            "PyTorch is not installed; training needs the 'train' extra: pip install torch==2.13.0"
        ) from None


def _lfw_dir(option: Path | None) -> Path:
    """``--lfw``, else ``<FACEGATE_TEST_DATA>/lfw`` (settings, read now), else ../shared/data/lfw."""
    if option is not None:
        return option
    configured = container().settings.test_data
    return (configured if configured is not None else Path("..") / "shared" / "data") / "lfw"


def _lfw_data(
    option: Path | None, eval_folds: str, seed: int, smoke: bool = False, deadline: float | None = None
) -> tuple[CropCache, IdentitySplit]:
    from facegate.research.training.data import (
        IMAGE_DIR,
        AlignmentTimeout,
        align_images,
        list_images,
        load_lfw_pairs,
        load_or_build_cache,
        parse_folds,
        smoke_subset,
        split_identities,
    )

    lfw = _lfw_dir(option)
    if not (lfw / "pairs.txt").is_file() or not (lfw / "lfw-deepfunneled").is_dir():
        raise fail(f"LFW not found at {lfw} (need pairs.txt and lfw-deepfunneled/); use --lfw")
    try:
        folds = parse_folds(eval_folds)
    except ValueError as exc:
        raise fail(str(exc)) from None
    c = container()
    images = list_images(lfw)
    split = split_identities(images, load_lfw_pairs(lfw), folds, seed=seed)
    try:
        if smoke:  # a small fixed slice, aligned on the fly (no cache): a run of a few minutes
            paths, split = smoke_subset(images, split)
            return align_images(lfw / IMAGE_DIR, paths, c.detector, deadline=deadline), split
        cache = load_or_build_cache(lfw, c.settings.data_dir / "training", c.detector,
                                    deadline=deadline)
    except AlignmentTimeout as exc:
        raise fail(
            f"--max-minutes ran out while aligning LFW ({exc.done} of {exc.total} images; nothing "
            "trained yet). Aligning all of LFW is done once and cached: run once with a larger "
            "--max-minutes (or none), or try --smoke"
        ) from None
    return cache, split


@train_app.command("siamese")
def train_siamese(
    lfw: LfwOpt = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Run folder (default: <data_dir>/training/siamese)")
    ] = None,
    eval_folds: FoldsOpt = "6-10",
    epochs: Annotated[int, typer.Option(min=1)] = 8,
    batch_size: Annotated[int, typer.Option(min=8)] = 128,
    lr: Annotated[float, typer.Option(min=0.0)] = 0.1,
    min_images: Annotated[
        int, typer.Option(min=1, help="Identities need this many images to become a class")
    ] = 2,
    seed: int = 0,
    threads: Annotated[int, typer.Option(min=1, help="torch.set_num_threads")] = 2,
    max_minutes: Annotated[
        float | None,
        typer.Option(min=0.0, help="Time budget of the whole run (aligning included); an epoch "
                     "running at the budget stops there and is still validated and saved"),
    ] = None,
    smoke: Annotated[
        bool,
        typer.Option("--smoke", help="A few minutes' run on a small slice of LFW (24 identities, "
                     "20 held-out pairs per fold): checks the pipeline, not the accuracy"),
    ] = False,
    patience: Annotated[int, typer.Option(min=1, help="Early stop after N epochs w/o progress")] = 5,
    resume: Annotated[bool, typer.Option("--resume", help="Continue from <out>/last.pt")] = False,
) -> None:
    """Train the embedding network, then evaluate best.pt on the held-out LFW folds."""
    import time

    started = time.monotonic()
    _need_torch()
    from facegate.research.training.evaluate import evaluate_checkpoint
    from facegate.research.training.trainer import TrainOptions, train_siamese

    run_dir = out or container().settings.data_dir / "training" / (
        "siamese-smoke" if smoke else "siamese")
    if not resume and (run_dir / "last.pt").exists():
        raise fail(f"{run_dir} already holds a run; pass --resume to continue it or pick another --out")
    deadline = None if max_minutes is None else started + max_minutes * 60.0
    cache, split = _lfw_data(lfw, eval_folds, seed, smoke=smoke, deadline=deadline)
    if smoke:
        batch_size = min(batch_size, 32)
    options = TrainOptions(
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        min_images=min_images,
        seed=seed,
        threads=threads,
        max_minutes=max_minutes,
        patience=patience,
    )
    typer.echo(f"split: {split.describe()}")
    try:
        result = train_siamese(cache, split, run_dir, options, resume=resume, started=started)
    except ValueError as exc:
        raise fail(str(exc)) from None
    typer.echo(
        f"trained {len(result.history)} epoch(s) on {result.train_images} images of "
        f"{result.classes} identities; stopped: {result.stopped}; best validation accuracy "
        f"{result.best_val_accuracy:.4f}"
    )
    report = evaluate_checkpoint(result.best_checkpoint, cache, split.eval_pairs, run_dir)
    typer.echo(f"LFW held-out folds: {report.summary()}")
    typer.echo(f"reports: {run_dir}/evaluation.json, roc.png, training_curves.png")


@train_app.command("evaluate")
def evaluate(
    checkpoint: Annotated[Path, typer.Argument(help="A .pt checkpoint (best.pt or last.pt)")],
    lfw: LfwOpt = None,
) -> None:
    """Re-evaluate a checkpoint on the folds it was held out from; reports go next to it."""
    _need_torch()
    from facegate.research.training.evaluate import evaluate_checkpoint
    from facegate.research.training.trainer import load_checkpoint

    if not checkpoint.is_file():
        raise fail(f"checkpoint {checkpoint} not found")
    try:
        folds = load_checkpoint(checkpoint)["eval_folds"]
    except (ValueError, KeyError, OSError) as exc:
        raise fail(f"{checkpoint}: {exc}") from None
    cache, split = _lfw_data(lfw, ",".join(str(f + 1) for f in folds), seed=0)
    report = evaluate_checkpoint(checkpoint, cache, split.eval_pairs, checkpoint.parent)
    typer.echo(f"LFW held-out folds: {report.summary()}")


@train_app.command("export")
def export(
    checkpoint: Annotated[Path, typer.Argument(help="A .pt checkpoint (usually best.pt)")],
    out: Annotated[Path, typer.Option("--out", help="The ONNX file to write")],
    threshold: Annotated[
        float | None,
        typer.Option(help="Decision threshold (default: from evaluation.json next to the checkpoint)"),
    ] = None,
) -> None:
    """Export the embedding network to ONNX, usable as --model siamese:OUT."""
    _need_torch()
    from facegate.core.vision.siamese_pack import read_siamese_model
    from facegate.research.training.export import export_onnx, threshold_from_evaluation

    if not checkpoint.is_file():
        raise fail(f"checkpoint {checkpoint} not found")
    if threshold is not None:
        chosen = (threshold, "given on the command line (--threshold)")
    else:
        found = threshold_from_evaluation(checkpoint)
        if found is None:
            raise fail(
                f"no evaluation.json for {checkpoint.name} next to it; run "
                f"'facegate train evaluate {checkpoint}' or pass --threshold"
            )
        chosen = found
    try:
        path = export_onnx(checkpoint, out, chosen[0], chosen[1])
    except ValueError as exc:
        raise fail(f"{checkpoint}: {exc}") from None
    model = read_siamese_model(path)
    typer.echo(
        f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB, threshold {model.threshold:.4f}); "
        f"use it with --model siamese:{path} (templates are named {model.name})"
    )


def register(app: typer.Typer) -> None:
    from facegate.research.training import spoof_cli  # noqa: F401  (adds ``train spoof``)

    app.add_typer(train_app, name="train")
