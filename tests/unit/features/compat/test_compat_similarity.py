"""The calibrated similarity of the compatible APIs and the logistic fit behind it."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from facegate.core.vision.packs import PACKS, get_pack
from facegate.features.compat.similarity import SFACE, SFACE_IDENTIFY_THRESHOLD, calibration_for
from facegate.research.eval.calibration import fit_logistic, fit_on_folds


def test_similarity_is_a_probability_rising_with_the_cosine() -> None:
    cos = np.linspace(-1, 1, 401)
    sims = [SFACE.similarity(float(c)) for c in cos]
    assert all(0.0 <= s < 1.0 for s in sims)
    assert all(b >= a for a, b in itertools.pairwise(sims))
    assert SFACE.similarity(1.0) < 1.0  # never exactly 1: min_confidence=1 refuses everyone


def test_sface_thresholds_on_the_scale() -> None:
    """SFace's 1:1 threshold sits near P = 0.5; its 1:N threshold is a near-certain match."""
    assert SFACE.similarity(get_pack("sface").default_threshold) == pytest.approx(0.5, abs=0.15)
    assert SFACE.similarity(SFACE_IDENTIFY_THRESHOLD) > 0.95
    assert get_pack("sface").default_identify_threshold == SFACE_IDENTIFY_THRESHOLD


@pytest.mark.parametrize("name", sorted(PACKS))
def test_every_pack_maps_its_identify_threshold_to_the_same_similarity(name: str) -> None:
    pack = get_pack(name)
    cal = calibration_for(pack)
    target = SFACE.similarity(SFACE_IDENTIFY_THRESHOLD)
    if pack.default_identify_threshold > pack.default_threshold:
        assert cal.similarity(pack.default_identify_threshold) == pytest.approx(target, abs=1e-6)
    assert cal.similarity(pack.default_threshold) <= 0.5 + 1e-9 or name.startswith("sface")


def test_fit_recovers_known_parameters() -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform(-0.2, 0.9, 20_000)
    p = 1 / (1 + np.exp(-(20 * x - 7)))
    y = rng.uniform(size=x.size) < p
    fit = fit_logistic(x, y)
    assert fit.slope == pytest.approx(20, rel=0.1)
    assert fit.cosine_at(0.5) == pytest.approx(0.35, abs=0.01)


def test_fit_uses_training_folds_only() -> None:
    rng = np.random.default_rng(1)
    x = rng.uniform(-0.2, 0.9, 6000)
    y = rng.uniform(size=x.size) < 1 / (1 + np.exp(-(25 * x - 8)))
    folds = np.repeat(np.arange(1, 11), 600)
    fit_a, held_a = fit_on_folds(x, y, folds, 10)
    y2 = y.copy()
    y2[folds == 10] = ~y2[folds == 10]  # scramble the test fold: the fit must not move
    fit_b, held_b = fit_on_folds(x, y2, folds, 10)
    assert (fit_a.slope, fit_a.intercept) == (fit_b.slope, fit_b.intercept)
    assert held_a.pairs == 600 and held_b.log_loss > held_a.log_loss


def test_fit_needs_both_classes() -> None:
    with pytest.raises(ValueError):
        fit_logistic(np.array([0.1, 0.2]), np.array([True, True]))
