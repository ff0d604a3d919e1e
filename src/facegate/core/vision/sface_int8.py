"""SFace as a static int8 ONNX graph (weights per-channel int8, activations per-tensor uint8).

Built once from the float32 graph of ``sface_onnx`` and cached next to it. The build is
deterministic and needs no images at run time: the calibration (per-channel activation maxima for
the equalization and per-tensor activation ranges) was measured once by the maintainers and is
shipped as package data (``CALIBRATION_FILE``). Steps, each exact in float arithmetic except the last:

1. fold the weight ``Reshape``s and every ``BatchNormalization`` into the adjacent Conv/Gemm
   (``bn1`` and ``fc1`` into ``pre_fc1``), drop the inference-time ``Dropout``, and turn the
   float graph's rewritten PRelus back into ``PRelu`` nodes;
2. cross-layer equalization: PRelu is positively homogeneous per channel, so channel ``c`` of each
   conv output is divided by a factor and the next layer's input weights multiplied by it, making
   the per-channel activation ranges similar (per-tensor activation quantization loses much less);
3. ``onnxruntime.quantization.quantize_static`` in QDQ form on the inputs of every Conv and the
   Gemm only (per-channel weights, ``reduce_range``: AVX2 without VNNI multiplies u8*s8 pairs into
   saturating int16), with the shipped ranges passed as the calibration cache. Outputs stay
   float, so OpenVINO fuses rescale, bias, PRelu and the next quantization into each int8
   convolution (``facegate.core.vision.runtime``).

Measured (docs/decisions.md): OpenVINO runs this graph in ~13 ms per face on one thread and ~8 ms
on two; onnxruntime computes the same function (cosine >= 0.998 to OpenVINO's output) but ~4x
slower, since it has no fused int8 PRelu. An earlier form of this pack (version 1) rewrote PRelu
into Conv/Relu/Add for onnxruntime's int8 kernels: 15 ms on one thread, 11 ms on two.

Embeddings are close to, not identical with, the float model's: the pack has its own name
(``sface-int8``) so its templates are not mixed with ``sface`` ones.
"""

from __future__ import annotations

import base64
import importlib.resources
import io
import json
import logging
import os
import tempfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from facegate.core.errors import ModelFileError
from facegate.core.vision.runtime import OPENVINO_HINT, openvino_available
from facegate.core.vision.sface_onnx import SfaceOnnxEmbedder, cached_build, float_sface_path

_INT8_VERSION = 2  # bump when the build or the calibration changes


def _clean(model: Any) -> None:
    """Steps 1 and 2 on ``model`` (an ``onnx.ModelProto`` from ``convert_sface_to_float``)."""
    from onnx import numpy_helper as nh

    g = model.graph
    arr, nodes = _fold_constants(g)
    kept, bn1 = _fold_batchnorms(nodes, arr)
    if bn1 is not None:
        _fold_into_gemm(kept, arr, bn1)
    out = _restore_prelus(kept, arr)
    used = {i for n in out for i in n.input}
    del g.node[:]
    g.node.extend(out)
    del g.initializer[:]
    g.initializer.extend(nh.from_array(np.asarray(arr[k]), name=k) for k in sorted(used) if k in arr)


def _fold_constants(g: Any) -> tuple[dict[str, np.ndarray], list[Any]]:
    """Initializers, Constant nodes and constant Reshapes as arrays; the other nodes."""
    from onnx import numpy_helper as nh

    arr = {t.name: nh.to_array(t) for t in g.initializer}
    nodes = []
    for n in g.node:
        if n.op_type == "Reshape" and all(i in arr for i in n.input):
            arr[n.output[0]] = arr[n.input[0]].reshape(arr[n.input[1]])
        elif n.op_type == "Constant":
            arr[n.output[0]] = nh.to_array(n.attribute[0].t)
        else:
            nodes.append(n)
    return arr, nodes


