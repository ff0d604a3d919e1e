"""Eye aspect ratio and head-pose sign conventions on synthetic points."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from facegate.core.domain import Box
from facegate.core.liveness.ear import LEFT_EYE, RIGHT_EYE, eye_aspect_ratio, eye_aspect_ratios
from facegate.core.liveness.landmarks import FrameMeasurement, box_iou, mesh_box
from facegate.core.liveness.pose import MODEL_POINTS, POSE_INDICES, estimate_head_pose


def eye_points(width: float, height: float) -> np.ndarray:
    pts = np.zeros((478, 2), dtype=np.float32)
    p1, p2, p3, p4, p5, p6 = RIGHT_EYE
    pts[p1], pts[p4] = (0, 0), (width, 0)
    pts[p2], pts[p3] = (width / 3, -height / 2), (2 * width / 3, -height / 2)
    pts[p6], pts[p5] = (width / 3, height / 2), (2 * width / 3, height / 2)
    return pts


def test_ear_is_height_over_width() -> None:
    assert eye_aspect_ratio(eye_points(30, 9), RIGHT_EYE) == pytest.approx(9 / 30)
    assert eye_aspect_ratio(eye_points(30, 1.5), RIGHT_EYE) == pytest.approx(1.5 / 30)
    assert eye_aspect_ratio(np.zeros((478, 2), np.float32), LEFT_EYE) == 0.0
    left, right = eye_aspect_ratios(eye_points(30, 9))
    assert right == pytest.approx(0.3) and left == 0.0


def project(yaw_deg: float, pitch_deg: float = 0.0, w: int = 640, h: int = 480) -> np.ndarray:
    """Mesh-like points of the generic model rotated by a head turn, seen by a pinhole camera.

    A positive ``yaw_deg`` turns the face towards the camera's right (the subject's left).
    """
    ry = np.deg2rad(-yaw_deg)  # rotation about y that moves the nose tip towards +x (image right)
    rx = np.deg2rad(pitch_deg)
    rot_y = np.array([[np.cos(ry), 0, np.sin(ry)], [0, 1, 0], [-np.sin(ry), 0, np.cos(ry)]])
    rot_x = np.array([[1, 0, 0], [0, np.cos(rx), -np.sin(rx)], [0, np.sin(rx), np.cos(rx)]])
    rvec, _ = cv2.Rodrigues(rot_x @ rot_y)
    cam = np.array([[w, 0, w / 2], [0, w, h / 2], [0, 0, 1]], dtype=np.float64)
    img, _ = cv2.projectPoints(MODEL_POINTS, rvec, np.array([0.0, 0.0, 2500.0]), cam, np.zeros(4))
    pts = np.zeros((478, 2), dtype=np.float32)
    pts[list(POSE_INDICES)] = img.reshape(-1, 2)
    return pts


@pytest.mark.parametrize("yaw", [-40.0, -20.0, 0.0, 20.0, 40.0])
def test_pose_recovers_yaw_with_subject_left_positive(yaw: float) -> None:
    pts = project(yaw)
    pose = estimate_head_pose(pts, 640, 480)
    assert pose.yaw == pytest.approx(yaw, abs=2.0)
    nose_x, eyes_mid_x = pts[1, 0], (pts[33, 0] + pts[263, 0]) / 2
    if yaw > 0:  # subject's left = nose towards the image right in a non-mirrored frame
        assert nose_x > eyes_mid_x


def test_pose_pitch_is_small_for_a_level_head() -> None:
    assert abs(estimate_head_pose(project(30.0), 640, 480).pitch) < 3.0


def test_measurement_json_roundtrip_and_boxes() -> None:
    m = FrameMeasurement(3, 120, 1, Box(1, 2, 30, 40), True, 0.31, 0.29, 12.5, -3.0, 1.0)
    assert FrameMeasurement.from_json(m.to_json()) == m
    assert m.ok and m.ear == pytest.approx(0.30)
    assert not FrameMeasurement(0, 0, 2).ok
    a = Box(0, 0, 10, 10)
    assert box_iou(a, a) == pytest.approx(1.0)
    assert box_iou(a, Box(20, 20, 5, 5)) == 0.0
    pts = np.array([[1, 2], [11, 2], [1, 22]], dtype=np.float32)
    assert mesh_box(pts) == Box(1.0, 2.0, 10.0, 20.0)
