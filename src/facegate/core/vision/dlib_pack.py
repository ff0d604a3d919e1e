"""``dlib``: the ResNet model of ``face_recognition`` (dlib, 128-d), optional extra ``dlib``.

Users of ``face_recognition`` can keep using the same network. dlib wants its own face chip
(150×150, its 5-point layout with 25 % padding), so this embedder receives FaceGate's five-point
crop at 150×150, finds dlib's five points on it with dlib's shape predictor and lets
``compute_face_descriptor`` cut the chip it was trained on. Because FaceGate's crop is tighter than
dlib's padded chip, the chip's outer margin is black; LFW figures in docs/benchmarks.md are
measured with exactly this path. Encodings made by ``face_recognition`` itself (HOG detector,
full image) are close to but not identical with these.

dlib is not thread-safe per object: calls are serialised by a lock.
"""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path

import numpy as np

from facegate.core.domain import FloatArray, ImageArray
from facegate.core.errors import ModelFileError
from facegate.core.vision.embedder import normalize

# Where the face sits in FaceGate's 112-layout crop, as dlib's HOG detector would box it
# (x0, y0, x1, y1 in 112 units): brows to chin, ear to ear.
_FACE_BOX_112 = (18.0, 28.0, 94.0, 108.0)


def dlib_model_dir() -> Path:
    """``face_recognition_models/models``, found without importing the package (its
    ``__init__`` needs ``pkg_resources``, which current setuptools no longer ships)."""
    spec = importlib.util.find_spec("face_recognition_models")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for root in locations:
        models = Path(root) / "models"
        if (models / "dlib_face_recognition_resnet_model_v1.dat").is_file():
            return models
    raise ModelFileError(
        "model pack 'dlib' needs the optional package face-recognition-models: "
        "pip install 'facegate[dlib]'"
    )


class DlibEmbedder:
    """dlib ``dlib_face_recognition_resnet_model_v1`` (the model of ``face_recognition``)."""

    name = "dlib"
    dim = 128
    input_size = 150

    def __init__(self) -> None:
        try:
            import dlib
        except ImportError as exc:
            raise ModelFileError(
                "model pack 'dlib' needs the optional packages dlib-bin and "
                "face-recognition-models: pip install 'facegate[dlib]'"
            ) from exc
        models = dlib_model_dir()
        self._dlib = dlib
        self._shape = dlib.shape_predictor(str(models / "shape_predictor_5_face_landmarks.dat"))
        self._net = dlib.face_recognition_model_v1(
            str(models / "dlib_face_recognition_resnet_model_v1.dat")
        )
        k = self.input_size / 112.0
        x0, y0, x1, y1 = (round(v * k) for v in _FACE_BOX_112)
        self._box = dlib.rectangle(x0, y0, x1, y1)
        self._lock = threading.Lock()

    def embed(self, aligned: ImageArray) -> FloatArray:
        import cv2

        if aligned.shape[:2] != (self.input_size, self.input_size):
            aligned = cv2.resize(aligned, (self.input_size, self.input_size))
        rgb = np.ascontiguousarray(aligned[:, :, ::-1])
        with self._lock:
            shape = self._shape(rgb, self._box)
            vec = self._net.compute_face_descriptor(rgb, shape, 0)
        return normalize(np.asarray(vec, dtype=np.float32))
