"""Anti-spoof crops, models, the old linear model's training maths and PAD metrics (no detector)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facegate.core.domain import Box, DetectedFace, Landmarks
from facegate.core.errors import ModelFileError
from facegate.core.liveness.antispoof import (
    CNN_INPUT_SIZE,
    CROP_SIZE,
    DEFAULT_WEIGHTS,
    SOURCE_CROP_SIZE,
    AntiSpoofModel,
    PassiveAntiSpoof,
    crop_face_for_spoof,
    resize_crops,
)
from facegate.core.liveness.antispoof_linear import (
    LEGACY_WEIGHTS,
    LinearAntiSpoofModel,
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


def test_linear_model_roundtrip_and_missing_file(tmp_path: Path) -> None:
    m = LinearAntiSpoofModel(np.zeros(3), np.ones(3), np.array([1.0, -1.0, 0.5]), 0.1, 0.4)
    m.save(tmp_path / "m.npz", {"command": "x"})
    back = AntiSpoofModel.load(tmp_path / "m.npz")  # .npz → the linear model
    assert isinstance(back, LinearAntiSpoofModel)
    assert back.threshold == 0.4 and np.allclose(back.weights, m.weights)
    assert (tmp_path / "m.json").is_file()
    with pytest.raises(ModelFileError):
        AntiSpoofModel.load(tmp_path / "missing.npz")
    with pytest.raises(ModelFileError):
        AntiSpoofModel.load(tmp_path / "missing.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    with pytest.raises(ModelFileError):
        AntiSpoofModel.load(tmp_path / "junk.onnx")


def test_old_linear_weights_still_load_and_score_any_crop_size() -> None:
    model = AntiSpoofModel.load(LEGACY_WEIGHTS)
    assert isinstance(model, LinearAntiSpoofModel) and model.weights.shape == (34,)
    crops = [RNG.integers(0, 255, (s, s, 3), dtype=np.uint8) for s in (CROP_SIZE, 128)]
    scores = model.score_crops(crops)
    assert scores.shape == (2,) and np.all((scores >= 0) & (scores <= 1))


def test_shipped_cnn_loads_without_torch_and_scores_crops() -> None:
    model = AntiSpoofModel.load(DEFAULT_WEIGHTS)
    assert isinstance(model, AntiSpoofModel)
    assert 0.0 < model.threshold < 1.0 and model.crop_size == SOURCE_CROP_SIZE
    assert model.input_size == CNN_INPUT_SIZE
    assert DEFAULT_WEIGHTS.stat().st_size < 1_000_000  # small enough to ship in the package
    assert DEFAULT_WEIGHTS.with_suffix(".json").is_file()
    crops = RNG.integers(0, 255, (3, SOURCE_CROP_SIZE, SOURCE_CROP_SIZE, 3), dtype=np.uint8)
    scores = model.score_crops(list(crops))
    assert scores.shape == (3,) and np.all((scores >= 0) & (scores <= 1))
    # batching does not change a crop's score
    assert model.score_crops([crops[1]])[0] == pytest.approx(scores[1], abs=1e-5)
    assert model.score_crops([]).shape == (0,)


def test_resize_crops_accepts_grey_and_any_size() -> None:
    out = resize_crops([np.zeros((50, 50), np.uint8), np.zeros((64, 64, 3), np.uint8)], 64)
    assert out.shape == (2, 64, 64, 3) and out.dtype == np.uint8


class _FixedModel:
    name = "fixed"
    threshold = 0.5
    crop_size = 32

    def __init__(self) -> None:
        self.seen: list[tuple[int, ...]] = []

    def score_crops(self, crops):  # type: ignore[no-untyped-def]
        self.seen += [c.shape for c in crops]
        return np.full(len(crops), 0.7)


def test_passive_antispoof_crops_at_the_model_size() -> None:
    class NoDetector:
        name = "none"

        def detect(self, image):  # type: ignore[no-untyped-def]
            return []

    model = _FixedModel()
    passive = PassiveAntiSpoof(NoDetector(), model)
    img = RNG.integers(0, 255, (120, 160, 3), dtype=np.uint8)
    face = DetectedFace(Box(40, 20, 50, 60), 0.9, Landmarks(((0.0, 0.0),) * 5))
    s = passive.score_face(img, face)
    assert s.live and s.score == pytest.approx(0.7) and model.seen == [(32, 32, 3)]
    from facegate.core.errors import NoFaceError

    with pytest.raises(NoFaceError):
        passive.score_image(img)


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
