"""The int8 SFace pack: built deterministically from shipped ranges, close to the float model on
faces it was not calibrated on (LFW), and kept apart from ``sface`` templates."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facegate.core.domain import Embedding
from facegate.core.errors import ModelMismatchError
from facegate.core.matching.similarity import compare_embeddings
from facegate.core.vision.align import align_face
from facegate.core.vision.detector import YunetDetector, most_central_face
from facegate.core.vision.images import read_image_file
from facegate.core.vision.packs import PACKS, EmbedderOptions
from facegate.core.vision.sface_int8 import SfaceInt8Embedder, _decode_calibration, int8_sface_path
from facegate.core.vision.sface_onnx import SfaceOnnxEmbedder


@pytest.fixture(scope="module")
def lfw_crops(lfw_dir: Path) -> list[np.ndarray]:
    """The centre face of 120 LFW images (the calibration used no LFW image)."""
    detector = YunetDetector()
    files = sorted(lfw_dir.rglob("*.jpg"))[::100][:120]
    out = []
    for path in files:
        image = read_image_file(path)
        face = most_central_face(detector.detect(image), image.shape[1], image.shape[0])
        if face is not None:
            out.append(align_face(image, face.landmarks, 112))
    assert len(out) >= 100
    return out


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


def test_int8_is_close_to_float_on_unseen_faces(lfw_crops: list[np.ndarray], model_dir: Path) -> None:
    exact = SfaceOnnxEmbedder(model_dir, runtime="onnxruntime")
    fast = SfaceInt8Embedder(model_dir, runtime="openvino")
    cos = np.array([float(exact.embed(c) @ fast.embed(c)) for c in lfw_crops])
    assert cos.mean() >= 0.99 and cos.min() >= 0.98, (cos.mean(), cos.min())
    assert fast.name == "sface-int8" and fast.dim == 128


def test_both_runtimes_compute_the_same_int8_function(lfw_crops: list[np.ndarray], model_dir: Path,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    fast = SfaceInt8Embedder(model_dir, runtime="openvino")
    with caplog.at_level("WARNING", logger="facegate"):
        slow = SfaceInt8Embedder(model_dir, runtime="onnxruntime")
    assert "4x slower on onnxruntime" in caplog.text  # the user is told how to get the fast path
    cos = np.array([float(fast.embed(c) @ slow.embed(c)) for c in lfw_crops[:40]])
    assert cos.min() >= 0.998, cos.min()


def test_int8_graph_is_quantized_and_rebuilds_identically(model_dir: Path, tmp_path: Path) -> None:
    import onnx

    path = int8_sface_path(model_dir)
    assert int8_sface_path(model_dir) == path  # cached
    again = int8_sface_path(tmp_path)  # a second build from scratch
    assert again.read_bytes() == path.read_bytes()
    ops = [n.op_type for n in onnx.load(str(path)).graph.node]
    # every Conv and the Gemm take int8 inputs; PRelu stays one node (fused by OpenVINO)
    assert ops.count("QuantizeLinear") == ops.count("Conv") + ops.count("Gemm") == 28
    assert ops.count("PRelu") == 27 and "BatchNormalization" not in ops and "Add" not in ops
    amax, ranges = _decode_calibration()
    assert len(amax) > 20 and all(lo <= hi for lo, hi in ranges.values())


def test_pack_is_registered_and_not_mixed_with_sface(model_dir: Path, lfw_crops: list[np.ndarray]) -> None:
    pack = PACKS["sface-int8"]
    embedder = pack.build(EmbedderOptions(cache_dir=model_dir))
    assert embedder.name == pack.name == "sface-int8"
    assert 0.3 < pack.default_threshold < pack.high_security_threshold < 0.4
    a = Embedding(embedder.embed(lfw_crops[0]), "sface-int8")
    b = Embedding(SfaceOnnxEmbedder(model_dir).embed(lfw_crops[0]), "sface")
    with pytest.raises(ModelMismatchError):
        compare_embeddings(a, b, pack.default_threshold)
