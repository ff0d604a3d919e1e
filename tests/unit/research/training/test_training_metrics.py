"""Verification metrics of the training reports, on toy scores with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from facegate.research.training.metrics import auc_of, eer_of, evaluate_scores, roc_curve, tar_at


def test_perfect_separation() -> None:
    scores = np.array([0.9, 0.8, 0.7, 0.2, 0.1, 0.0])
    labels = np.array([True, True, True, False, False, False])
    roc = roc_curve(scores, labels)
    assert auc_of(roc) == pytest.approx(1.0)
    assert eer_of(roc) == pytest.approx(0.0)
    assert tar_at(roc, 0.0) == pytest.approx(1.0)


def test_known_roc_points() -> None:
    # accept ≥0.9: 1 same; ≥0.6: +1 different; ≥0.5: +1 same; ≥0.1: +1 different
    scores = np.array([0.9, 0.6, 0.5, 0.1])
    labels = np.array([True, False, True, False])
    roc = roc_curve(scores, labels)
    np.testing.assert_allclose(roc.far, [0.0, 0.0, 0.5, 0.5, 1.0])
    np.testing.assert_allclose(roc.tar, [0.0, 0.5, 0.5, 1.0, 1.0])
    assert auc_of(roc) == pytest.approx(0.75)
    assert tar_at(roc, 0.0) == pytest.approx(0.5)
    assert tar_at(roc, 0.5) == pytest.approx(1.0)
    assert eer_of(roc) == pytest.approx(0.5)


def test_ties_form_one_roc_point() -> None:
    roc = roc_curve(np.array([0.5, 0.5, 0.5, 0.5]), np.array([True, False, True, False]))
    np.testing.assert_allclose(roc.far, [0.0, 1.0])
    assert auc_of(roc) == pytest.approx(0.5)


def test_gaussian_scores_match_theory() -> None:
    rng = np.random.default_rng(0)
    n = 20000
    scores = np.r_[rng.normal(1.0, 1.0, n), rng.normal(0.0, 1.0, n)]
    labels = np.r_[np.ones(n, bool), np.zeros(n, bool)]
    report = evaluate_scores(scores, labels, np.arange(2 * n) % 10)
    # d' = 1: AUC = Φ(1/√2) ≈ 0.7602, EER = Φ(−0.5) ≈ 0.3085, best accuracy ≈ 0.6915 at 0.5
    assert report.auc == pytest.approx(0.7602, abs=0.01)
    assert report.eer == pytest.approx(0.3085, abs=0.01)
    assert report.accuracy_mean == pytest.approx(0.6915, abs=0.015)
    assert report.threshold_mean == pytest.approx(0.5, abs=0.1)
    assert len(report.folds) == 10 and report.pairs == 2 * n
    assert 0.6 < report.precision < 0.8 and 0.6 < report.recall < 0.8


def test_precision_recall_use_held_out_thresholds() -> None:
    scores = np.array([0.9, 0.8, 0.3, 0.1] * 2)
    labels = np.array([True, True, False, False] * 2)
    report = evaluate_scores(scores, labels, np.array([0] * 4 + [1] * 4))
    assert report.accuracy_mean == 1.0 and report.precision == 1.0 and report.recall == 1.0


def test_roc_needs_both_classes() -> None:
    with pytest.raises(ValueError, match="both"):
        roc_curve(np.array([0.1, 0.2]), np.array([True, True]))
