"""Passive anti-spoofing: image statistics of a face crop scored by a linear model.

The crop is the YuNet box grown by ``CROP_MARGIN`` on every side (so it holds some background and,
for a printed photo, often the print's edge), made square and resized to ``CROP_SIZE``; the same
crop is used at training and scoring time. Features (34 numbers):

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
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from facegate.core.domain import DetectedFace, ImageArray
from facegate.core.errors import ModelFileError, NoFaceError
from facegate.core.vision.detector import FaceDetector, largest_face

CROP_SIZE = 96
CROP_MARGIN = 0.5  # fraction of the box size added on every side
SPECTRUM_BINS = 16
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
DEFAULT_WEIGHTS = WEIGHTS_DIR / "antispoof.npz"

F64Array = npt.NDArray[np.float64]


def crop_face_for_spoof(image: ImageArray, face: DetectedFace, size: int = CROP_SIZE) -> ImageArray:
    """The face box grown by ``CROP_MARGIN``, made square, padded at borders, resized to size²."""
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    cx, cy = face.box.center
    side = max(face.box.width, face.box.height) * (1.0 + 2.0 * CROP_MARGIN)
    x0, y0 = round(cx - side / 2.0), round(cy - side / 2.0)
    s = max(1, round(side))
    h, w = image.shape[:2]
    pad = max(0, -x0, -y0, x0 + s - w, y0 + s - h)
    if pad:
        image = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        x0, y0 = x0 + pad, y0 + pad
    crop = image[y0 : y0 + s, x0 : x0 + s]
    return np.ascontiguousarray(cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA))


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
class AntiSpoofModel:
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
    def load(cls, path: Path = DEFAULT_WEIGHTS) -> AntiSpoofModel:
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


@dataclass(frozen=True)
class SpoofScore:
    """Passive liveness of one face: ``live`` when ``score >= threshold``."""

    score: float
    threshold: float

    @property
    def live(self) -> bool:
        return self.score >= self.threshold


class PassiveAntiSpoof:
    """Detector + crop + features + model. Safe to share (no mutable state)."""

    def __init__(self, detector: FaceDetector, model: AntiSpoofModel) -> None:
        self.detector = detector
        self.model = model

    def score_face(self, image: ImageArray, face: DetectedFace) -> SpoofScore:
        feats = extract_spoof_features(crop_face_for_spoof(image, face))
        return SpoofScore(float(self.model.score_features(feats)[0]), self.model.threshold)

    def score_image(self, image: ImageArray) -> SpoofScore:
        """Score the largest face of the image; NoFaceError when there is none."""
        face = largest_face(self.detector.detect(image))
        if face is None:
            raise NoFaceError("no face found for the anti-spoof check")
        return self.score_face(image, face)
