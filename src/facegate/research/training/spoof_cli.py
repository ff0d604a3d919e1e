"""``facegate train spoof``: train the passive anti-spoof CNN and export it to ONNX (extra ``train``).

The shipped model is made by::

    nice -n 10 facegate train spoof --out src/facegate/core/liveness/weights/antispoof_cnn.onnx

(recipe ``nuaa+synth``, seed 0, 5 epochs, one thread; the data come from the shared data folder and
face crops are cached under ``--cache``).
"""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path
from typing import Annotated

import typer

from facegate.core.cli import container, fail
from facegate.research.training.cli import _need_torch, train_app

DataOpt = Annotated[
    Path | None,
    typer.Option("--data", help="Shared data folder (default: FACEGATE_TEST_DATA or ../shared/data)"),
]
CacheOpt = Annotated[Path, typer.Option("--cache", help="Face-crop cache folder")]
DEFAULT_CACHE = Path("bench-out/spoof-cache")


def data_dir(option: Path | None) -> Path:
    if option is not None:
        return option
    configured = container().settings.test_data
    return configured if configured is not None else Path("..") / "shared" / "data"


@train_app.command("spoof")
def train_spoof(
    out: Annotated[Path, typer.Option("--out", help="The ONNX file to write (a .json goes next to it)")],
    data: DataOpt = None,
    cache: CacheOpt = DEFAULT_CACHE,
    recipe: Annotated[str, typer.Option(help="nuaa | synth | nuaa+synth")] = "nuaa+synth",
    epochs: Annotated[int, typer.Option(min=1)] = 5,
    seed: int = 0,
    threads: Annotated[int, typer.Option(min=1, help="torch.set_num_threads")] = 1,
) -> None:
    """Train the passive anti-spoof CNN on real faces vs real and synthesised attacks."""
    _need_torch()
    from facegate.core.liveness.antispoof import AntiSpoofModel
    from facegate.research.training.spoof_cnn import TrainConfig, export_spoof_onnx, train_recipe
    from facegate.research.training.spoof_data import load_sources
    from facegate.research.training.spoof_recipes import RECIPES, VAL_BPCER, sources_needed

    if recipe not in RECIPES:
        raise fail(f"--recipe must be one of {', '.join(RECIPES)}, got {recipe!r}")
    root = data_dir(data)
    if not (root / "nuaa").is_dir() or not (root / "lfw").is_dir():
        raise fail(f"shared data (nuaa/, lfw/) not found under {root}; use --data")
    start = time.perf_counter()
    sources = load_sources(sources_needed([recipe], []), root, cache, container().detector)
    cfg = TrainConfig(epochs=epochs, seed=seed, threads=threads)
    trained = train_recipe(recipe, sources, cfg, typer.echo)
    command = (
        f"facegate train spoof --out {out} --recipe {recipe} --epochs {epochs} --seed {seed} "
        f"--threads {threads}"
    )
    meta = {
        "facegate.name": f"spoof-cnn-{recipe}",
        "facegate.recipe": recipe,
        "facegate.command": command,
        "facegate.threshold_rule": f"held-out training groups: BPCER {VAL_BPCER:.0%}",
    }
    export_spoof_onnx(trained.net, out, trained.threshold, meta)
    model = AntiSpoofModel.load(out)
    report = {
        "model": model.name,
        "command": command,
        "recipe": recipe,
        "epochs": epochs,
        "seed": seed,
        "threads": threads,
        "counts": trained.counts,
        "threshold": round(trained.threshold, 6),
        "threshold_rule": meta["facegate.threshold_rule"],
        "val_bpcer": round(trained.val_bpcer, 4),
        "val_apcer": round(trained.val_apcer, 4),
        "seconds": round(time.perf_counter() - start, 1),
        "machine": f"{platform.machine()}, torch threads {threads}",
    }
    out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    typer.echo(
        f"wrote {out} ({out.stat().st_size / 1e3:.0f} kB, threshold {trained.threshold:.4f}; held-out "
        f"BPCER {trained.val_bpcer:.2%}, APCER {trained.val_apcer:.2%}) in {report['seconds']} s"
    )