def _fold_batchnorms(
    nodes: list[Any], arr: dict[str, np.ndarray]
) -> tuple[list[Any], tuple[np.ndarray, np.ndarray] | None]:
    """BatchNorms folded into their Conv/Gemm, Dropouts dropped; the BN left before Flatten."""
    prod = {o: n for n in nodes for o in n.output}
    cons: dict[str, list[Any]] = {}
    for n in nodes:
        for i in n.input:
            cons.setdefault(i, []).append(n)
    rename: dict[str, str] = {}
    kept = []
    bn1 = None
    for n in nodes:
        if n.op_type == "BatchNormalization":
            gamma, beta, mean, var = (arr[i] for i in n.input[1:5])
            eps = next((a.f for a in n.attribute if a.name == "epsilon"), 1e-5)
            sc = gamma / np.sqrt(var + eps)
            sh = beta - mean * sc
            p = prod.get(n.input[0])
            if p is not None and p.op_type in ("Conv", "Gemm") and len(cons[n.input[0]]) == 1:
                _scale_producer(p, n, arr, sc, sh)
                continue
            bn1 = (sc, sh)  # the BN between the last PRelu and Flatten: folded into the Gemm
            rename[n.output[0]] = n.input[0]
            continue
        if n.op_type == "Dropout":
            rename[n.output[0]] = n.input[0]
            continue
        kept.append(n)
    for n in kept:
        for k, i in enumerate(n.input):
            while i in rename:
                i = rename[i]
            n.input[k] = i
    return kept, bn1


def _scale_producer(
    p: Any, bn: Any, arr: dict[str, np.ndarray], sc: np.ndarray, sh: np.ndarray
) -> None:
    """Fold the BatchNorm ``bn`` (scale ``sc``, shift ``sh``) into its Conv/Gemm ``p``."""
    w = arr[p.input[1]]
    shape = (-1, 1, 1, 1) if p.op_type == "Conv" else (-1, 1)
    bias = arr[p.input[2]] if len(p.input) > 2 else np.zeros(w.shape[0], np.float32)
    arr[p.input[1] + "_f"] = (w * sc.reshape(shape)).astype(np.float32)
    arr[p.input[1] + "_fb"] = (bias * sc + sh).astype(np.float32)
    p.input[1] = p.input[1] + "_f"
    if len(p.input) > 2:
        p.input[2] = p.input[1] + "b"
    else:
        p.input.append(p.input[1] + "b")
    p.output[0] = bn.output[0]


def _fold_into_gemm(
    kept: list[Any], arr: dict[str, np.ndarray], bn1: tuple[np.ndarray, np.ndarray]
) -> None:
    gemm = next(n for n in kept if n.op_type == "Gemm")
    w, b = arr[gemm.input[1]], arr[gemm.input[2]]
    hw = w.shape[1] // bn1[0].size
    scf, shf = np.repeat(bn1[0], hw), np.repeat(bn1[1], hw)
    arr[gemm.input[2] + "_g"] = (b + w @ shf).astype(np.float32)
    arr[gemm.input[1] + "_g"] = (w * scf[None]).astype(np.float32)
    gemm.input[1] += "_g"
    gemm.input[2] += "_g"


def _restore_prelus(kept: list[Any], arr: dict[str, np.ndarray]) -> list[Any]:
    """PRelu as written by sface_onnx._expand_prelu, either form, back to one PRelu node:
    v2: Add(Relu(y), Mul(Min(y, 0), slope));  v3: Add(Conv_dw1x1(Min(y, 0), slope - 1), y)."""
    from onnx import helper

    prod = {o: n for n in kept for o in n.output}
    out = []
    skip: set[int] = set()
    for n in kept:
        found = _prelu_pattern(n, prod, arr)
        if found is not None:
            y, s, dead = found
            skip.update(id(x) for x in dead)
            z = n.output[0]
            arr[z + "_slope"] = s.astype(np.float32).reshape(-1, 1, 1)
            out.append(helper.make_node("PRelu", [y, z + "_slope"], [z]))
            continue
        out.append(n)
    return [n for n in out if id(n) not in skip]


