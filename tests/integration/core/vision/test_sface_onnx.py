"""The float32 SFace graph run by onnxruntime is the same model as OpenCV's int8 SFace."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from facegate.core.vision.align import align_face
from facegate.core.vision.detector import YunetDetector
from facegate.core.vision.embedder import SfaceOpenCVEmbedder
from facegate.core.vision.images import read_image_file
from facegate.core.vision.sface_onnx import SfaceOnnxEmbedder, float_sface_path


@pytest.fixture(scope="module")
def crops(faces_dir: Path) -> list[np.ndarray]:
    """Every face of every shared photo and crop, aligned at 112x112 (110 faces)."""
    detector = YunetDetector()
    out = []
    files = sorted((faces_dir / "people").glob("*/*")) + sorted((faces_dir / "scenes").glob("*"))
    for path in files:
        image = read_image_file(path)
        out += [align_face(image, f.landmarks, 112) for f in detector.detect(image)]
    assert len(out) > 50
    return out


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.mark.parametrize("runtime", ["onnxruntime", "openvino"])
def test_onnx_embeddings_match_opencv(crops: list[np.ndarray], model_dir: Path, runtime: str) -> None:
    reference = SfaceOpenCVEmbedder()
    fast = SfaceOnnxEmbedder(model_dir, runtime=runtime)
    assert fast.runtime == runtime
    cos = np.array([float(reference.embed(c) @ fast.embed(c)) for c in crops])
    assert cos.min() >= 0.999, f"worst cosine {cos.min():.6f}"
    assert fast.name == reference.name == "sface" and fast.dim == 128


def test_openvino_embeds_from_several_threads(crops: list[np.ndarray], model_dir: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from facegate.core.vision.runtime import openvino_streams

    fast = SfaceOnnxEmbedder(model_dir, runtime="openvino")
    compiled = fast._graph._compiled  # type: ignore[attr-defined]
    # one stream per CPU at 1 thread each: concurrent callers run side by side, not in a queue
    assert compiled.get_property("NUM_STREAMS") == openvino_streams(1) == max(1, os.cpu_count() or 1)
    assert compiled.get_property("INFERENCE_NUM_THREADS") == openvino_streams(1)
    alone = [fast.embed(c) for c in crops[:24]]
    with ThreadPoolExecutor(4) as pool:  # one infer request per thread: no mixed-up outputs
        together = list(pool.map(fast.embed, crops[:24]))
    assert all(np.allclose(a, b, atol=1e-5) for a, b in zip(alone, together, strict=True))


def test_conversion_is_cached_and_clean(model_dir: Path) -> None:
    import onnx

    path = float_sface_path(model_dir)
    mtime = path.stat().st_mtime_ns
    assert float_sface_path(model_dir) == path and path.stat().st_mtime_ns == mtime  # not rebuilt
    model = onnx.load(str(path))
    assert [i.name for i in model.graph.input] == ["data"]  # stale weight inputs dropped
    ops = {n.op_type for n in model.graph.node}
    assert "DequantizeLinear" not in ops and "PRelu" not in ops
    kinds = {t.data_type for t in model.graph.initializer}
    assert kinds == {onnx.TensorProto.FLOAT, onnx.TensorProto.INT64}  # weights float, shapes int


def test_embedding_is_unit_length_and_resizes_odd_crops(crops: list[np.ndarray],
                                                        model_dir: Path) -> None:
    import cv2

    fast = SfaceOnnxEmbedder(model_dir)
    big = cv2.resize(crops[0], (224, 224))
    v = fast.embed(big)
    assert v.shape == (128,) and abs(float(np.linalg.norm(v)) - 1.0) < 1e-5
    assert float(v @ fast.embed(crops[0])) > 0.95
