"""Model pack ``siamese:PATH``: an embedding network trained by ``facegate train siamese``.

The ONNX file carries its own decision threshold and shape in ``metadata_props`` (written by
``facegate train export``). The embedder's name is ``siamese-<first 12 hex of the file's SHA-256>``,
so templates made by different trained files never mix. Runs on onnxruntime; no torch needed.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from facegate.core.domain import FloatArray, ImageArray
from facegate.core.errors import ModelFileError
from facegate.core.matching.similarity import unit_rows
from facegate.core.vision.embedder import FaceEmbedder, normalize
from facegate.core.vision.model_files import sha256_of
from facegate.core.vision.packs import EmbedderOptions, PackInfo
from facegate.core.vision.runtime import OnnxRuntimeRunner

PREFIX = "siamese:"
SIAMESE_KIND = "facegate-siamese-v1"
META_KIND = "facegate.kind"
META_THRESHOLD = "facegate.threshold"
META_THRESHOLD_SOURCE = "facegate.threshold_source"
META_DIM = "facegate.dim"
META_INPUT_SIZE = "facegate.input_size"


@dataclass(frozen=True)
class SiameseModel:
    """What the pack needs to know about one exported file."""

    path: Path
    sha256: str
    threshold: float
    threshold_source: str
    dim: int
    input_size: int

    @property
    def name(self) -> str:
        return f"siamese-{self.sha256[:12]}"


def is_siamese(name: str) -> bool:
    return name.startswith(PREFIX)


def read_siamese_model(path: Path) -> SiameseModel:
    """Check the file and read its metadata; ModelFileError when it is not a FaceGate export."""
    p = path.expanduser()
    try:
        stat = p.stat()
    except OSError as exc:
        raise ModelFileError(f"siamese model file {p} cannot be read ({exc.strerror or exc})") from exc
    if not p.is_file():
        raise ModelFileError(f"siamese model file {p} is not a file")
    return _read_cached(str(p.resolve()), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=16)
def _read_cached(path: str, _mtime_ns: int, _size: int) -> SiameseModel:
    import onnx

    try:
        proto = onnx.load(path, load_external_data=False)
    except Exception as exc:  # protobuf raises several types for a corrupt file
        raise ModelFileError(f"{path} is not a readable ONNX file: {exc}") from exc
    meta = {e.key: e.value for e in proto.metadata_props}
    if meta.get(META_KIND) != SIAMESE_KIND:
        raise ModelFileError(f"{path} was not exported by 'facegate train export' (no {META_KIND} metadata)")
    try:
        threshold = float(meta[META_THRESHOLD])
        dim, size = int(meta[META_DIM]), int(meta[META_INPUT_SIZE])
    except (KeyError, ValueError) as exc:
        raise ModelFileError(f"{path}: missing or bad FaceGate metadata ({exc})") from exc
    return SiameseModel(
        path=Path(path),
        sha256=sha256_of(Path(path)),
        threshold=threshold,
        threshold_source=meta.get(META_THRESHOLD_SOURCE, "stored in the ONNX file"),
        dim=dim,
        input_size=size,
    )


class SiameseOnnxEmbedder:
    """Runs an exported siamese network on aligned crops with onnxruntime."""

    def __init__(self, model: SiameseModel, threads: int | None = None) -> None:
        self.name = model.name
        self.dim = model.dim
        self.input_size = model.input_size
        self._graph = OnnxRuntimeRunner(model.path, threads or max(1, min(4, os.cpu_count() or 1)))
        self._lock = threading.Lock()

    def embed_batch(self, aligned: np.ndarray) -> FloatArray:
        """Unit embeddings of N aligned BGR crops (N×size×size×3 uint8)."""
        x = np.ascontiguousarray(aligned.transpose(0, 3, 1, 2), dtype=np.float32)
        with self._lock:
            out = self._graph.run(x).astype(np.float32)
        return unit_rows(out)

    def embed(self, aligned: ImageArray) -> FloatArray:
        if aligned.shape[:2] != (self.input_size, self.input_size):
            aligned = cv2.resize(aligned, (self.input_size, self.input_size))
        return normalize(self.embed_batch(aligned[None])[0])


def siamese_pack(name: str) -> PackInfo:
    """The PackInfo of ``siamese:PATH`` (threshold from the file's metadata)."""
    raw = name[len(PREFIX) :].strip()
    if not raw:
        raise ModelFileError("model pack 'siamese:' needs a path, e.g. siamese:model.onnx")
    model = read_siamese_model(Path(raw))

    def factory(options: EmbedderOptions) -> FaceEmbedder:
        return SiameseOnnxEmbedder(model, threads=options.threads or None)

    return PackInfo(
        name=model.name,
        licence="trained locally by 'facegate train siamese' on LFW (research data, no licence)",
        dim=model.dim,
        default_threshold=model.threshold,
        threshold_source=model.threshold_source,
        factory=factory,
    )
