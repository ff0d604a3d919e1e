"""Per-frame measurements of recorded clips, computed once and cached on disk.

For every frame of a video: YuNet's face count and box, the Face Mesh points of the face (the
mesh that agrees with the box, as ``FrameMeasurer`` picks it) and its SFace embedding. From the
points, ``measurements`` rebuilds exactly the ``FrameMeasurement`` the server computes for that
frame, so tests and benchmarks can replay a clip thousands of times without running the models.

The cache lives in ``FACEGATE_CLIP_CACHE`` (default ``~/.cache/facegate/clips``), one ``.npz`` per
clip, keyed by the video's size and SHA-256 and ``CACHE_VERSION``; it is never committed.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from facegate.core.domain import Box, FloatArray, ImageArray
from facegate.core.liveness.landmarks import (
    MIN_BOX_IOU,
    FrameMeasurement,
    box_iou,
    measurement_from_points,
    mesh_box,
)

CACHE_VERSION = 1


def cache_dir() -> Path:
    env = os.environ.get("FACEGATE_CLIP_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "facegate" / "clips"


@dataclass(frozen=True)
class Clip:
    """A clip's frames as the server would measure them. Arrays have one row per frame."""

    name: str
    width: int
    height: int
    timestamps_ms: np.ndarray  # int64, from the container (strictly increasing)
    face_count: np.ndarray  # int32
    boxes: np.ndarray  # n × 4 float32 (NaN: no single face)
    points: np.ndarray  # n × 478 × 2 float32 (NaN: no consistent mesh)
    embeddings: np.ndarray  # n × d float32 (NaN: no single face)

    @property
    def frames(self) -> int:
        return len(self.timestamps_ms)

    @property
    def fps(self) -> float:
        span = float(self.timestamps_ms[-1] - self.timestamps_ms[0])
        return (self.frames - 1) * 1000.0 / span if span > 0 else 30.0

    def measurement(self, i: int, index: int, timestamp_ms: int) -> FrameMeasurement:
        """Frame ``i`` of the clip measured as frame ``index`` of a session at ``timestamp_ms``."""
        n = int(self.face_count[i])
        if n != 1:
            return FrameMeasurement(index, timestamp_ms, face_count=n)
        box = Box(*(float(v) for v in self.boxes[i]))
        if np.isnan(self.points[i, 0, 0]):
            return FrameMeasurement(index, timestamp_ms, 1, box=box)
        return measurement_from_points(index, timestamp_ms, box, self.points[i], self.width, self.height)

    def measurements(self) -> list[FrameMeasurement]:
        return [self.measurement(i, i, int(self.timestamps_ms[i])) for i in range(self.frames)]

    def embedding(self, i: int) -> FloatArray | None:
        v = self.embeddings[i]
        return None if np.isnan(v[0]) else v


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def read_video(path: Path) -> tuple[list[ImageArray], list[int]]:
    """Every frame and its container timestamp (ms, strictly increasing): the one frame reader,
    ``facegate.core.vision.capture``."""
    from facegate.core.vision.capture import capture_frames

    frames = list(capture_frames(str(path)))
    return [f.image for f in frames], [f.timestamp_ms for f in frames]


def _compute(path: Path, container: Any) -> dict[str, Any]:
    from facegate.core.liveness.landmarks import MeshLandmarker

    images, stamps = read_video(path)
    detector, pipeline = container.detector, container.pipeline
    mesh = MeshLandmarker()
    n = len(images)
    counts = np.zeros(n, np.int32)
    boxes = np.full((n, 4), np.nan, np.float32)
    points = np.full((n, 478, 2), np.nan, np.float32)
    embeddings: FloatArray | None = None
    try:
        for i, img in enumerate(images):
            faces = detector.detect(img)
            counts[i] = len(faces)
            if len(faces) != 1:
                continue
            face = faces[0]
            boxes[i] = face.box.as_list()
            vec = pipeline.analyze_face(img, face).embedding.vector
            if embeddings is None:
                embeddings = np.full((n, len(vec)), np.nan, np.float32)
            embeddings[i] = vec
            meshes = mesh.landmarks(img)
            best = max(meshes, key=lambda m: box_iou(mesh_box(m), face.box), default=None)
            if best is not None and box_iou(mesh_box(best), face.box) >= MIN_BOX_IOU:
                points[i] = best[:, :2]
    finally:
        mesh.close()
    h, w = images[0].shape[:2]
    return {
        "width": w,
        "height": h,
        "timestamps_ms": np.asarray(stamps, np.int64),
        "face_count": counts,
        "boxes": boxes,
        "points": points,
        "embeddings": embeddings if embeddings is not None else np.full((n, 1), np.nan, np.float32),
    }


def load_clip(path: Path, container: Any = None, directory: Path | None = None) -> Clip:
    """The clip's cached measurements; computed (with ``container``'s models) when missing."""
    directory = directory or cache_dir()
    key = f"{path.stem}-{path.stat().st_size}-{_digest(path)}-v{CACHE_VERSION}.npz"
    file = directory / key
    if file.is_file():
        with np.load(file) as z:
            data: dict[str, Any] = {k: z[k] for k in z.files}
    else:
        if container is None:
            raise FileNotFoundError(f"no cached measurements for {path} in {directory}")
        data = _compute(path, container)
        directory.mkdir(parents=True, exist_ok=True)
        tmp = file.with_suffix(".tmp.npz")
        np.savez_compressed(tmp, **data)
        tmp.replace(file)
    return Clip(
        name=path.stem,
        width=int(data["width"]),
        height=int(data["height"]),
        timestamps_ms=data["timestamps_ms"],
        face_count=data["face_count"],
        boxes=data["boxes"],
        points=data["points"],
        embeddings=data["embeddings"],
    )
