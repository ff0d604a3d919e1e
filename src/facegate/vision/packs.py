"""Model packs: the name → embedder registry, with each pack's licence and measured threshold.

The default thresholds are data, produced by a stated command; see docs/benchmarks.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from facegate.errors import FaceGateError
from facegate.vision.embedder import FaceEmbedder, SfaceOpenCVEmbedder


@dataclass(frozen=True)
class PackInfo:
    name: str
    licence: str
    default_threshold: float
    threshold_source: str
    factory: Callable[[], FaceEmbedder]
    opt_in_notice: str | None = None


def _sface() -> FaceEmbedder:
    return SfaceOpenCVEmbedder()


PACKS: dict[str, PackInfo] = {
    "sface": PackInfo(
        name="sface",
        licence="Apache-2.0 (OpenCV Zoo)",
        # Mean of the 10 per-fold thresholds that maximise accuracy on the other 9 folds of LFW
        # (centre-most face), measured by: python benchmarks/lfw_threshold.py
        default_threshold=0.325,
        threshold_source="python benchmarks/lfw_threshold.py (LFW 10-fold, best-accuracy threshold)",
        factory=_sface,
    ),
}


class UnknownModelError(FaceGateError):
    code = "unknown_model"
    http_status = 400


def get_pack(name: str) -> PackInfo:
    try:
        return PACKS[name]
    except KeyError:
        raise UnknownModelError(
            f"unknown model pack '{name}'; available: {', '.join(sorted(PACKS))}"
        ) from None
