"""Verification metrics and plots for a trained verifier (numpy + matplotlib, no torch).

The accuracy figure is the LFW protocol of ``facegate.eval.lfw_pairs.ten_fold``: per evaluation
fold, the threshold that maximises accuracy on the other evaluation folds, accuracy on that fold.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from facegate.eval.lfw_pairs import FoldResult, ten_fold

FloatArr = npt.NDArray[np.float64]


@dataclass(frozen=True)
class RocCurve:
    far: FloatArr  # false accept rate (different pairs accepted), increasing
    tar: FloatArr  # true accept rate (same pairs accepted)
    thresholds: FloatArr


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


def roc_curve(scores: np.ndarray, labels: np.ndarray) -> RocCurve:
    """ROC of "accept when score ≥ t" over every distinct score (plus the all-reject point)."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=bool)
    pos, neg = int(y.sum()), int((~y).sum())
    if pos == 0 or neg == 0:
        raise ValueError("ROC needs both same-person and different-person pairs")
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]  # last index of each distinct score
    tp = np.cumsum(y)[last]
    fp = np.cumsum(~y)[last]
    return RocCurve(far=np.r_[0.0, fp / neg], tar=np.r_[0.0, tp / pos], thresholds=np.r_[np.inf, s[last]])


def auc_of(roc: RocCurve) -> float:
    return float(np.sum(np.diff(roc.far) * (roc.tar[1:] + roc.tar[:-1]) / 2.0))


def eer_of(roc: RocCurve) -> float:
    """Equal error rate: where the false reject rate (1 − TAR) equals the FAR (interpolated)."""
    frr = 1.0 - roc.tar
    diff = frr - roc.far
    i = int(np.flatnonzero(diff <= 0)[0])
    if i == 0:
        return float(roc.far[0])
    d0, d1 = diff[i - 1], diff[i]
    w = d0 / (d0 - d1) if d0 != d1 else 0.0
    return float(roc.far[i - 1] + w * (roc.far[i] - roc.far[i - 1]))


def tar_at(roc: RocCurve, far: float) -> float:
    """Highest TAR whose FAR does not exceed ``far``."""
    ok = roc.far <= far + 1e-12
    return float(roc.tar[ok].max()) if ok.any() else 0.0


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
