"""MediaPipe Face Mesh (478 points with iris) per frame, checked against the YuNet detection.

``FrameMeasurer.measure`` turns one BGR frame into a ``FrameMeasurement``: how many faces YuNet
found, the YuNet box, whether the mesh agrees with that box, both eye aspect ratios and the head
pose. The mesh runs in static-image mode (no tracking state), so one instance may measure frames
of different sessions; calls are serialised by a lock.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from facegate.core.domain import Box, DetectedFace, FloatArray, ImageArray
from facegate.core.liveness.ear import eye_aspect_ratios, mouth_ratios
from facegate.core.liveness.native_logs import native_noise_filtered, quiet_environment
from facegate.core.liveness.pose import estimate_head_pose
from facegate.core.vision.detector import FaceDetector, largest_face

MESH_POINTS = 478
MIN_BOX_IOU = 0.3  # the mesh's box and YuNet's box must overlap at least this much


@dataclass(frozen=True)
class FrameMeasurement:
    """What one frame shows. ``ok`` frames have exactly one face with a consistent mesh."""

    index: int
    timestamp_ms: int
    face_count: int
    box: Box | None = None
    mesh_consistent: bool = False
    ear_left: float = 0.0
    ear_right: float = 0.0
    yaw: float = 0.0
    pitch: float = 0.0
    roll: float = 0.0
    mouth_open: float = 0.0
    mouth_width: float = 0.0

    @property
    def ok(self) -> bool:
        return self.face_count == 1 and self.mesh_consistent

    @property
    def ear(self) -> float:
        return (self.ear_left + self.ear_right) / 2.0

    def to_json(self) -> dict[str, Any]:
        return {
            "i": self.index,
            "t": self.timestamp_ms,
            "n": self.face_count,
            "box": self.box.as_list() if self.box else None,
            "mc": self.mesh_consistent,
            "el": round(self.ear_left, 4),
            "er": round(self.ear_right, 4),
            "y": round(self.yaw, 2),
            "p": round(self.pitch, 2),
            "r": round(self.roll, 2),
            "mo": round(self.mouth_open, 4),
            "mw": round(self.mouth_width, 4),
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> FrameMeasurement:
        box = Box(*d["box"]) if d.get("box") else None
        return cls(
            index=int(d["i"]),
            timestamp_ms=int(d["t"]),
            face_count=int(d["n"]),
            box=box,
            mesh_consistent=bool(d["mc"]),
            ear_left=float(d["el"]),
            ear_right=float(d["er"]),
            yaw=float(d["y"]),
            pitch=float(d["p"]),
            roll=float(d["r"]),
            mouth_open=float(d.get("mo", 0.0)),
            mouth_width=float(d.get("mw", 0.0)),
        )


def box_iou(a: Box, b: Box) -> float:
    x0, y0 = max(a.x, b.x), max(a.y, b.y)
    x1 = min(a.x + a.width, b.x + b.width)
    y1 = min(a.y + a.height, b.y + b.height)
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    union = a.area + b.area - inter
    return inter / union if union > 0 else 0.0


def mesh_box(points: FloatArray) -> Box:
    p = np.asarray(points)[:, :2]
    x0, y0 = float(p[:, 0].min()), float(p[:, 1].min())
    return Box(x0, y0, float(p[:, 0].max()) - x0, float(p[:, 1].max()) - y0)


class MeshLandmarker:
    """``mp.solutions.face_mesh`` with ``refine_landmarks=True`` (478 points), static-image mode."""

    def __init__(self, min_detection_confidence: float = 0.5) -> None:
        quiet_environment()
        with native_noise_filtered():  # TFLite/absl start-up chatter (native_logs)
            import mediapipe as mp

            self._mesh = mp.solutions.face_mesh.FaceMesh(
                static_image_mode=True,
                max_num_faces=2,
                refine_landmarks=True,
                min_detection_confidence=min_detection_confidence,
            )
            # one blank frame: the graph's threads start (and log) inside this block, not later
            self._mesh.process(np.zeros((64, 64, 3), np.uint8))
        self._lock = threading.Lock()
        self._noisy_calls = 3  # the landmark model loads (and logs) on the first faces it sees

    def landmarks(self, image: ImageArray) -> list[FloatArray]:
        """Points (478 × 3, x/y in pixels, z relative) of every mesh found in a BGR image."""
        h, w = image.shape[:2]
        rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        with self._lock:
            if self._noisy_calls > 0:
                self._noisy_calls -= 1
                with native_noise_filtered():
                    result = self._mesh.process(rgb)
            else:
                result = self._mesh.process(rgb)
        found: list[FloatArray] = []
        for face in result.multi_face_landmarks or []:
            pts = np.array([(lm.x * w, lm.y * h, lm.z * w) for lm in face.landmark], np.float32)
            found.append(pts)
        return found

    def close(self) -> None:
        self._mesh.close()


class FrameMeasurer:
    """YuNet (faces, box) + Face Mesh (EAR, pose) on one frame."""

    def __init__(self, detector: FaceDetector, landmarker: MeshLandmarker) -> None:
        self.detector = detector
        self.landmarker = landmarker

    def ear_of(self, image: ImageArray, face: DetectedFace) -> float | None:
        """Mean eye aspect ratio of an already detected face (its mesh), None without one."""
        meshes = self.landmarker.landmarks(image)
        best = max(meshes, key=lambda m: box_iou(mesh_box(m), face.box), default=None)
        if best is None or box_iou(mesh_box(best), face.box) < MIN_BOX_IOU:
            return None
        left, right = eye_aspect_ratios(best)
        return (left + right) / 2.0

    def measure(
        self, image: ImageArray, index: int, timestamp_ms: int
    ) -> tuple[FrameMeasurement, DetectedFace | None]:
        """The measurement and the YuNet face (None unless exactly one face was found)."""
        faces = self.detector.detect(image)
        if len(faces) != 1:
            return FrameMeasurement(index, timestamp_ms, face_count=len(faces)), None
        face = largest_face(faces)
        assert face is not None
        meshes = self.landmarker.landmarks(image)
        best = max(meshes, key=lambda m: box_iou(mesh_box(m), face.box), default=None)
        if best is None or box_iou(mesh_box(best), face.box) < MIN_BOX_IOU:
            return FrameMeasurement(index, timestamp_ms, 1, box=face.box), face
        h, w = image.shape[:2]
        return measurement_from_points(index, timestamp_ms, face.box, best, w, h), face


def measurement_from_points(
    index: int, timestamp_ms: int, box: Box, points: FloatArray, width: int, height: int
) -> FrameMeasurement:
    """The measurement of one face whose mesh agrees with its detection (cached clips reuse it)."""
    ear_left, ear_right = eye_aspect_ratios(points)
    pose = estimate_head_pose(points, width, height)
    mouth_open, mouth_width = mouth_ratios(points)
    return FrameMeasurement(
        index=index,
        timestamp_ms=timestamp_ms,
        face_count=1,
        box=box,
        mesh_consistent=True,
        ear_left=ear_left,
        ear_right=ear_right,
        yaw=pose.yaw,
        pitch=pose.pitch,
        roll=pose.roll,
        mouth_open=mouth_open,
        mouth_width=mouth_width,
    )
