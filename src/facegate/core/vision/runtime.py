"""Where an ONNX graph runs: onnxruntime (always installed) or OpenVINO (the ``openvino`` extra).

Both compute the function the graph defines; they differ in speed. Measured on the 2-core AVX2
host (docs/benchmarks.md, Speed; docs/decisions.md): the float32 SFace graph takes ~21 ms per face
on one thread in either, but 12 ms on two threads in OpenVINO against 19 ms in onnxruntime; the
int8 SFace graph (``sface_int8``) keeps each PRelu fused into its int8 convolution in OpenVINO
(~13 ms on one thread, ~8 ms on two), while onnxruntime runs it ~4x slower (it leaves PRelu in
float between dequantize and quantize nodes). ``auto`` therefore picks OpenVINO when it is
installed.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from facegate.core.errors import ConfigError, ModelFileError

Runtime = Literal["auto", "onnxruntime", "openvino"]
RUNTIMES: tuple[str, ...] = ("auto", "onnxruntime", "openvino")
OPENVINO_HINT = "install it with: pip install 'facegate[openvino]'"


class GraphRunner(Protocol):
    """One compiled single-input, single-output graph; ``run`` is safe from several threads."""

    runtime: str
    path: Path

    def run(self, blob: np.ndarray) -> np.ndarray: ...


def openvino_available() -> bool:
    return importlib.util.find_spec("openvino") is not None


def resolve_runtime(runtime: str, prefer_openvino: bool = True) -> str:
    """``auto`` → ``openvino`` when installed and the graph prefers it, else ``onnxruntime``;
    unknown names are refused."""
    if runtime not in RUNTIMES:
        raise ConfigError(f"unknown inference runtime '{runtime}'; choose one of {', '.join(RUNTIMES)}")
    if runtime == "auto":
        return "openvino" if prefer_openvino and openvino_available() else "onnxruntime"
    if runtime == "openvino" and not openvino_available():
        raise ConfigError(f"the OpenVINO runtime is not installed; {OPENVINO_HINT}")
    return runtime


class OnnxRuntimeRunner:
    runtime = "onnxruntime"

    def __init__(self, path: Path, threads: int) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        # no busy-waiting worker threads: they steal the CPU from everything else on small hosts
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(str(path), sess_options=opts,
                                                 providers=["CPUExecutionProvider"])
        except Exception as exc:  # a corrupt cache file: say where it is
            raise ModelFileError(f"cannot load the model {path}: {exc}") from exc
        self._input = self._session.get_inputs()[0].name
        self.path = path

    def run(self, blob: np.ndarray) -> np.ndarray:
        (out,) = self._session.run(None, {self._input: blob})
        return np.asarray(out)


def openvino_streams(threads: int, cpus: int | None = None) -> int:
    """Parallel OpenVINO streams for ``threads`` threads per inference: one per ``threads`` CPUs.

    One stream runs one inference at a time: with a single stream, two requests embedding at once
    (two cameras, two logins) queue behind each other (measured: 2 callers x 60 faces took 2.64 s
    vs 1.39 s for one caller, float32, 1 thread), where onnxruntime runs them side by side. With
    ``cpus // threads`` streams they run in parallel again (int8: 6.3 ms/face of throughput for two
    callers vs 11.0 with one stream) and one request's latency is unchanged."""
    return max(1, (cpus or os.cpu_count() or 1) // max(1, threads))


class OpenVinoRunner:
    """OpenVINO's CPU plugin: ``openvino_streams`` streams of ``threads`` threads each; one infer
    request per calling thread."""

    runtime = "openvino"

    def __init__(self, path: Path, threads: int) -> None:
        import openvino as ov

        self.streams = openvino_streams(threads)
        try:
            core = ov.Core()
            self._compiled: Any = core.compile_model(
                core.read_model(str(path)), "CPU",
                # INFERENCE_NUM_THREADS is the total over all streams
                {"INFERENCE_NUM_THREADS": threads * self.streams, "NUM_STREAMS": self.streams},
            )
        except Exception as exc:
            raise ModelFileError(f"cannot load the model {path} in OpenVINO: {exc}") from exc
        self._output = self._compiled.output(0)
        self._local = threading.local()
        self.path = path

    def run(self, blob: np.ndarray) -> np.ndarray:
        request = getattr(self._local, "request", None)
        if request is None:  # an infer request is not thread-safe: one per thread
            request = self._local.request = self._compiled.create_infer_request()
        return np.array(request.infer({0: blob})[self._output])


def open_graph(path: Path, threads: int, runtime: str = "auto", prefer_openvino: bool = True) -> GraphRunner:
    """``path`` compiled for the CPU by ``runtime`` (see ``resolve_runtime``)."""
    if resolve_runtime(runtime, prefer_openvino) == "openvino":
        return OpenVinoRunner(path, threads)
    return OnnxRuntimeRunner(path, threads)
