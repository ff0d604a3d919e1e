"""Face embedding: the ``FaceEmbedder`` interface and the SFace implementation.

An embedder takes an aligned crop (``input_size`` × ``input_size``, BGR) and returns a unit-length
float32 vector. Model packs (``facegate.core.vision.packs``) pick the implementation by name.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from facegate.core.domain import FloatArray, ImageArray
from facegate.core.matching.similarity import unit_vector
from facegate.core.vision.model_files import SFACE, locate_model


class FaceEmbedder(Protocol):
    name: str
    """Model name recorded with every template (e.g. ``sface``); embeddings of different names
    never mix."""
    dim: int
    input_size: int

    def embed(self, aligned: ImageArray) -> FloatArray:
        """Unit-length embedding of one aligned crop."""
        ...


def normalize(vector: np.ndarray) -> FloatArray:
    return unit_vector(np.asarray(vector, dtype=np.float32))


class SfaceOpenCVEmbedder:
    """SFace (OpenCV Zoo, int8 block-quantized) run by OpenCV's DNN module.

    The reference implementation: correct everywhere, but slow (~50 ms per face on 2 cores).
    """

    name = "sface"
    dim = 128
    input_size = 112

    def __init__(self, model_path: Path | None = None) -> None:
        path = model_path or locate_model(SFACE)
        self._net = cv2.FaceRecognizerSF.create(str(path), "")
        self._lock = threading.Lock()

    def embed(self, aligned: ImageArray) -> FloatArray:
        if aligned.shape[:2] != (self.input_size, self.input_size):
            aligned = cv2.resize(aligned, (self.input_size, self.input_size))
        with self._lock:
            feat = self._net.feature(np.ascontiguousarray(aligned))
        return normalize(feat)