def _prelu_pattern(
    n: Any, prod: dict[str, Any], arr: dict[str, np.ndarray]
) -> tuple[str, np.ndarray, tuple[Any, ...]] | None:
    """(input, slope, nodes to drop) when the Add ``n`` ends an expanded PRelu."""
    if n.op_type != "Add" or len(n.input) != 2:
        return None
    pa, pb = (prod.get(i) for i in n.input)
    if pa is not None and pb is not None and pa.op_type == "Relu" and pb.op_type == "Mul" \
            and prod.get(pb.input[0]) is not None and prod[pb.input[0]].op_type == "Min":
        return (pa.input[0], arr[pb.input[1]].reshape(-1), (pa, pb, prod[pb.input[0]]))
    if pa is not None and pa.op_type == "Conv" and pa.input[1] in arr \
            and prod.get(pa.input[0]) is not None and prod[pa.input[0]].op_type == "Min" \
            and prod[pa.input[0]].input[0] == n.input[1]:
        return (n.input[1], arr[pa.input[1]].reshape(-1) + 1.0, (pa, prod[pa.input[0]]))
    return None


def _equalize_pairs(model: Any) -> list[tuple[Any, Any]]:
    """(producer conv, consumer conv/Gemm) across each PRelu, in graph order."""
    g = model.graph
    cons: dict[str, list] = {}
    for n in g.node:
        for i in n.input:
            cons.setdefault(i, []).append(n)
    gemm = next(n for n in g.node if n.op_type == "Gemm")
    pairs = []
    for a in (n for n in g.node if n.op_type == "Conv"):
        (prelu,) = cons[a.output[0]]
        (b,) = cons[prelu.output[0]]
        if prelu.op_type != "PRelu" or b.op_type not in ("Conv", "Flatten"):
            raise ModelFileError(f"unexpected SFace graph at {a.name}: {prelu.op_type} -> {b.op_type}")
        pairs.append((a, gemm if b.op_type == "Flatten" else b))
    return pairs


def _equalize(model: Any, amax: dict[str, np.ndarray], alpha: float = 0.75) -> None:
    """Step 3, from the per-channel max |output| of each main conv (``amax``, by output name)."""
    from onnx import numpy_helper as nh

    inits = {t.name: t for t in model.graph.initializer}

    def get(name: str) -> np.ndarray:
        return nh.to_array(inits[name]).astype(np.float32)

    def put(name: str, value: np.ndarray) -> None:
        inits[name].CopyFrom(nh.from_array(value.astype(np.float32), name=name))

    for a_node, b_node in _equalize_pairs(model):
        act = amax[a_node.output[0]].astype(np.float64) + 1e-8
        wa = get(a_node.input[1])
        c = wa.shape[0]
        wb = get(b_node.input[1])
        group = next((x.i for x in b_node.attribute if x.name == "group"), 1)
        if b_node.op_type == "Conv" and group == c:  # depthwise: its per-channel weights absorb it
            sc = act / act.max()
            wb = wb * sc.reshape(-1, 1, 1, 1)
        else:
            if b_node.op_type == "Gemm":
                hw = wb.shape[1] // c
                wr = np.abs(wb).reshape(wb.shape[0], c, hw).max((0, 2))
            else:
                wr = np.abs(wb).max((0, 2, 3))
            sc = (act / act.max()) ** alpha / (wr / wr.max()) ** (1 - alpha)
            sc = sc / sc.max()
            wb = wb * (np.repeat(sc, hw)[None] if b_node.op_type == "Gemm" else sc.reshape(1, -1, 1, 1))
        put(b_node.input[1], wb)
        put(a_node.input[1], wa / sc.reshape(-1, 1, 1, 1))
        if len(a_node.input) > 2:
            put(a_node.input[2], get(a_node.input[2]) / sc)


def _prepared_float(float_path: Path, amax: dict[str, np.ndarray] | None) -> Any:
    import onnx

    model = onnx.load(str(float_path))
    _clean(model)
    if amax is not None:
        _equalize(model, amax)
    model.ir_version = max(model.ir_version, 8)
    onnx.checker.check_model(model)
    return model


CALIBRATION_FILE = "calibration/sface_int8_v2.b64"
"""Package data: base64(zlib(npz)) measured once on 472 aligned faces that are NOT from LFW (every
YuNet face of the shared data's faces/ folder, people and scenes, and every 6th frame of its video
clips): "amax:<tensor>" float16 per-channel max |conv output| for the equalization, and "ranges",
JSON {tensor: [min, max]} of the equalized graph, the quantizer's activation ranges."""


