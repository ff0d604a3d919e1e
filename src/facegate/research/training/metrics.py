"""Verification metrics and plots for a trained verifier (numpy + matplotlib, no torch).

The accuracy figure is the LFW protocol of ``facegate.research.eval.lfw_pairs.ten_fold``: per evaluation
fold, the threshold that maximises accuracy on the other evaluation folds, accuracy on that fold.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from facegate.research.eval.lfw_pairs import FoldResult, ten_fold
from facegate.research.eval.metrics import Roc as RocCurve
from facegate.research.eval.metrics import equal_error_rate as eer_of
from facegate.research.eval.metrics import roc_auc as auc_of
from facegate.research.eval.metrics import roc_curve, tar_at_far

FloatArr = npt.NDArray[np.float64]


@dataclass(frozen=True)
class VerificationReport:
    """Everything measured on the evaluation pairs; figures are fractions (0..1)."""

    pairs: int
    folds: tuple[FoldResult, ...]
    accuracy_mean: float
    accuracy_std: float
    threshold_mean: float
    auc: float
    eer: float
    tar_at_far: dict[str, float]
    precision: float
    recall: float

    def as_dict(self) -> dict[str, object]:
        d = asdict(self)
        d["folds"] = [asdict(f) for f in self.folds]
        return d

    def summary(self) -> str:
        tars = ", ".join(f"TAR@FAR={k} {v:.4f}" for k, v in self.tar_at_far.items())
        return (
            f"accuracy {self.accuracy_mean:.4f} ± {self.accuracy_std:.4f} over "
            f"{len(self.folds)} folds ({self.pairs} pairs); AUC {self.auc:.4f}; EER {self.eer:.4f}; "
            f"{tars}; precision {self.precision:.4f} recall {self.recall:.4f} at the per-fold "
            f"thresholds (mean {self.threshold_mean:.4f})"
        )


def tar_at(roc: RocCurve, far: float) -> float:
    """Highest TAR whose FAR does not exceed ``far``."""
    return tar_at_far(roc, far).tar


def evaluate_scores(
    scores: np.ndarray,
    labels: np.ndarray,
    folds: np.ndarray,
    fars: Sequence[float] = (0.01, 0.001),
) -> VerificationReport:
    """LFW protocol accuracy, ROC figures and precision/recall at the chosen thresholds."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=bool)
    f = np.asarray(folds)
    results = ten_fold(s, y, f)
    predicted = np.zeros_like(y)
    for r in results:
        held = f == r.fold
        predicted[held] = s[held] >= r.threshold
    tp = int((predicted & y).sum())
    precision = tp / max(int(predicted.sum()), 1)
    recall = tp / max(int(y.sum()), 1)
    roc = roc_curve(s, y)
    accs = np.array([r.accuracy for r in results])
    return VerificationReport(
        pairs=len(s),
        folds=tuple(results),
        accuracy_mean=float(accs.mean()),
        accuracy_std=float(accs.std()),
        threshold_mean=float(np.mean([r.threshold for r in results])),
        auc=auc_of(roc),
        eer=eer_of(roc),
        tar_at_far={f"{far:g}": tar_at(roc, far) for far in fars},
        precision=float(precision),
        recall=float(recall),
    )


def plot_roc(roc: RocCurve, label: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot(roc.far, roc.tar, label=label)
    chance = np.r_[0.0, np.geomspace(1e-4, 1.0, 200)]  # straight only on linear axes
    ax.plot(chance, chance, ":", color="grey", label="chance")
    ax.set_xscale("symlog", linthresh=1e-3)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("false accept rate")
    ax.set_ylabel("true accept rate")
    ax.set_title("ROC on the evaluation pairs")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_history(history: Sequence[dict[str, float]], path: Path) -> None:
    """Training loss and train/validation accuracy per epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
    a1.plot(epochs, [h["loss"] for h in history], marker="o")
    a1.set_xlabel("epoch")
    a1.set_ylabel("CosFace loss (train)")
    a1.grid(alpha=0.3)
    a2.plot(epochs, [h["train_accuracy"] for h in history], marker="o", label="train (classes)")
    a2.plot(epochs, [h["val_accuracy"] for h in history], marker="o", label="validation pairs")
    a2.set_xlabel("epoch")
    a2.set_ylabel("accuracy")
    a2.set_ylim(0, 1)
    a2.grid(alpha=0.3)
    a2.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
