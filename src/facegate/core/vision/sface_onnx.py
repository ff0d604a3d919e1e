"""SFace as a float32 ONNX graph run by OpenVINO or onnxruntime: the same model, less CPU per face.

The shipped SFace file is block-quantized int8 (``DequantizeLinear`` with ``block_size``), which
OpenCV's DNN module runs at ~36 ms of CPU per face here; this path needs ~21–23 ms on one thread
and ~14 ms on two with OpenVINO (measured by ``facegate bench speed``, docs/benchmarks.md).
``convert_sface_to_float`` turns it, once, into an equivalent graph whose weights are plain float32
initializers (the dequantization done ahead of time with numpy, exactly as the ONNX operator
defines it) and drops the graph inputs that are stale copies of initializers. The result is
cached under ``<cache_dir>`` keyed by the SHA-256 of the source file, so it is rebuilt only when
the source model changes.

Preprocessing replicates ``cv::FaceRecognizerSF::feature``, which calls
``dnn::blobFromImage(aligned, 1.0, Size(112, 112), Scalar(0, 0, 0), swapRB=true, crop=false)``:
BGR → RGB, raw 0..255 values, NCHW. The graph itself then subtracts 127.5 and multiplies by 1/128.
The embeddings match OpenCV's to cosine ≥ 0.999 (tests/integration/core/vision/test_sface_onnx.py), so
templates made by either implementation are interchangeable: both are named ``sface``.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from facegate.core.domain import FloatArray, ImageArray
from facegate.core.errors import ModelFileError
from facegate.core.vision.embedder import normalize
from facegate.core.vision.model_files import SFACE, locate_model, sha256_of
from facegate.core.vision.runtime import open_graph

_CONVERTER_VERSION = 3  # bump when the conversion changes, so cached files are rebuilt


def _dequantize(q: np.ndarray, scale: np.ndarray, zero_point: np.ndarray | None, axis: int,
                block_size: int) -> np.ndarray:
    """``DequantizeLinear`` of the ONNX spec (opset 21), including blocked quantization."""
    x = q.astype(np.float32)
    zp = np.zeros_like(scale, dtype=np.float32) if zero_point is None else zero_point.astype(
        np.float32
    )
    s = scale.astype(np.float32)
    if s.ndim == 0 or s.size == 1:
        return (x - zp.reshape(())) * s.reshape(())
    axis = axis % q.ndim
    if block_size > 0:
        s = np.repeat(s, block_size, axis=axis)
        zp = np.repeat(zp, block_size, axis=axis)
        index = [slice(None)] * q.ndim
        index[axis] = slice(0, q.shape[axis])
        s, zp = s[tuple(index)], zp[tuple(index)]
    else:  # per-axis: a 1-D scale along ``axis``
        shape = [1] * q.ndim
        shape[axis] = q.shape[axis]
        s, zp = s.reshape(shape), zp.reshape(shape)
    return ((x - zp) * s).astype(np.float32)


def _expand_prelu(nodes: list, inits: dict, extra: list) -> list:
    """Rewrite ``PRelu(x, slope)`` as ``x + DepthwiseConv1x1(Min(x, 0), slope - 1)``.

    The same function: for x ≥ 0 both give x, for x < 0 both give slope·x. onnxruntime's PRelu
    with a (C, 1, 1) slope takes a slow broadcasting path and blocks its NCHWc layout; the
    per-channel multiply as a 1×1 depthwise convolution stays in NCHWc and the ``Add`` fuses into
    that convolution. Profiled on 1 thread (docs/decisions.md): PRelu nodes ~1.5x slower than
    ``Relu + slope·Min`` (converter v2), which costs ~4 ms more per face than this form (v3).
    """
    from onnx import helper, numpy_helper

    zero = "facegate_zero"
    extra.append(numpy_helper.from_array(np.array(0.0, dtype=np.float32), name=zero))
    out = []
    for node in nodes:
        if node.op_type != "PRelu" or node.input[1] not in inits:
            out.append(node)
            continue
        x, slope_name = node.input
        y = node.output[0]
        slope = numpy_helper.to_array(inits[slope_name]).astype(np.float32).reshape(-1)
        channels = int(slope.size)
        extra.append(
            numpy_helper.from_array((slope - 1.0).reshape(channels, 1, 1, 1), name=f"{y}_slope_m1")
        )
        out += [
            helper.make_node("Min", [x, zero], [f"{y}_neg"]),
            helper.make_node(
                "Conv", [f"{y}_neg", f"{y}_slope_m1"], [f"{y}_negs"],
                group=channels, kernel_shape=[1, 1],
            ),
            helper.make_node("Add", [f"{y}_negs", x], [y]),
        ]
    return out


def convert_sface_to_float(source: Path, target: Path) -> None:
    """Write a float32 copy of the block-quantized SFace graph ``source`` to ``target``."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(source))
    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    kept_nodes = []
    folded: list[onnx.TensorProto] = []
    consumed: set[str] = set()
    for node in graph.node:
        if node.op_type != "DequantizeLinear" or not all(i in inits for i in node.input if i):
            kept_nodes.append(node)
            continue
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        q = numpy_helper.to_array(inits[node.input[0]])
        scale = numpy_helper.to_array(inits[node.input[1]])
        zp = (
            numpy_helper.to_array(inits[node.input[2]])
            if len(node.input) > 2 and node.input[2]
            else None
        )
        weights = _dequantize(q, scale, zp, int(attrs.get("axis", 1)), int(attrs.get("block_size", 0)))
        folded.append(numpy_helper.from_array(weights, name=node.output[0]))
        consumed.update(i for i in node.input if i)
    del graph.node[:]
    graph.node.extend(_expand_prelu(kept_nodes, {t.name: t for t in folded} | inits, folded))
    used = {i for n in graph.node for i in n.input} | {o.name for o in graph.output}
    keep_inits = [t for t in graph.initializer if t.name in used and t.name not in consumed]
    del graph.initializer[:]
    graph.initializer.extend(keep_inits + folded)
    init_names = {t.name for t in graph.initializer}
    # Inputs that are initializers (or feed nothing) are stale leftovers of the export.
    real_inputs = [i for i in graph.input if i.name not in init_names and i.name in used]
    del graph.input[:]
    graph.input.extend(real_inputs)
    model.ir_version = max(model.ir_version, 8)
    onnx.checker.check_model(model)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=target.name, suffix=".tmp")
    os.close(fd)
    try:
        onnx.save(model, tmp)
        os.replace(tmp, target)  # atomic: a reader never sees a half-written model
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def float_sface_path(cache_dir: Path, source: Path | None = None) -> Path:
    """The cached float32 SFace graph for ``source`` (default: the shipped file); built if absent."""
    src = source or locate_model(SFACE)
    digest = SFACE.sha256 if source is None else sha256_of(src)
    target = cache_dir / f"sface_float32_{digest[:16]}_v{_CONVERTER_VERSION}.onnx"
    return cached_build(target, lambda t: convert_sface_to_float(src, t), "the converted SFace model")


