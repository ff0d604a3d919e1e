"""Synthesised attacks, the training/validation split and the cross-dataset scoring (no torch)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from facegate.research.eval.spoof_cross import format_cross_table, score_row
from facegate.research.training.spoof_recipes import (
    RECIPES,
    TEST_SETS,
    SpoofTestSet,
    is_val_group,
    shrink,
    sources_needed,
    val_threshold,
)
from facegate.research.training.spoof_synth import (
    benign,
    halftone,
    moire,
    pixel_grid,
    print_attack,
    screen_attack,
    synthesise,
)


def _face(seed: int = 0) -> np.ndarray:
    """A smooth synthetic 'face' crop: a bright ellipse on a gradient, plus mild noise."""
    rng = np.random.default_rng(seed)
    img = np.zeros((128, 128, 3), np.float32)
    img[:] = np.linspace(60, 160, 128, dtype=np.float32)[None, :, None]
    cv2.ellipse(img, (64, 64), (30, 40), 0, 0, 360, (150, 170, 210), -1)
    img += rng.normal(0, 3, img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def _hf_energy(img: np.ndarray) -> float:
    g = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY).astype(np.float64)
    return float(np.abs(g - cv2.GaussianBlur(g, (0, 0), 1.0)).mean())


def test_synthesis_is_deterministic_and_keeps_shape() -> None:
    crops = np.stack([_face(i) for i in range(4)])
    a, b = synthesise(crops, seed=7), synthesise(crops, seed=7)
    assert a.shape == crops.shape and a.dtype == np.uint8
    assert np.array_equal(a, b)
    assert not np.array_equal(a, synthesise(crops, seed=8))
    assert not np.array_equal(a, crops)


@pytest.mark.parametrize("attack", [screen_attack, print_attack])
def test_attacks_change_the_image_visibly(attack) -> None:  # type: ignore[no-untyped-def]
    face = _face()
    rng = np.random.default_rng(3)
    diffs = [np.abs(attack(face, rng).astype(int) - face.astype(int)).mean() for _ in range(10)]
    assert min(diffs) > 2.0  # every attack leaves a trace


def test_screen_grid_and_halftone_add_periodic_texture() -> None:
    x = _face().astype(np.float32) / 255.0
    rng = np.random.default_rng(0)
    flat = (x * 255).astype(np.uint8)
    for fn in (pixel_grid, halftone):
        out = (np.clip(fn(x, rng), 0, 1) * 255).astype(np.uint8)
        assert _hf_energy(out) > _hf_energy(flat) + 1.0
    out = np.clip(moire(x, rng), 0, 1)
    assert np.abs(out - x).mean() > 0.005


def test_benign_variation_is_mild() -> None:
    face = _face()
    rng = np.random.default_rng(1)
    diffs = [np.abs(benign(face, rng).astype(int) - face.astype(int)).mean() for _ in range(20)]
    assert max(diffs) < 30.0


def test_validation_groups_are_stable_and_about_one_in_seven() -> None:
    groups = [f"person_{i}" for i in range(2000)]
    held = [g for g in groups if is_val_group(g)]
    assert held == [g for g in groups if is_val_group(g)]
    assert 0.1 < len(held) / len(groups) < 0.19


def test_threshold_keeps_one_percent_of_held_out_live_below() -> None:
    live = np.linspace(0.0, 1.0, 1001)
    t = val_threshold(live, 0.01)
    assert np.mean(live < t) == pytest.approx(0.01, abs=0.002)


def test_recipes_name_their_sources() -> None:
    assert set(RECIPES) == {"nuaa", "synth", "nuaa+synth"}
    needed = sources_needed(["synth"], ["video"])
    assert needed == ["lfw-train", "video"]
    assert set(TEST_SETS) == {"nuaa-test", "synth-lfw", "video"}
    assert shrink(np.zeros((2, 128, 128, 3), np.uint8)).shape == (2, 64, 64, 3)


def test_cross_row_counts_turned_faces_and_groups() -> None:
    real = np.zeros((6, 64, 64, 3), np.uint8)
    real[:3] = 200  # the scorer below gives these high scores
    test = SpoofTestSet(
        "video", real, np.zeros((4, 64, 64, 3), np.uint8),
        np.array([0.0, 30.0, 40.0, 10.0, 50.0, 25.0]), ["a", "a", "a", "b", "b", "b"],
    )  # fmt: skip

    def score(crops: np.ndarray) -> np.ndarray:
        return crops.reshape(len(crops), -1).mean(axis=1) / 255.0

    row, curve = score_row("nuaa", test, score, 0.5, per_group=True)
    assert (row.apcer, row.bpcer) == (0.0, 0.5)
    assert row.turned == 3 and row.bpcer_turned == pytest.approx(1 / 3)  # 30, 40, 25 (50 > 45)
    assert row.per_group_bpcer == {"a": 0.0, "b": 1.0}
    assert not row.in_domain and len(curve.live) == 6
    text = "\n".join(format_cross_table([row]))
    assert "nuaa → video" in text and "BPCER 100.00%" in text
