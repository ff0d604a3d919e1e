"""Anti-spoof features, training maths and PAD metrics on toy data (no detector)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facegate.core.domain import Box, DetectedFace, Landmarks
from facegate.core.errors import ModelFileError
from facegate.core.liveness.antispoof import (
    CROP_SIZE,
    DEFAULT_WEIGHTS,
    AntiSpoofModel,
    crop_face_for_spoof,
    extract_spoof_features,
    lbp_codes,
    radial_spectrum,
)
from facegate.core.liveness.training import (
    DatasetError,
    FeatureSet,
    equal_error_threshold,
    fit_logistic,
    list_images,
    train_antispoof,
)
from facegate.research.eval.spoof_bench import bpcer_at_apcer, compute_spoof_metrics

RNG = np.random.default_rng(0)


def test_crop_is_square_fixed_size_and_padded_at_borders() -> None:
    img = RNG.integers(0, 255, (120, 160, 3), dtype=np.uint8)
    face = DetectedFace(Box(-10, 5, 60, 80), 0.9, Landmarks(((0.0, 0.0),) * 5))
    crop = crop_face_for_spoof(img, face)
    assert crop.shape == (CROP_SIZE, CROP_SIZE, 3)


def test_features_have_a_fixed_size_and_see_blur() -> None:
    sharp = RNG.integers(0, 255, (CROP_SIZE, CROP_SIZE, 3), dtype=np.uint8)
    import cv2

    blurred = cv2.GaussianBlur(sharp, (0, 0), 3.0)
    f_sharp, f_blur = extract_spoof_features(sharp), extract_spoof_features(blurred)
    assert f_sharp.shape == f_blur.shape == (34,)
    # the highest-frequency ring loses energy when the image is blurred
    assert radial_spectrum(blurred)[-1] < radial_spectrum(sharp)[-1] - 1.0


def test_lbp_codes_are_uniform_bins() -> None:
    flat = np.full((10, 10), 7, dtype=np.uint8)
    codes = lbp_codes(flat, 1)
    assert codes.shape == (8, 8) and set(np.unique(codes)) == {57}  # all neighbours ≥ centre
    noisy = RNG.integers(0, 255, (40, 40), dtype=np.uint8)
    assert lbp_codes(noisy, 2).max() <= 58


def test_logistic_regression_separates_toy_classes() -> None:
    x = np.vstack([RNG.normal(1.0, 0.5, (50, 3)), RNG.normal(-1.0, 0.5, (50, 3))])
    y = np.r_[np.ones(50), np.zeros(50)].astype(np.int64)
    w, b = fit_logistic(x, y, l2=1.0)
    pred = (x @ w + b) > 0
    assert np.mean(pred == (y == 1)) > 0.95


def test_training_picks_l2_by_grouped_cv_and_threshold_at_equal_error() -> None:
    def fs(mean: float, n: int) -> FeatureSet:
        return FeatureSet(RNG.normal(mean, 1.0, (n, 4)), [f"s{i % 6}" for i in range(n)], [], 0)

    report = train_antispoof(fs(1.0, 60), fs(-1.0, 60), l2_grid=(1.0, 100.0), folds=3)
    assert set(report.cv_acer_by_l2) == {"1", "100"}
    assert report.cv_acer_by_l2[f"{report.l2:g}"] == min(report.cv_acer_by_l2.values())
    assert 0.0 < report.model.threshold < 1.0
    live = report.model.score_features(RNG.normal(1.0, 1.0, (200, 4)))
    spoof = report.model.score_features(RNG.normal(-1.0, 1.0, (200, 4)))
    m = compute_spoof_metrics("toy", live, spoof, report.model.threshold)
    assert m.acer < 0.25


def test_model_roundtrip_and_missing_file(tmp_path: Path) -> None:
    m = AntiSpoofModel(np.zeros(3), np.ones(3), np.array([1.0, -1.0, 0.5]), 0.1, 0.4)
    m.save(tmp_path / "m.npz", {"command": "x"})
    back = AntiSpoofModel.load(tmp_path / "m.npz")
    assert back.threshold == 0.4 and np.allclose(back.weights, m.weights)
    assert (tmp_path / "m.json").is_file()
    with pytest.raises(ModelFileError):
        AntiSpoofModel.load(tmp_path / "missing.npz")


def test_shipped_weights_match_the_features() -> None:
    model = AntiSpoofModel.load(DEFAULT_WEIGHTS)
    assert model.weights.shape == (34,) and 0.0 < model.threshold < 1.0
    assert DEFAULT_WEIGHTS.with_suffix(".json").is_file()


def test_equal_error_and_bpcer_at_apcer() -> None:
    live = np.array([0.9, 0.8, 0.7, 0.6, 0.2])
    spoof = np.array([0.1, 0.2, 0.3, 0.4, 0.75])
    _, mean = equal_error_threshold(live, spoof)
    assert mean == pytest.approx(0.2)
    # APCER ≤ 0%: the threshold must sit above 0.75 → live 0.9, 0.8 kept, BPCER 3/5
    assert bpcer_at_apcer(live, spoof, 0.0) == pytest.approx(0.6)
    assert bpcer_at_apcer(live, spoof, 0.2) == pytest.approx(0.2)  # one attack may pass
    m = compute_spoof_metrics("x", live, spoof, 0.5)
    assert (m.apcer, m.bpcer, m.acer) == pytest.approx((0.2, 0.2, 0.2))


def test_list_images(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.png").write_bytes(b"")
    (tmp_path / "list.txt").write_text("a/x.png\n\n")
    assert list_images(tmp_path / "list.txt") == [tmp_path / "a" / "x.png"]
    assert list_images(tmp_path) == [tmp_path / "a" / "x.png"]
    (tmp_path / "bad.txt").write_text("a/missing.png\n")
    with pytest.raises(DatasetError, match="missing"):
        list_images(tmp_path / "bad.txt")
    with pytest.raises(DatasetError):
        list_images(tmp_path / "nope")
