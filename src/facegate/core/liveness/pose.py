"""Head pose (yaw, pitch, roll in degrees) from six mesh points with ``cv2.solvePnP``.

The generic 3-D face model is given in camera-like axes (x to the image right, y down, z away from
the camera) so the identity rotation is a frontal face. Sign conventions, for a non-mirrored camera:

* yaw > 0: the subject turned to **their left** (the nose moves to the image right);
  yaw < 0: to their right. This matches ``facegate.core.vision.quality.estimate_yaw_pitch``.
* pitch > 0: head tilted down; roll > 0: head tilted towards the subject's left shoulder… as
  returned by ``cv2.RQDecomp3x3`` (roll is reported, not used for decisions).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from facegate.core.domain import FloatArray

# mesh index → generic model point (mm): nose tip, chin, eye outer corners, mouth corners
POSE_INDICES = (1, 152, 33, 263, 61, 291)
MODEL_POINTS = np.array(
    [
        [0.0, 0.0, 0.0],  # nose tip
        [0.0, 330.0, 65.0],  # chin
        [-225.0, -170.0, 135.0],  # subject's right eye, outer corner (image left)
        [225.0, -170.0, 135.0],  # subject's left eye, outer corner (image right)
        [-150.0, 150.0, 125.0],  # subject's right mouth corner
        [150.0, 150.0, 125.0],  # subject's left mouth corner
    ],
    dtype=np.float64,
)


@dataclass(frozen=True)
class HeadPose:
    yaw: float
    pitch: float
    roll: float


def estimate_head_pose(points: FloatArray, width: int, height: int) -> HeadPose:
    """Pose of a face from its mesh points (pixels), with a pinhole camera of focal = image width."""
    image_points = np.asarray(points, dtype=np.float64)[list(POSE_INDICES), :2]
    focal = float(width)
    camera = np.array(
        [[focal, 0.0, width / 2.0], [0.0, focal, height / 2.0], [0.0, 0.0, 1.0]], dtype=np.float64
    )
    ok, rvec, _ = cv2.solvePnP(
        MODEL_POINTS, image_points, camera, np.zeros(4), flags=cv2.SOLVEPNP_ITERATIVE
    )
    if not ok:
        return HeadPose(0.0, 0.0, 0.0)
    rot, _ = cv2.Rodrigues(rvec)
    angles = cv2.RQDecomp3x3(rot)[0]
    pitch, yaw, roll = (float(a) for a in angles)
    # RQDecomp's y rotation is positive when the face normal turns towards image left.
    return HeadPose(yaw=-yaw, pitch=-pitch, roll=roll)
