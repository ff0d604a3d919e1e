"""Verification metrics from similarity scores: ROC, AUC, EER, TAR at a fixed FAR (pure numpy)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Roc:
    """False and true accept rates at every distinct threshold, from strictest to loosest."""

    far: np.ndarray
    tar: np.ndarray
    thresholds: np.ndarray


def roc_curve(scores: np.ndarray, labels: np.ndarray) -> Roc:
    """ROC of ``score >= threshold`` ⇒ SAME; starts at (0, 0) and ends at (1, 1)."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError("ROC needs both same and different pairs")
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]  # last index of each distinct score
    tp = np.cumsum(y)[last]
    fp = np.cumsum(~y)[last]
    far = np.r_[0.0, fp / n_neg]
    tar = np.r_[0.0, tp / n_pos]
    thresholds = np.r_[np.inf, s[last]]
    return Roc(far=far, tar=tar, thresholds=thresholds)


def roc_auc(roc: Roc) -> float:
    return float(np.sum(np.diff(roc.far) * (roc.tar[1:] + roc.tar[:-1]) / 2.0))


def equal_error_rate(roc: Roc) -> float:
    """The rate where FAR equals FRR (1 − TAR), interpolated between ROC points."""
    frr = 1.0 - roc.tar
    diff = roc.far - frr  # rises from -1 to +1
    i = int(np.flatnonzero(diff >= 0)[0])
    if i == 0 or diff[i] == 0:
        return float(roc.far[i])
    a, b = diff[i - 1], diff[i]
    t = -a / (b - a)
    return float(roc.far[i - 1] + t * (roc.far[i] - roc.far[i - 1]))


@dataclass(frozen=True)
class OperatingPoint:
    target_far: float
    far: float
    tar: float
    threshold: float


def tar_at_far(roc: Roc, target_far: float) -> OperatingPoint:
    """The loosest threshold whose FAR is still ≤ ``target_far``, and its TAR."""
    ok = np.flatnonzero(roc.far <= target_far)
    i = int(ok[-1])
    return OperatingPoint(target_far, float(roc.far[i]), float(roc.tar[i]), float(roc.thresholds[i]))