def cached_build(target: Path, build: Callable[[Path], None], what: str) -> Path:
    """``target``, written by ``build(target)`` first if it does not exist yet."""
    if not target.is_file():
        try:
            build(target)
        except OSError as exc:
            raise ModelFileError(f"cannot write {what} to {target}: {exc}") from exc
    return target


def default_threads() -> int:
    """Inference threads per embedding when not configured: 1.

    Measured on the idle 2-core host with OpenVINO (docs/benchmarks.md, Speed): two threads shorten
    one embedding (float32 21.2 → 13.8 ms, int8 11.4 → 7.6 ms) and raise one stream's end-to-end
    rate (9.34 → 11.38 images/s float32) but cost ~1.3x the CPU per face (27.0 vs 21.0 ms): one
    thread leaves the other core to another request or camera. ``FACEGATE_EMBED_THREADS=2`` suits
    one camera or one login at a time."""
    return 1


class SfaceOnnxEmbedder:
    """SFace (float32 graph) through onnxruntime or OpenVINO (``facegate.core.vision.runtime``); the
    same model and name as ``SfaceOpenCVEmbedder``. ``embed`` is safe from several threads."""

    name = "sface"
    dim = 128
    input_size = 112
    prefers_openvino = False
    """``auto`` runs the float graph on onnxruntime: with OpenVINO the e2e stream-window test saw
    the server's first decision stall in 3 of ~35 runs (0 of 24 on onnxruntime; cause not found
    yet), and one thread is only ~2% faster there. ``FACEGATE_INFERENCE_RUNTIME=openvino`` opts in."""

    def __init__(self, cache_dir: Path, model_path: Path | None = None,
                 threads: int | None = None, runtime: str = "auto") -> None:
        path = self._converted_path(cache_dir, model_path)
        self.threads = threads or default_threads()
        self._graph = open_graph(path, self.threads, runtime, self.prefers_openvino)
        self.runtime = self._graph.runtime
        self.model_path = path
        self.variant = f"{path.stem}-{self.runtime}"
        """Names the exact graph and runtime (evaluation caches are keyed by it)."""

    def _converted_path(self, cache_dir: Path, model_path: Path | None) -> Path:
        """The ONNX file this embedder runs (built and cached on first use)."""
        return float_sface_path(cache_dir, model_path)

    def _blob(self, aligned: ImageArray) -> np.ndarray:
        if aligned.shape[:2] != (self.input_size, self.input_size):
            aligned = cv2.resize(aligned, (self.input_size, self.input_size))
        rgb = aligned[:, :, ::-1].astype(np.float32)  # swapRB=true, scale 1, mean 0
        return np.ascontiguousarray(rgb.transpose(2, 0, 1))

    def embed(self, aligned: ImageArray) -> FloatArray:
        return normalize(self._graph.run(self._blob(aligned)[None])[0])

    def embed_many(self, crops: list[ImageArray]) -> list[FloatArray]:
        """Embed several aligned crops in one call (one at a time: the graph's batch is fixed)."""
        return [self.embed(c) for c in crops]
