"""Passive anti-spoofing: a small CNN on a face crop, run with onnxruntime (no PyTorch needed).

The crop is the YuNet box grown by ``CROP_MARGIN`` on every side (so it holds some background and,
for a printed photo or a phone, often its edge), made square and resized to the model's input size;
the same crop is used at training and scoring time. ``score`` is the probability that the face is
live (bona fide), higher = more live; ``live`` when it reaches the threshold stored in the model.

The shipped model (``weights/antispoof_cnn.onnx``) is trained by ``facegate train spoof`` on the
NUAA training split plus screen and print attacks synthesised from real faces (LFW); its threshold
is chosen on held-out training identities. Its cross-dataset figures are in docs/benchmarks.md.
``AntiSpoofModel.load`` also accepts the older linear model's ``.npz`` weights
(``antispoof_linear``).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np
import numpy.typing as npt

from facegate.core.domain import DetectedFace, ImageArray
from facegate.core.errors import ModelFileError, NoFaceError
from facegate.core.vision.detector import FaceDetector, largest_face

CROP_MARGIN = 0.5  # fraction of the box size added on every side
CROP_SIZE = 96  # the linear model's crop size (kept for ``facegate liveness train``)
CNN_INPUT_SIZE = 64
SOURCE_CROP_SIZE = 128  # the CNN's crop is cut at this size, then shrunk to its input (as in training)
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
DEFAULT_WEIGHTS = WEIGHTS_DIR / "antispoof_cnn.onnx"
SPOOF_CNN_KIND = "facegate-spoof-cnn"
META_KIND = "facegate.kind"
META_THRESHOLD = "facegate.threshold"
META_INPUT_SIZE = "facegate.input_size"

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


class SpoofModel(Protocol):
    """What the liveness service needs from a passive model."""

    @property
    def name(self) -> str: ...

    @property
    def threshold(self) -> float: ...

    @property
    def crop_size(self) -> int: ...

    def score_crops(self, crops: Sequence[ImageArray]) -> F64Array:
        """Live probability of each BGR crop (``crop_face_for_spoof`` at ``crop_size``)."""
        ...


def resize_crops(crops: Sequence[ImageArray], size: int) -> npt.NDArray[np.uint8]:
    """Crops of any size → N × size × size × 3 uint8 (area interpolation, as at training time)."""
    out = np.empty((len(crops), size, size, 3), dtype=np.uint8)
    for i, crop in enumerate(crops):
        if crop.ndim == 2:
            crop = cv2.cvtColor(crop, cv2.COLOR_GRAY2BGR)
        if crop.shape[:2] != (size, size):
            crop = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
        out[i] = crop
    return out


class AntiSpoofModel:
    """The CNN (ONNX, float32 N × 3 × S × S BGR 0..255 → one logit per crop) and its threshold."""

    def __init__(self, path: Path, threshold: float, input_size: int, name: str) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        self._session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        self._lock = threading.Lock()
        self.path = path
        self.threshold = threshold
        self.input_size = input_size
        self.name = name

    @property
    def crop_size(self) -> int:
        return SOURCE_CROP_SIZE

    def score_crops(self, crops: Sequence[ImageArray]) -> F64Array:
        if len(crops) == 0:
            return np.zeros(0)
        x = resize_crops(crops, self.input_size).transpose(0, 3, 1, 2).astype(np.float32)
        with self._lock:
            (logits,) = self._session.run(None, {"crop": x})
        z = np.clip(np.asarray(logits, dtype=np.float64).reshape(-1), -60.0, 60.0)
        return 1.0 / (1.0 + np.exp(-z))

    @classmethod
    def load(cls, path: Path = DEFAULT_WEIGHTS) -> SpoofModel:
        """The CNN from an ``.onnx`` file, or the linear model from an ``.npz`` file."""
        if path.suffix == ".npz":
            from facegate.core.liveness.antispoof_linear import LinearAntiSpoofModel

            return LinearAntiSpoofModel.load(path)
        try:
            import onnx

            meta = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
            if meta.get(META_KIND) != SPOOF_CNN_KIND:
                raise ValueError(f"not a FaceGate anti-spoof model (kind {meta.get(META_KIND)!r})")
            return cls(
                path,
                float(meta[META_THRESHOLD]),
                int(meta.get(META_INPUT_SIZE, CNN_INPUT_SIZE)),
                meta.get("facegate.name", "spoof-cnn"),
            )
        except Exception as exc:  # OSError, KeyError, ValueError and onnx/onnxruntime's own errors
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
    """Detector + crop + model. Safe to share between threads."""

    def __init__(self, detector: FaceDetector, model: SpoofModel) -> None:
        self.detector = detector
        self.model = model

    def crop(self, image: ImageArray, face: DetectedFace) -> ImageArray:
        return crop_face_for_spoof(image, face, self.model.crop_size)

    def score_face(self, image: ImageArray, face: DetectedFace) -> SpoofScore:
        score = float(self.model.score_crops([self.crop(image, face)])[0])
        return SpoofScore(score, self.model.threshold)

    def score_image(self, image: ImageArray) -> SpoofScore:
        """Score the largest face of the image; NoFaceError when there is none."""
        face = largest_face(self.detector.detect(image))
        if face is None:
            raise NoFaceError("no face found for the anti-spoof check")
        return self.score_face(image, face)
