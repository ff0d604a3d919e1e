from __future__ import annotations

import numpy as np
import pytest

from facegate.core.domain import Box, DetectedFace, Landmarks
from facegate.core.vision.align import REFERENCE_112, align_face, similarity_transform
from facegate.core.vision.quality import QualityThresholds, estimate_yaw_pitch, measure_quality


def _face(points: np.ndarray, width: float = 100.0) -> DetectedFace:
    return DetectedFace(Box(0, 0, width, width), 0.9, Landmarks(tuple(map(tuple, points.tolist()))))


def test_similarity_transform_recovers_known_transform() -> None:
    angle, scale, t = np.deg2rad(20), 2.5, np.array([30.0, -12.0])
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    src = REFERENCE_112.copy()
    dst = (scale * (rot @ src.T)).T + t
    m = similarity_transform(src.astype(np.float32), dst)
    mapped = (m[:, :2] @ src.T).T + m[:, 2]
    assert np.allclose(mapped, dst, atol=1e-6)


def test_align_puts_landmarks_on_reference() -> None:
    # a synthetic image with bright dots at the landmarks, scaled ×3 and shifted
    pts = REFERENCE_112 * 3 + np.array([50, 40])
    img = np.zeros((500, 500, 3), np.uint8)
    for x, y in pts:
        img[round(y) - 2 : round(y) + 3, round(x) - 2 : round(x) + 3] = 255
    crop = align_face(img, _face(pts).landmarks)
    assert crop.shape == (112, 112, 3)
    for x, y in REFERENCE_112:
        assert crop[round(y), round(x)].max() > 100


def test_frontal_pose_is_near_zero_and_turn_has_sign() -> None:
    yaw, pitch = estimate_yaw_pitch(_face(REFERENCE_112.copy()))
    assert abs(yaw) < 2 and abs(pitch) < 2
    turned = REFERENCE_112.copy()
    turned[2, 0] += 12  # nose moved towards image right
    yaw2, _ = estimate_yaw_pitch(_face(turned))
    assert yaw2 > 20


def test_quality_gate_lists_every_problem() -> None:
    dark_flat = np.full((112, 112, 3), 10, np.uint8)
    q = measure_quality(_face(REFERENCE_112.copy(), width=30), dark_flat, QualityThresholds())
    assert not q.ok
    text = " ".join(q.problems)
    assert "too small" in text and "blurry" in text and "dark" in text
    rng = np.random.default_rng(1)
    textured = rng.integers(60, 200, (112, 112, 3), dtype=np.uint8)
    assert measure_quality(_face(REFERENCE_112.copy(), width=120), textured).ok


@pytest.mark.parametrize("threshold", [10.0, 1e9])
def test_thresholds_are_configurable(threshold: float) -> None:
    rng = np.random.default_rng(2)
    img = rng.integers(60, 200, (112, 112, 3), dtype=np.uint8)
    q = measure_quality(
        _face(REFERENCE_112.copy(), 120), img, QualityThresholds(min_sharpness=threshold)
    )
    assert q.ok is (threshold == 10.0)
