"""Logistic calibration of a similarity score: P(same person | cosine) = 1 / (1 + exp(-(a·cos + b))).

Fitted by Newton's method (maximum likelihood, a tiny ridge on ``a`` and ``b`` so perfectly separated
data still converges). ``fit_on_folds`` fits on the training folds only and reports how well the fit
predicts the held-out pairs (log-loss, Brier score, reliability bins): the shipped parameters are
chosen on training data, never on the pairs they are judged with.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LogisticFit:
    slope: float
    intercept: float

    def probability(self, cosine: np.ndarray | float) -> np.ndarray:
        z = self.slope * np.asarray(cosine, dtype=np.float64) + self.intercept
        return np.asarray(1.0 / (1.0 + np.exp(-z)))

    def cosine_at(self, probability: float) -> float:
        """The cosine whose calibrated probability is ``probability`` (0 < p < 1)."""
        return float((np.log(probability / (1.0 - probability)) - self.intercept) / self.slope)


@dataclass(frozen=True)
class HeldOut:
    pairs: int
    log_loss: float
    brier: float
    accuracy_at_half: float
    bins: list[tuple[float, float, float, int]]  # (lo, hi, mean predicted, observed same rate, n)


def fit_logistic(scores: np.ndarray, labels: np.ndarray, ridge: float = 1e-6) -> LogisticFit:
    x = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    if x.shape != y.shape or x.size < 2 or y.min() == y.max():
        raise ValueError("need scores of both classes to fit a calibration")
    design = np.stack([x, np.ones_like(x)], axis=1)
    w = np.zeros(2)
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-(design @ w)))
        grad = design.T @ (p - y) + ridge * w
        hess = design.T @ (design * (p * (1 - p))[:, None]) + ridge * np.eye(2)
        step = np.linalg.solve(hess, grad)
        w -= step
        if float(np.abs(step).max()) < 1e-10:
            break
    return LogisticFit(slope=float(w[0]), intercept=float(w[1]))


def judge(fit: LogisticFit, scores: np.ndarray, labels: np.ndarray, n_bins: int = 10) -> HeldOut:
    y = np.asarray(labels, dtype=np.float64)
    p = np.clip(fit.probability(scores), 1e-12, 1 - 1e-12)
    log_loss = float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
    brier = float(np.mean((p - y) ** 2))
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    bins = []
    for lo, hi in itertools.pairwise(edges):
        m = (p >= lo) & ((p < hi) if hi < 1.0 else (p <= hi))
        if m.any():
            bins.append((float(lo), float(hi), float(p[m].mean()), float(y[m].mean()), int(m.sum())))
    acc = float(np.mean((p >= 0.5) == (y == 1)))
    return HeldOut(int(y.size), log_loss, brier, acc, bins)  # type: ignore[arg-type]


def fit_on_folds(
    scores: np.ndarray, labels: np.ndarray, folds: np.ndarray, test_fold: int
) -> tuple[LogisticFit, HeldOut]:
    """Fit on every fold but ``test_fold``; judge the fit on ``test_fold`` only."""
    train = folds != test_fold
    fit = fit_logistic(scores[train], labels[train])
    return fit, judge(fit, scores[~train], labels[~train])
