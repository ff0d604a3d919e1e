"""Export a checkpoint's embedding network (with its mirror-image branch) to ONNX.

The graph takes ``crop``: float32 N×3×112×112, BGR, pixel values 0..255 (an aligned FaceGate crop,
transposed), and returns ``embedding``: N×dim unit vectors. The decision threshold measured by the
evaluation is stored in the file's ``metadata_props`` so the ``siamese:PATH`` pack needs nothing else.
"""

from __future__ import annotations

import io
import json
import os
import warnings
from pathlib import Path

import onnx
import torch

from facegate.core.vision.siamese_pack import (
    META_DIM,
    META_INPUT_SIZE,
    META_KIND,
    META_THRESHOLD,
    META_THRESHOLD_SOURCE,
    SIAMESE_KIND,
)
from facegate.research.training.model import VerifierNet
from facegate.research.training.trainer import load_checkpoint, net_from_checkpoint

OPSET = 17


def threshold_from_evaluation(checkpoint: Path) -> tuple[float, str] | None:
    """Mean per-fold threshold from ``evaluation.json`` next to the checkpoint, if present."""
    path = checkpoint.parent / "evaluation.json"
    if not path.is_file():
        return None
    data = json.loads(path.read_text())
    if data.get("checkpoint") and Path(data["checkpoint"]).name != checkpoint.name:
        return None
    report = data["report"]
    source = (
        f"mean of {len(report['folds'])} per-fold thresholds (LFW protocol on held-out folds; "
        f"accuracy {report['accuracy_mean']:.4f} ± {report['accuracy_std']:.4f}) from {path.name}"
    )
    return float(report["threshold_mean"]), source


def export_onnx(checkpoint: Path, out: Path, threshold: float, threshold_source: str) -> Path:
    """Write the ONNX file atomically and return its path."""
    ckpt = load_checkpoint(checkpoint)
    net = net_from_checkpoint(ckpt)
    model = VerifierNet(net).eval()
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            model,
            (torch.zeros(1, 3, 112, 112),),
            buf,  # type: ignore[arg-type]  # the TorchScript exporter writes to file objects
            dynamo=False,
            opset_version=OPSET,
            input_names=["crop"],
            output_names=["embedding"],
            dynamic_axes={"crop": {0: "n"}, "embedding": {0: "n"}},
        )
    proto = onnx.load_from_string(buf.getvalue())
    meta = {
        META_KIND: SIAMESE_KIND,
        META_THRESHOLD: f"{threshold:.6f}",
        META_THRESHOLD_SOURCE: threshold_source,
        META_DIM: str(net.dim),
        META_INPUT_SIZE: "112",
        "facegate.input": "float32 N x 3 x 112 x 112, BGR, 0..255 (aligned FaceGate crop)",
        "facegate.research.training": ckpt["split"],
        "facegate.epoch": str(ckpt["epoch"]),
    }
    for key, value in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(proto)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + f".tmp{os.getpid()}")
    tmp.write_bytes(proto.SerializeToString())
    os.replace(tmp, out)
    return out