def _decode_calibration() -> tuple[dict[str, np.ndarray], dict[str, tuple[float, float]]]:
    text = importlib.resources.files("facegate.core.vision").joinpath(CALIBRATION_FILE).read_text()
    raw = np.load(io.BytesIO(zlib.decompress(base64.b64decode("".join(text.split())))))
    amax = {k[5:]: raw[k].astype(np.float32) for k in raw.files if k.startswith("amax:")}
    ranges = json.loads(bytes(raw["ranges"]).decode())
    return amax, {k: (float(v[0]), float(v[1])) for k, v in ranges.items()}


def quantizer_settings() -> dict[str, Any]:
    """``quantize_static`` settings, shared with ``scripts/calibrate_sface_int8.py``."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType

    return {
        "quant_format": QuantFormat.QDQ, "per_channel": True, "reduce_range": True,
        "activation_type": QuantType.QUInt8, "weight_type": QuantType.QInt8,
        "op_types_to_quantize": ["Conv", "Gemm"], "calibrate_method": CalibrationMethod.MinMax,
        # int8 inputs, float outputs: the runtime fuses rescale + bias + PRelu + the next layer's
        # quantization into each int8 convolution
        "extra_options": {"ActivationSymmetric": False,
                          "OpTypesToExcludeOutputQuantization": ["Conv", "Gemm"]},
    }


def quantize_sface(float_path: Path, target: Path) -> None:
    """Write the int8 graph built from the float32 SFace graph ``float_path`` to ``target``."""
    from onnxruntime.quantization import CalibrationMethod, quantize_static
    from onnxruntime.quantization.calibrate import TensorData, TensorsData, save_tensors_data

    amax, ranges = _decode_calibration()
    model = _prepared_float(float_path, amax)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".sface_int8_") as tmp:
        data = {
            k: TensorData(lowest=np.array(lo, np.float32), highest=np.array(hi, np.float32))
            for k, (lo, hi) in ranges.items()
        }
        cache = Path(tmp) / "ranges.json"
        save_tensors_data(TensorsData(CalibrationMethod.MinMax, data), cache)
        out = Path(tmp) / "int8.onnx"
        root = logging.getLogger()
        level = root.level
        root.setLevel(logging.ERROR)  # silence the quantizer's generic "consider pre-processing"
        try:
            quantize_static(model, out, calibration_data_reader=None, calibration_cache_path=cache,
                            **quantizer_settings())
        finally:
            root.setLevel(level)
        os.replace(out, target)


def int8_sface_path(cache_dir: Path, source: Path | None = None) -> Path:
    """The cached int8 SFace graph (built from the cached float32 one if absent)."""
    float_path = float_sface_path(cache_dir, source)
    stem = float_path.stem.replace("sface_float32_", "")
    target = cache_dir / f"sface_int8_{stem}_q{_INT8_VERSION}.onnx"
    return cached_build(target, lambda t: quantize_sface(float_path, t), "the int8 SFace model")


class SfaceInt8Embedder(SfaceOnnxEmbedder):
    """SFace as a static int8 graph (see the module docstring)."""

    name = "sface-int8"
    prefers_openvino = True  # ~4x faster there (module docstring)

    def __init__(self, cache_dir: Path, model_path: Path | None = None,
                 threads: int | None = None, runtime: str = "auto") -> None:
        super().__init__(cache_dir, model_path, threads, runtime)
        if self.runtime != "openvino":
            how = "FACEGATE_INFERENCE_RUNTIME=auto picks it" if openvino_available() else OPENVINO_HINT
            logging.getLogger("facegate").warning(
                "the sface-int8 pack runs about 4x slower on onnxruntime than on OpenVINO; %s", how
            )

    def _converted_path(self, cache_dir: Path, model_path: Path | None) -> Path:
        return int8_sface_path(cache_dir, model_path)


def build_sface_int8(options: Any) -> SfaceInt8Embedder:  # the pack factory (packs.py)
    if options.cache_dir is None:
        raise ModelFileError("the sface-int8 pack needs a cache directory for its converted model")
    return SfaceInt8Embedder(options.cache_dir, threads=options.threads or None, runtime=options.runtime)
