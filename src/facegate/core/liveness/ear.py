"""Eye aspect ratio (Soukupová & Čech 2016) and mouth ratios on MediaPipe Face Mesh points.

EAR = (|p2 − p6| + |p3 − p5|) / (2 |p1 − p4|): about 0.25–0.35 for an open eye, near 0.1 closed.
"""

from __future__ import annotations

import numpy as np

from facegate.core.domain import FloatArray

# Face Mesh indices (p1..p6): outer corner, two upper-lid points, inner corner, two lower-lid points.
# "Right" is the subject's right eye (on the left of a non-mirrored image).
RIGHT_EYE = (33, 160, 158, 133, 153, 144)
LEFT_EYE = (362, 385, 387, 263, 373, 380)


def eye_aspect_ratio(points: FloatArray, eye: tuple[int, ...]) -> float:
    """EAR of one eye from the (n × 2 or n × 3) mesh points in pixels; 0.0 if degenerate."""
    p = np.asarray(points, dtype=np.float64)[list(eye), :2]
    width = float(np.linalg.norm(p[0] - p[3]))
    if width <= 1e-6:
        return 0.0
    heights = float(np.linalg.norm(p[1] - p[5]) + np.linalg.norm(p[2] - p[4]))
    return heights / (2.0 * width)


def eye_aspect_ratios(points: FloatArray) -> tuple[float, float]:
    """(left, right) EAR of the subject's eyes."""
    return eye_aspect_ratio(points, LEFT_EYE), eye_aspect_ratio(points, RIGHT_EYE)


# Inner-lip midpoints (upper, lower) and mouth corners (subject's right, left); eye outer corners.
MOUTH_INNER = (13, 14)
MOUTH_CORNERS = (61, 291)
EYE_OUTER = (33, 263)


def mouth_ratios(points: FloatArray) -> tuple[float, float]:
    """(opening, width): inner-lip gap / mouth width, and mouth width / outer eye-corner distance.

    An open mouth raises the first (about 0.0-0.05 closed, > 0.3 wide open); a smile widens the
    mouth relative to the eyes (the second grows by 10-25 % over the person's neutral value).
    """
    p = np.asarray(points, dtype=np.float64)[:, :2]
    width = float(np.linalg.norm(p[MOUTH_CORNERS[0]] - p[MOUTH_CORNERS[1]]))
    eyes = float(np.linalg.norm(p[EYE_OUTER[0]] - p[EYE_OUTER[1]]))
    if width <= 1e-6 or eyes <= 1e-6:
        return 0.0, 0.0
    gap = float(np.linalg.norm(p[MOUTH_INNER[0]] - p[MOUTH_INNER[1]]))
    return gap / width, width / eyes
