"""The similarity the compatible APIs report: P(same person | cosine), a logistic fit on LFW.

CompreFace and DeepStack clients threshold a similarity in [0, 1] (Double Take: a match from 0.60,
"unknown" below 0.40). FaceGate's raw cosine is not on that scale (SFace: ~0.6 for a second photo
of the same person, 0.325 is the 1:1 threshold), so the APIs report

    similarity = 1 / (1 + exp(-(slope * cosine + intercept)))

fitted by ``benchmarks/compat_calibration.py`` on LFW folds 1-9 (5,400 pairs, half of them
same-person) and judged on the held-out fold 10. Packs without a fit of their own get a logistic
centred on their 1:1 threshold whose 1:N threshold maps to the same similarity as SFace's.
Figures and the table cosine → similarity: docs/compat.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from facegate.core.vision.packs import PackInfo


@dataclass(frozen=True)
class Calibration:
    slope: float
    intercept: float

    def similarity(self, cosine: float) -> float:
        """P(same person); z is clamped to [-60, 30] so the answer is never exactly 1."""
        z = min(max(self.slope * cosine + self.intercept, -60.0), 30.0)
        return 1.0 / (1.0 + math.exp(-z))

    def cosine_at(self, similarity: float) -> float:
        return (math.log(similarity / (1.0 - similarity)) - self.intercept) / self.slope


# benchmarks/compat_calibration.py --model sface (folds 1-9 → fold 10); docs/compat.md.
SFACE = Calibration(slope=32.4359, intercept=-10.2928)
FITTED: dict[str, Calibration] = {"sface": SFACE, "sface-opencv": SFACE, "sface-int8": SFACE}
SFACE_IDENTIFY_THRESHOLD = 0.48


def calibration_for(pack: PackInfo) -> Calibration:
    """The pack's fitted calibration, else the fallback described in the module docstring."""
    fitted = FITTED.get(pack.name)
    if fitted is not None:
        return fitted
    target = SFACE.similarity(SFACE_IDENTIFY_THRESHOLD)
    centre = pack.default_threshold
    gap = pack.default_identify_threshold - centre
    if gap <= 1e-6:  # no separate 1:N threshold: keep SFace's slope
        return Calibration(SFACE.slope, -SFACE.slope * centre)
    slope = math.log(target / (1.0 - target)) / gap
    return Calibration(slope, -slope * centre)
