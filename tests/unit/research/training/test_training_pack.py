"""The ``siamese:PATH`` model pack on tiny hand-built ONNX files (no torch, no training)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from facegate.core.errors import ModelFileError
from facegate.core.vision.packs import get_pack
from facegate.core.vision.siamese_pack import (
    META_DIM,
    META_INPUT_SIZE,
    META_KIND,
    META_THRESHOLD,
    SIAMESE_KIND,
)


def _write(path: Path, scale: float = 1.0, meta: dict[str, str] | None = None) -> Path:
    """crop (N×3×112×112) → per-channel mean × scale (N×3): a 3-d "embedding"."""
    nodes = [
        helper.make_node("GlobalAveragePool", ["crop"], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["flat"]),
        helper.make_node("Mul", ["flat", "scale"], ["embedding"]),
    ]
    graph = helper.make_graph(
        nodes,
        "toy",
        [helper.make_tensor_value_info("crop", TensorProto.FLOAT, ["n", 3, 112, 112])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["n", 3])],
        [helper.make_tensor("scale", TensorProto.FLOAT, [1], [scale])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    for k, v in (meta or {}).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = k, v
    onnx.save(model, path)
    return path


GOOD = {META_KIND: SIAMESE_KIND, META_THRESHOLD: "0.375", META_DIM: "3", META_INPUT_SIZE: "112"}


def test_pack_reads_threshold_and_embeds(tmp_path: Path) -> None:
    path = _write(tmp_path / "m.onnx", meta=GOOD)
    pack = get_pack(f"siamese:{path}")
    assert pack.default_threshold == 0.375 and pack.dim == 3
    assert pack.name.startswith("siamese-") and len(pack.name) == 20
    embedder = pack.build()
    assert embedder.name == pack.name and embedder.input_size == 112
    crop = np.zeros((112, 112, 3), np.uint8)
    crop[..., 0], crop[..., 1], crop[..., 2] = 30, 40, 0  # B, G, R
    np.testing.assert_allclose(embedder.embed(crop), [0.6, 0.8, 0.0], atol=1e-6)
    small = np.full((56, 56, 3), 9, np.uint8)  # resized to the model's input size
    np.testing.assert_allclose(embedder.embed(small), np.full(3, 1 / np.sqrt(3)), atol=1e-6)


def test_different_files_get_different_names(tmp_path: Path) -> None:
    a = get_pack(f"siamese:{_write(tmp_path / 'a.onnx', 1.0, GOOD)}")
    b = get_pack(f"siamese:{_write(tmp_path / 'b.onnx', 2.0, GOOD)}")
    assert a.name != b.name


@pytest.mark.parametrize(
    ("meta", "message"),
    [
        ({}, "not exported by 'facegate train export'"),
        ({**GOOD, META_THRESHOLD: "high"}, "bad FaceGate metadata"),
        ({k: v for k, v in GOOD.items() if k != META_DIM}, "bad FaceGate metadata"),
    ],
)
def test_foreign_or_broken_metadata_is_refused(tmp_path: Path, meta: dict[str, str], message: str) -> None:
    path = _write(tmp_path / "m.onnx", meta=meta)
    with pytest.raises(ModelFileError, match=message):
        get_pack(f"siamese:{path}")


def test_missing_corrupt_and_empty_paths(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="cannot be read"):
        get_pack(f"siamese:{tmp_path / 'nope.onnx'}")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x00not an onnx file" * 10)
    with pytest.raises(ModelFileError, match="not a readable ONNX file"):
        get_pack(f"siamese:{junk}")
    with pytest.raises(ModelFileError, match="needs a path"):
        get_pack("siamese:")
