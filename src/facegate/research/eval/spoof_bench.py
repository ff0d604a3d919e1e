"""Presentation-attack detection benchmark (ISO/IEC 30107-3 figures) of the passive model.

APCER: attacks accepted as live; BPCER: bona fide (live) faces rejected; ACER: their mean, at the
model's shipped threshold. Also BPCER at APCER = 1% and 5%, the equal error rate, a DET plot and
score histograms. Images in which no face is found are counted and reported, not scored.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from facegate.core.liveness.antispoof import F64Array, SpoofModel
from facegate.core.liveness.training import equal_error_threshold, list_images
from facegate.core.vision.detector import FaceDetector
from facegate.research.training.spoof_data import crops_from_images


@dataclass(frozen=True)
class SpoofMetrics:
    name: str
    real: int
    spoof: int
    skipped: int
    threshold: float
    apcer: float
    bpcer: float
    acer: float
    eer: float
    bpcer_at_apcer_1: float
    bpcer_at_apcer_5: float


@dataclass(frozen=True)
class SpoofSet:
    """A named pair of image lists or folders: bona fide (real) and attacks (spoof)."""

    name: str
    real: Path
    spoof: Path


def bpcer_at_apcer(live: F64Array, spoof: F64Array, target: float) -> float:
    """Lowest BPCER among thresholds whose APCER (spoof scores ≥ t) is at most ``target``."""
    ordered = np.sort(spoof)[::-1]
    allowed = int(np.floor(target * len(ordered)))
    # accept at most `allowed` attacks: threshold just above the (allowed+1)-th highest spoof score
    t = float(np.nextafter(ordered[allowed], np.inf)) if allowed < len(ordered) else -np.inf
    return float(np.mean(live < t))


def compute_spoof_metrics(
    name: str, live: F64Array, spoof: F64Array, threshold: float, skipped: int = 0
) -> SpoofMetrics:
    apcer = float(np.mean(spoof >= threshold))
    bpcer = float(np.mean(live < threshold))
    return SpoofMetrics(
        name=name,
        real=len(live),
        spoof=len(spoof),
        skipped=skipped,
        threshold=threshold,
        apcer=apcer,
        bpcer=bpcer,
        acer=(apcer + bpcer) / 2.0,
        eer=equal_error_threshold(live, spoof)[1],
        bpcer_at_apcer_1=bpcer_at_apcer(live, spoof, 0.01),
        bpcer_at_apcer_5=bpcer_at_apcer(live, spoof, 0.05),
    )


@dataclass(frozen=True)
class SpoofResult:
    metrics: SpoofMetrics
    live_scores: F64Array
    spoof_scores: F64Array


def evaluate_spoof_set(spoof_set: SpoofSet, detector: FaceDetector, model: SpoofModel) -> SpoofResult:
    real = crops_from_images(f"{spoof_set.name} real", list_images(spoof_set.real), detector)
    spoof = crops_from_images(f"{spoof_set.name} spoof", list_images(spoof_set.spoof), detector)
    live_scores = model.score_crops(list(real.crops))
    spoof_scores = model.score_crops(list(spoof.crops))
    metrics = compute_spoof_metrics(
        spoof_set.name, live_scores, spoof_scores, model.threshold, real.skipped + spoof.skipped
    )
    return SpoofResult(metrics, live_scores, spoof_scores)


def format_spoof_table(results: Sequence[SpoofResult]) -> list[str]:
    head = (
        f"{'set':<14}{'real':>6}{'spoof':>7}{'skip':>6}{'thr':>7}{'APCER':>8}{'BPCER':>8}"
        f"{'ACER':>8}{'EER':>8}{'BPCER@APCER1%':>15}{'BPCER@APCER5%':>15}"
    )
    lines = [head, "-" * len(head)]
    for r in results:
        m = r.metrics
        lines.append(
            f"{m.name:<14}{m.real:>6}{m.spoof:>7}{m.skipped:>6}{m.threshold:>7.3f}"
            f"{m.apcer:>8.2%}{m.bpcer:>8.2%}{m.acer:>8.2%}{m.eer:>8.2%}"
            f"{m.bpcer_at_apcer_1:>15.2%}{m.bpcer_at_apcer_5:>15.2%}"
        )
    return lines


def write_spoof_report(
    results: Sequence[SpoofResult], out_dir: Path, model_name: str, command: str
) -> list[Path]:
    """``spoof.json`` (metrics, model, command) and ``spoof_det.png`` (DET + histograms)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / "spoof.json"
    json_path.write_text(
        json.dumps(
            {"model": model_name, "command": command, "sets": [asdict(r.metrics) for r in results]},
            indent=2,
        )
        + "\n"
    )
    fig, axes = plt.subplots(1, 1 + len(results), figsize=(5 * (1 + len(results)), 4.2))
    det = axes[0]
    for r in results:
        ts = np.unique(np.concatenate([r.live_scores, r.spoof_scores, [np.inf]]))
        apcer = np.array([np.mean(r.spoof_scores >= t) for t in ts])
        bpcer = np.array([np.mean(r.live_scores < t) for t in ts])
        det.plot(np.clip(apcer, 1e-3, 1), np.clip(bpcer, 1e-3, 1), label=r.metrics.name)
        m = r.metrics
        det.plot([max(m.apcer, 1e-3)], [max(m.bpcer, 1e-3)], "o", color="black")
    det.set_xscale("log")
    det.set_yscale("log")
    det.set_xlabel("APCER (attacks accepted)")
    det.set_ylabel("BPCER (bona fide rejected)")
    det.set_title("DET (dot: shipped threshold)")
    det.grid(True, which="both", alpha=0.3)
    det.legend()
    for ax, r in zip(axes[1:], results, strict=True):
        bins = np.linspace(0, 1, 41)
        ax.hist(r.live_scores, bins=bins, alpha=0.6, label="real")
        ax.hist(r.spoof_scores, bins=bins, alpha=0.6, label="spoof")
        ax.axvline(r.metrics.threshold, color="black", linestyle="--", label="threshold")
        ax.set_title(f"{r.metrics.name}: live score")
        ax.legend()
    fig.tight_layout()
    png_path = out_dir / "spoof_det.png"
    fig.savefig(png_path, dpi=110)
    plt.close(fig)
    return [json_path, png_path]
