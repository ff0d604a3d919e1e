"""Training the linear passive anti-spoof model (``antispoof_linear``).

Image lists → face crops → features → logistic regression.

Pure numpy/OpenCV. The decision threshold is chosen where APCER = BPCER (equal error rate) on
*out-of-fold* scores of a subject-grouped cross-validation of the training set, so it is not tuned on
the images the final model was fitted to, and never on the test split.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from tqdm import tqdm

from facegate.core.errors import FaceGateError, NoFaceError
from facegate.core.liveness.antispoof import F64Array, crop_face_for_spoof
from facegate.core.liveness.antispoof_linear import LinearAntiSpoofModel, extract_spoof_features
from facegate.core.vision.detector import FaceDetector, largest_face
from facegate.core.vision.images import ImageLimits, read_image_file

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


class DatasetError(FaceGateError):
    code = "invalid_dataset"


def list_images(list_or_dir: Path) -> list[Path]:
    """Images named by a list file (paths relative to the list's folder) or found under a folder."""
    if list_or_dir.is_dir():
        found = sorted(p for p in list_or_dir.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    elif list_or_dir.is_file():
        base = list_or_dir.parent
        lines = [ln.strip() for ln in list_or_dir.read_text().splitlines()]
        found = [base / ln for ln in lines if ln and not ln.startswith("#")]
        missing = [p for p in found if not p.is_file()]
        if missing:
            raise DatasetError(f"{list_or_dir}: {len(missing)} listed file(s) missing, e.g. {missing[0]}")
    else:
        raise DatasetError(f"{list_or_dir}: no such file or folder")
    if not found:
        raise DatasetError(f"{list_or_dir}: no images")
    return found


@dataclass(frozen=True)
class FeatureSet:
    """Features of the images in which a face was found; ``skipped`` counts the others."""

    features: F64Array
    groups: list[str]
    paths: list[Path]
    skipped: int


def extract_features(
    paths: Sequence[Path], detector: FaceDetector, desc: str = "features", progress: bool = True
) -> FeatureSet:
    """Detect the largest face of each image, crop it and compute its features."""
    rows: list[F64Array] = []
    groups: list[str] = []
    kept: list[Path] = []
    skipped = 0
    limits = ImageLimits()
    for path in tqdm(paths, desc=desc, unit="img", disable=not progress):
        image = read_image_file(path, limits)
        face = largest_face(detector.detect(image))
        if face is None:
            skipped += 1
            continue
        rows.append(extract_spoof_features(crop_face_for_spoof(image, face)))
        groups.append(path.parent.name)
        kept.append(path)
    if not rows:
        raise NoFaceError(f"no face found in any of the {len(paths)} images ({desc})")
    return FeatureSet(np.vstack(rows), groups, kept, skipped)


def fit_logistic(
    x: F64Array, y: npt.NDArray[np.int64], l2: float, iterations: int = 30
) -> tuple[F64Array, float]:
    """Class-balanced L2 logistic regression by Newton's method (IRLS). Returns weights, bias."""
    n, d = x.shape
    pos = max(int(y.sum()), 1)
    neg = max(n - pos, 1)
    sample_w = np.where(y == 1, n / (2.0 * pos), n / (2.0 * neg))
    xb = np.hstack([x, np.ones((n, 1))])
    beta = np.zeros(d + 1)
    reg = np.full(d + 1, l2)
    reg[-1] = 0.0
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(xb @ beta, -60.0, 60.0)))
        grad = xb.T @ (sample_w * (p - y)) + reg * beta
        hess = (xb * (sample_w * p * (1.0 - p))[:, None]).T @ xb + np.diag(reg + 1e-9)
        step = np.linalg.solve(hess, grad)
        beta -= step
        if float(np.max(np.abs(step))) < 1e-7:
            break
    return beta[:-1], float(beta[-1])


def standardise(x: F64Array) -> tuple[F64Array, F64Array]:
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-8] = 1.0
    return mean, scale


def fit_model(x: F64Array, y: npt.NDArray[np.int64], l2: float, threshold: float) -> LinearAntiSpoofModel:
    mean, scale = standardise(x)
    w, b = fit_logistic((x - mean) / scale, y, l2)
    return LinearAntiSpoofModel(mean=mean, scale=scale, weights=w, bias=b, threshold=threshold)


def equal_error_threshold(live_scores: F64Array, spoof_scores: F64Array) -> tuple[float, float]:
    """Threshold where APCER (spoof ≥ t) and BPCER (live < t) are closest; returns (t, their mean)."""
    candidates = np.unique(np.concatenate([live_scores, spoof_scores]))
    best_t, best_gap, best_mean = 0.5, np.inf, 1.0
    for t in candidates:
        apcer = float(np.mean(spoof_scores >= t))
        bpcer = float(np.mean(live_scores < t))
        gap = abs(apcer - bpcer)
        if gap < best_gap:
            best_t, best_gap, best_mean = float(t), gap, (apcer + bpcer) / 2.0
    return best_t, best_mean


def out_of_fold_scores(
    x: F64Array, y: npt.NDArray[np.int64], groups: Sequence[str], l2: float, folds: int
) -> F64Array:
    """Scores of every row from a model fitted without that row's subject group.

    With fewer groups than folds (e.g. crops collected into one folder per label), rows are
    assigned to folds round-robin instead.
    """
    names = sorted(set(groups))
    if len(names) >= folds:
        fold_of = {g: i % folds for i, g in enumerate(names)}
        fold = np.array([fold_of[g] for g in groups])
    else:
        fold = np.arange(len(groups)) % folds
    scores = np.zeros(len(y))
    for k in range(folds):
        test = fold == k
        if not test.any() or test.all():
            continue
        model = fit_model(x[~test], y[~test], l2, 0.5)
        scores[test] = model.score_features(x[test])
    return scores


@dataclass(frozen=True)
class TrainingReport:
    model: LinearAntiSpoofModel
    l2: float
    cv_acer_by_l2: dict[str, float]
    cv_threshold: float
    train_real: int
    train_spoof: int
    skipped: int
    seconds: float


def train_antispoof(
    real: FeatureSet,
    spoof: FeatureSet,
    l2_grid: Iterable[float] = (1.0, 10.0, 100.0, 1000.0),
    folds: int = 5,
    on_progress: Callable[[str], None] | None = None,
) -> TrainingReport:
    """Pick L2 by subject-grouped CV ACER, fit on everything, threshold = CV equal-error point."""
    start = time.perf_counter()
    x = np.vstack([real.features, spoof.features])
    y = np.concatenate([np.ones(len(real.groups)), np.zeros(len(spoof.groups))]).astype(np.int64)
    groups = real.groups + spoof.groups
    results: dict[str, tuple[float, float]] = {}
    for l2 in l2_grid:
        oof = out_of_fold_scores(x, y, groups, l2, folds)
        t, acer = equal_error_threshold(oof[y == 1], oof[y == 0])
        results[f"{l2:g}"] = (acer, t)
        if on_progress:
            on_progress(f"l2={l2:g}: cross-validated ACER at equal error {acer:.4f}")
    best = min(results, key=lambda k: results[k][0])
    acer, threshold = results[best]
    model = fit_model(x, y, float(best), threshold)
    return TrainingReport(
        model=model,
        l2=float(best),
        cv_acer_by_l2={k: round(v[0], 4) for k, v in results.items()},
        cv_threshold=threshold,
        train_real=len(real.groups),
        train_spoof=len(spoof.groups),
        skipped=real.skipped + spoof.skipped,
        seconds=time.perf_counter() - start,
    )
