"""Per-face quality measures and the configurable quality gate."""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from facegate.core.domain import DetectedFace, FaceQuality, ImageArray

# Frontal ratio of (eye line → nose) over (eye line → mouth line) in the reference crop.
_FRONTAL_NOSE_RATIO = (71.7366 - 51.6) / (92.285 - 51.6)


@dataclass(frozen=True)
class QualityThresholds:
    min_face_px: float = 64.0
    min_sharpness: float = 20.0
    min_brightness: float = 40.0
    max_brightness: float = 220.0
    max_yaw_deg: float = 35.0
    max_pitch_deg: float = 30.0


def estimate_yaw_pitch(face: DetectedFace) -> tuple[float, float]:
    """Rough head yaw and pitch in degrees from the five points.

    Yaw > 0 when the nose is right of the eye midpoint in the image (the subject turned to their
    left); pitch > 0 when the nose sits low between eyes and mouth (head tilted down).
    Accuracy is about ±10°: enough to refuse profile faces, not a pose estimator.
    """
    p = face.landmarks.as_array().astype(np.float64)
    right_eye, left_eye, nose, mouth_r, mouth_l = p
    eye_mid = (right_eye + left_eye) / 2.0
    mouth_mid = (mouth_r + mouth_l) / 2.0
    half_eye = float(np.linalg.norm(left_eye - right_eye)) / 2.0
    # roll-correct: measure along the eye axis
    axis = (left_eye - right_eye) / max(np.linalg.norm(left_eye - right_eye), 1e-6)
    normal = np.array([-axis[1], axis[0]])
    along = float(np.dot(nose - eye_mid, axis))
    yaw = math.degrees(math.asin(max(-1.0, min(1.0, along / max(half_eye, 1e-6)))))
    eye_to_mouth = float(np.dot(mouth_mid - eye_mid, normal))
    eye_to_nose = float(np.dot(nose - eye_mid, normal))
    ratio = eye_to_nose / eye_to_mouth if abs(eye_to_mouth) > 1e-6 else _FRONTAL_NOSE_RATIO
    pitch = math.degrees(math.asin(max(-1.0, min(1.0, (ratio - _FRONTAL_NOSE_RATIO) * 2.0))))
    return yaw, pitch


def measure_quality(
    face: DetectedFace, aligned: ImageArray, thresholds: QualityThresholds | None = None
) -> FaceQuality:
    """Measure size, sharpness, brightness and pose; list every threshold the face fails."""
    t = thresholds or QualityThresholds()
    gray = cv2.cvtColor(aligned, cv2.COLOR_BGR2GRAY) if aligned.ndim == 3 else aligned
    sharpness = float(cv2.Laplacian(gray, cv2.CV_64F).var())
    brightness = float(gray.mean())
    yaw, pitch = estimate_yaw_pitch(face)
    size = float(min(face.box.width, face.box.height))
    problems: list[str] = []
    if size < t.min_face_px:
        problems.append(f"face too small: {size:.0f}px < {t.min_face_px:.0f}px")
    if sharpness < t.min_sharpness:
        problems.append(f"too blurry: sharpness {sharpness:.1f} < {t.min_sharpness:.1f}")
    if brightness < t.min_brightness:
        problems.append(f"too dark: brightness {brightness:.0f} < {t.min_brightness:.0f}")
    if brightness > t.max_brightness:
        problems.append(f"too bright: brightness {brightness:.0f} > {t.max_brightness:.0f}")
    if abs(yaw) > t.max_yaw_deg:
        problems.append(f"head turned: yaw {yaw:.0f}° beyond ±{t.max_yaw_deg:.0f}°")
    if abs(pitch) > t.max_pitch_deg:
        problems.append(f"head tilted: pitch {pitch:.0f}° beyond ±{t.max_pitch_deg:.0f}°")
    return FaceQuality(
        face_size=round(size, 1),
        sharpness=round(sharpness, 1),
        brightness=round(brightness, 1),
        yaw=round(yaw, 1),
        pitch=round(pitch, 1),
        problems=tuple(problems),
    )
