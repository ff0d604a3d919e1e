"""The LFW pairs file and the standard 10-fold verification protocol (pure arithmetic)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Pair:
    fold: int
    path_a: str  # relative to the image root: <name>/<name>_<NNNN>.jpg
    path_b: str
    same: bool


class PairsFormatError(ValueError):
    pass


def _image(name: str, index: str) -> str:
    return f"{name}/{name}_{int(index):04d}.jpg"


def parse_pairs(text: str) -> list[Pair]:
    """Parse ``pairs.txt``: header ``<folds> <n>``, then per fold n same then n different lines."""
    lines = [ln.split() for ln in text.strip().splitlines() if ln.strip()]
    if not lines or len(lines[0]) != 2:
        raise PairsFormatError("first line must be '<folds> <pairs per class>'")
    try:
        folds, per = int(lines[0][0]), int(lines[0][1])
    except ValueError as exc:
        raise PairsFormatError(f"bad header: {' '.join(lines[0])}") from exc
    body = lines[1:]
    if len(body) != folds * per * 2:
        raise PairsFormatError(f"expected {folds * per * 2} pair lines, found {len(body)}")
    pairs: list[Pair] = []
    for i, parts in enumerate(body):
        fold = i // (2 * per)
        try:
            if len(parts) == 3:
                pairs.append(
                    Pair(fold, _image(parts[0], parts[1]), _image(parts[0], parts[2]), True)
                )
            elif len(parts) == 4:
                pairs.append(
                    Pair(fold, _image(parts[0], parts[1]), _image(parts[2], parts[3]), False)
                )
            else:
                raise PairsFormatError(f"line {i + 2}: expected 3 or 4 fields, got {len(parts)}")
        except ValueError as exc:
            raise PairsFormatError(f"line {i + 2}: {exc}") from exc
    return pairs


def load_pairs(path: Path) -> list[Pair]:
    return parse_pairs(path.read_text())


def accuracy_at(scores: np.ndarray, labels: np.ndarray, threshold: float) -> float:
    return float(np.mean((scores >= threshold) == labels)) if len(scores) else 0.0


def best_threshold(scores: np.ndarray, labels: np.ndarray) -> float:
    """Threshold that maximises accuracy; midpoint between neighbouring sorted scores."""
    s = np.sort(np.unique(scores))
    if len(s) == 0:
        return 0.0
    candidates = np.concatenate([[s[0] - 1e-6], (s[:-1] + s[1:]) / 2.0, [s[-1] + 1e-6]])
    accs = np.array([accuracy_at(scores, labels, t) for t in candidates])
    best = np.flatnonzero(accs == accs.max())
    return float(candidates[best[len(best) // 2]])


@dataclass(frozen=True)
class FoldResult:
    fold: int
    threshold: float
    accuracy: float


def ten_fold(scores: np.ndarray, labels: np.ndarray, folds: np.ndarray) -> list[FoldResult]:
    """Per fold: threshold chosen on the other folds, accuracy on the held-out one."""
    out: list[FoldResult] = []
    for k in np.unique(folds):
        train, test = folds != k, folds == k
        t = best_threshold(scores[train], labels[train])
        out.append(FoldResult(int(k), t, accuracy_at(scores[test], labels[test], t)))
    return out
