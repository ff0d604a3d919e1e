"""Face detection: the ``FaceDetector`` interface and its YuNet implementation."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from facegate.core.domain import Box, DetectedFace, ImageArray, Landmarks
from facegate.core.vision.model_files import YUNET, locate_model


@dataclass(frozen=True)
class DetectorOptions:
    score_threshold: float = 0.6
    nms_threshold: float = 0.3
    max_side: int = 1280
    min_face_px: float = 24.0
    top_k: int = 5000


class FaceDetector(Protocol):
    name: str

    def detect(self, image: ImageArray) -> list[DetectedFace]:
        """Every face in a BGR image, in original pixel coordinates, best score first."""
        ...


class YunetDetector:
    """YuNet (OpenCV Zoo, int8 block-quantized) through ``cv2.FaceDetectorYN``.

    Images larger than ``max_side`` are scaled down for detection and the boxes mapped back.
    One instance is safe to share between threads (detection is serialised by a lock).
    """

    name = "yunet-2023mar"

    def __init__(self, options: DetectorOptions | None = None, model_path: Path | None = None):
        self.options = options or DetectorOptions()
        path = model_path or locate_model(YUNET)
        o = self.options
        self._net = cv2.FaceDetectorYN.create(
            str(path), "", (320, 320), o.score_threshold, o.nms_threshold, o.top_k
        )
        self._lock = threading.Lock()

    def detect(self, image: ImageArray) -> list[DetectedFace]:
        h, w = image.shape[:2]
        scale = min(1.0, self.options.max_side / float(max(h, w)))
        work = image
        if scale < 1.0:
            work = cv2.resize(
                image,
                (max(1, round(w * scale)), max(1, round(h * scale))),
                interpolation=cv2.INTER_AREA,
            )
        wh, ww = work.shape[:2]
        with self._lock:
            self._net.setInputSize((ww, wh))
            _, raw = self._net.detect(work)
        if raw is None:
            return []
        faces = [_to_face(row, 1.0 / scale) for row in np.asarray(raw, dtype=np.float32)]
        faces = [f for f in faces if f.box.width >= self.options.min_face_px]
        faces.sort(key=lambda f: f.score, reverse=True)
        return faces


def _to_face(row: np.ndarray, inv_scale: float) -> DetectedFace:
    x, y, bw, bh = (float(v) * inv_scale for v in row[:4])
    pts = tuple(
        (float(row[4 + 2 * i]) * inv_scale, float(row[5 + 2 * i]) * inv_scale) for i in range(5)
    )
    return DetectedFace(box=Box(x, y, bw, bh), score=float(row[14]), landmarks=Landmarks(pts))


def largest_face(faces: list[DetectedFace]) -> DetectedFace | None:
    return max(faces, key=lambda f: f.box.area, default=None)


def most_central_face(faces: list[DetectedFace], width: int, height: int) -> DetectedFace | None:
    """The face whose centre is nearest the image centre (LFW's labelled person)."""
    cx, cy = width / 2.0, height / 2.0

    def dist(f: DetectedFace) -> float:
        fx, fy = f.box.center
        return (fx - cx) ** 2 + (fy - cy) ** 2

    return min(faces, key=dist, default=None)
