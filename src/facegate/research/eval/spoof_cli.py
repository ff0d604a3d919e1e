"""``facegate bench spoof-cross``: train every anti-spoof recipe, test each on every source.

Needs the ``train`` extra (torch). Also scores the old linear model and the shipped ONNX model on
every test set, so the table shows where the shipped model stands.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Annotated

import typer

from facegate.core.cli import container, fail
from facegate.research.eval.cli import DataOpt, _command, bench_app, shared_data_dir


@bench_app.command("spoof-cross")
def bench_spoof_cross(
    data: DataOpt = None,
    cache: Annotated[Path, typer.Option("--cache", help="Face-crop cache folder")] = Path(
        "bench-out/spoof-cache"
    ),
    out: Annotated[Path, typer.Option("--out", help="Folder for the JSON and DET plot")] = Path(
        "bench-out/spoof-cross"
    ),
    epochs: Annotated[int, typer.Option(min=1)] = 5,
    seed: int = 0,
    recipes: Annotated[str, typer.Option(help="Comma-separated training recipes")] = "nuaa,synth,nuaa+synth",
) -> None:
    """Cross-dataset APCER/BPCER/ACER/EER, turned faces and per-video BPCER (trains the CNNs)."""
    try:
        import torch  # noqa: F401
    except ImportError:
        raise fail(
            "PyTorch is not installed; this benchmark trains models: pip install torch==2.13.0"
        ) from None
    from facegate.core.liveness.antispoof import DEFAULT_WEIGHTS, AntiSpoofModel
    from facegate.core.liveness.antispoof_linear import LEGACY_WEIGHTS
    from facegate.research.eval.spoof_cross import (
        F64,
        U8,
        CrossRow,
        Curve,
        format_cross_table,
        score_row,
        write_cross_report,
    )
    from facegate.research.training.spoof_cnn import TrainConfig, predict, train_recipe
    from facegate.research.training.spoof_data import load_sources
    from facegate.research.training.spoof_recipes import RECIPES, TEST_SETS, build_test_set, sources_needed

    names = [r.strip() for r in recipes.split(",") if r.strip()]
    unknown = [r for r in names if r not in RECIPES]
    if unknown:
        raise fail(f"unknown recipe(s) {unknown}; choose from {', '.join(RECIPES)}")
    start = time.perf_counter()
    sources = load_sources(
        sources_needed(names, list(TEST_SETS)), shared_data_dir(data), cache, container().detector
    )
    tests = [build_test_set(t, sources) for t in TEST_SETS]
    rows: list[CrossRow] = []
    curves: list[Curve] = []

    def add(label: str, score: Callable[[U8], F64], threshold: float) -> None:
        for test in tests:
            row, curve = score_row(label, test, score, threshold, test.name == "video")
            rows.append(row)
            curves.append(curve)

    thresholds: dict[str, dict[str, float]] = {}
    for name in names:
        trained = train_recipe(name, sources, TrainConfig(epochs=epochs, seed=seed), typer.echo)
        thresholds[name] = {
            "threshold": trained.threshold,
            "val_bpcer": trained.val_bpcer,
            "val_apcer": trained.val_apcer,
        }
        add(name, partial(predict, trained.net), trained.threshold)
    # scored last, so that a shipped model being retrained meanwhile is picked up when done
    for label, path in (("linear (old, NUAA)", LEGACY_WEIGHTS), ("shipped", DEFAULT_WEIGHTS)):
        model = AntiSpoofModel.load(path)
        add(label, lambda c: model.score_crops(list(c)), model.threshold)  # noqa: B023 (used at once)
    for line in format_cross_table(rows):
        typer.echo(line)
    args: list[object] = ["--epochs", epochs, "--seed", seed, "--recipes", recipes]
    if data is not None:
        args += ["--data", data]
    meta = {
        "command": _command("facegate bench spoof-cross", *args, "--out", out),
        "thresholds": thresholds,
        "seconds": round(time.perf_counter() - start, 1),
    }
    for path in write_cross_report(rows, curves, out, meta):
        typer.echo(f"wrote {path}")
