"""Five-point similarity alignment: pure geometry, no model state."""

from __future__ import annotations

import cv2
import numpy as np

from facegate.core.domain import FloatArray, ImageArray, Landmarks

# The ArcFace/SFace reference positions of the five points in a 112×112 crop
# (right eye, left eye, nose tip, right mouth corner, left mouth corner).
REFERENCE_112 = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float64,
)


def similarity_transform(src: FloatArray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, translation) mapping src → dst (Umeyama).

    Returns a 2×3 matrix for ``cv2.warpAffine``.
    """
    s = np.asarray(src, dtype=np.float64)
    d = np.asarray(dst, dtype=np.float64)
    mu_s, mu_d = s.mean(axis=0), d.mean(axis=0)
    s_c, d_c = s - mu_s, d - mu_d
    var_s = (s_c**2).sum() / len(s)
    cov = d_c.T @ s_c / len(s)
    u, sig, vt = np.linalg.svd(cov)
    sign = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[1, 1] = -1.0
    rot = u @ sign @ vt
    scale = float(np.trace(np.diag(sig) @ sign) / var_s) if var_s > 0 else 1.0
    trans = mu_d - scale * rot @ mu_s
    return np.hstack([scale * rot, trans[:, None]])


def align_face(image: ImageArray, landmarks: Landmarks, size: int = 112) -> ImageArray:
    """Warp the face so its five points land on the reference points of a size×size crop."""
    dst = REFERENCE_112 * (size / 112.0)
    matrix = similarity_transform(landmarks.as_array(), dst)
    return cv2.warpAffine(
        image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0)
    )
