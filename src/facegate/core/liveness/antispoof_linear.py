"""The first passive anti-spoof model: image statistics of a face crop scored by a linear model.

Kept as the baseline of the cross-dataset benchmark and for weights trained with
``facegate liveness train`` (``.npz``); the shipped model is the CNN in ``antispoof``. It learned
NUAA, not spoofing: on faces from other sources it rejects most real faces (docs/benchmarks.md).

The crop is ``crop_face_for_spoof`` resized to ``CROP_SIZE``. Features (34 numbers):

* colour moments: mean, standard deviation and skewness of each channel of HSV and YCrCb — a
  recaptured print or screen shifts saturation and chroma and compresses the dynamic range;
* the radial power spectrum of the grey crop in ``SPECTRUM_BINS`` rings, log-normalised — printing
  and recapturing remove fine detail (the high-frequency rings lose energy).

Uniform-LBP texture histograms (``lbp_histograms``) were measured too: they fit the training
subjects (CV ACER 2–3%) but transferred badly to NUAA's test sessions (ACER ~20%); see
docs/decisions.md. The model is a logistic regression (numpy only) on standardised features;
``score`` is the probability that the crop is live (bona fide), higher = more live.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from facegate.core.domain import ImageArray
from facegate.core.errors import ModelFileError
from facegate.core.liveness.antispoof import WEIGHTS_DIR, F64Array, resize_crops

CROP_SIZE = 96
SPECTRUM_BINS = 16
LEGACY_WEIGHTS = WEIGHTS_DIR / "antispoof.npz"


def _uniform_table() -> npt.NDArray[np.int64]:
    """Map the 256 8-bit LBP codes to 59 bins: 58 uniform patterns + one for the rest."""
    table = np.full(256, 58, dtype=np.int64)
    nxt = 0
    for code in range(256):
        bits = [(code >> i) & 1 for i in range(8)]
        transitions = sum(bits[i] != bits[(i + 1) % 8] for i in range(8))
        if transitions <= 2:
            table[code] = nxt
            nxt += 1
    return table


_UNIFORM = _uniform_table()
_OFFSETS = ((-1, -1), (-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1))


def lbp_codes(channel: npt.NDArray[np.uint8], radius: int) -> npt.NDArray[np.int64]:
    """Uniform LBP bin (0..58) of every interior pixel, 8 neighbours at ``radius`` (square ring)."""
    c = channel.astype(np.int16)
    h, w = c.shape
    r = radius
    center = c[r : h - r, r : w - r]
    code = np.zeros(center.shape, dtype=np.int64)
    for bit, (dy, dx) in enumerate(_OFFSETS):
        nb = c[r + dy * r : h - r + dy * r, r + dx * r : w - r + dx * r]
        code |= (nb >= center).astype(np.int64) << bit
    return _UNIFORM[code]


def _hist(codes: npt.NDArray[np.int64]) -> F64Array:
    h = np.bincount(codes.ravel(), minlength=59).astype(np.float64)
    return h / max(h.sum(), 1.0)


def lbp_histograms(crop: ImageArray) -> F64Array:
    """Uniform-LBP histograms (radius 1, 2) of each YCrCb and HSV channel (not used by the model)."""
    parts: list[F64Array] = []
    for code in (cv2.COLOR_BGR2YCrCb, cv2.COLOR_BGR2HSV):
        img = cv2.cvtColor(crop, code)
        for ch in range(3):
            channel = np.ascontiguousarray(img[:, :, ch])
            parts.extend(_hist(lbp_codes(channel, radius)) for radius in (1, 2))
    return np.concatenate(parts)


def color_moments(crop: ImageArray) -> F64Array:
    """Mean and standard deviation (scaled to 0..1) and skewness of each HSV and YCrCb channel."""
    out: list[F64Array] = []
    for code in (cv2.COLOR_BGR2HSV, cv2.COLOR_BGR2YCrCb):
        x = cv2.cvtColor(crop, code).reshape(-1, 3).astype(np.float64)
        mu = x.mean(axis=0)
        sd = x.std(axis=0) + 1e-6
        skew = (((x - mu) / sd) ** 3).mean(axis=0)
        out += [mu / 255.0, sd / 255.0, skew]
    return np.concatenate(out)


def radial_spectrum(crop: ImageArray, bins: int = SPECTRUM_BINS) -> F64Array:
    """Log mean magnitude of the grey crop's 2-D spectrum in ``bins`` rings, minus the log total."""
    g = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY).astype(np.float64)
    mag = np.abs(np.fft.fftshift(np.fft.fft2(g - g.mean())))
    h, w = mag.shape
    yy, xx = np.mgrid[:h, :w]
    r = np.hypot(yy - h / 2.0, xx - w / 2.0)
    edges = np.linspace(0.0, float(r.max()), bins + 1)
    edges[-1] += 1e-9
    energy = np.array(
        [mag[(r >= edges[i]) & (r < edges[i + 1])].mean() for i in range(bins)], dtype=np.float64
    )
    return np.log(energy + 1e-6) - np.log(energy.sum())


def extract_spoof_features(crop: ImageArray) -> F64Array:
    """The feature vector of one BGR crop (see the module docstring)."""
    return np.concatenate([color_moments(crop), radial_spectrum(crop)])


@dataclass(frozen=True)
class LinearAntiSpoofModel:
    """Standardisation + logistic regression; ``threshold`` on the live probability."""

    mean: F64Array
    scale: F64Array
    weights: F64Array
    bias: float
    threshold: float
    name: str = "colour-moments+spectrum-logreg"

    def score_features(self, features: F64Array) -> F64Array:
        """Live probability of each row of ``features`` (n × d) or of one vector."""
        x = (np.atleast_2d(features) - self.mean) / self.scale
        z = x @ self.weights + self.bias
        return 1.0 / (1.0 + np.exp(-np.clip(z, -60.0, 60.0)))

    @property
    def crop_size(self) -> int:
        return CROP_SIZE

    def score_crops(self, crops: Sequence[ImageArray]) -> F64Array:
        """Live probability of each spoof crop (``crop_face_for_spoof`` at ``CROP_SIZE``)."""
        if len(crops) == 0:
            return np.zeros(0)
        sized = resize_crops(crops, CROP_SIZE)
        return self.score_features(np.vstack([extract_spoof_features(c) for c in sized]))

    def save(self, path: Path, meta: dict[str, object] | None = None) -> None:
        """Write the weights (``.npz``) and, when given, the provenance JSON next to it."""
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as fh:
            np.savez_compressed(
                fh,
                mean=self.mean,
                scale=self.scale,
                weights=self.weights,
                bias=np.array([self.bias]),
                threshold=np.array([self.threshold]),
                name=np.array([self.name]),
            )
        if meta is not None:
            path.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n")

    @classmethod
    def load(cls, path: Path = LEGACY_WEIGHTS) -> LinearAntiSpoofModel:
        try:
            with np.load(path, allow_pickle=False) as data:
                return cls(
                    mean=data["mean"].astype(np.float64),
                    scale=data["scale"].astype(np.float64),
                    weights=data["weights"].astype(np.float64),
                    bias=float(data["bias"][0]),
                    threshold=float(data["threshold"][0]),
                    name=str(data["name"][0]),
                )
        except (OSError, KeyError, ValueError) as exc:
            raise ModelFileError(f"cannot load anti-spoof weights {path}: {exc}") from exc
