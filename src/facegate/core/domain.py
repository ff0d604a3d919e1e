"""Plain value types shared by every layer. Imports nothing of FaceGate but errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]
ImageArray = npt.NDArray[Any]
"""An image as OpenCV holds it: BGR, uint8, shape (h, w, 3)."""


@dataclass(frozen=True)
class Box:
    """An axis-aligned box in pixel coordinates of the original image."""

    x: float
    y: float
    width: float
    height: float

    @property
    def area(self) -> float:
        return max(self.width, 0.0) * max(self.height, 0.0)

    @property
    def center(self) -> tuple[float, float]:
        return (self.x + self.width / 2.0, self.y + self.height / 2.0)

    def as_list(self) -> list[float]:
        return [round(self.x, 1), round(self.y, 1), round(self.width, 1), round(self.height, 1)]


@dataclass(frozen=True)
class Landmarks:
    """The five points of YuNet: right eye, left eye, nose tip, right and left mouth corner.

    "Right eye" is the subject's right eye, which appears on the left of the image.
    """

    points: tuple[tuple[float, float], ...]

    def as_array(self) -> FloatArray:
        return np.asarray(self.points, dtype=np.float32).reshape(5, 2)

    def as_list(self) -> list[list[float]]:
        return [[round(x, 1), round(y, 1)] for x, y in self.points]


@dataclass(frozen=True)
class DetectedFace:
    """One face found by a detector."""

    box: Box
    score: float
    landmarks: Landmarks


@dataclass(frozen=True)
class FaceQuality:
    """Measures of how usable a face crop is. ``problems`` is empty when it passes the gate."""

    face_size: float
    sharpness: float
    brightness: float
    yaw: float
    pitch: float
    problems: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class Embedding:
    """A unit-length embedding vector with the name of the model that made it."""

    vector: FloatArray
    model: str

    @property
    def dim(self) -> int:
        return int(self.vector.shape[0])


@dataclass(frozen=True)
class AnalyzedFace:
    """A detected face with its quality and (when asked) its embedding.

    ``aligned``: the aligned crop the embedder sees (BGR, ``input_size`` square) when the pipeline
    keeps it (``FacePipeline.analyze_face`` does); enrolment may store it (opt-in, encrypted).
    """

    face: DetectedFace
    quality: FaceQuality
    embedding: Embedding | None = None
    aligned: ImageArray | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class Candidate:
    """A gallery person scored against a probe face."""

    person_id: int
    external_id: str
    display_name: str
    similarity: float


@dataclass(frozen=True)
class Identification:
    """1:N answer for one face: ``best`` is None when the face is unknown (below threshold)."""

    face: AnalyzedFace
    best: Candidate | None
    candidates: tuple[Candidate, ...]
    threshold: float

    @property
    def known(self) -> bool:
        return self.best is not None

    @property
    def label(self) -> str:
        return self.best.display_name if self.best else "unknown"


@dataclass(frozen=True)
class AuditEvent:
    """One line of the audit log: who/what/when/decision/score. ``at`` is set by the store."""

    action: str  # e.g. "compare", "enroll", "verify", "identify", "access", "login", "vote", "locker.open"
    decision: str  # e.g. "granted", "denied", "ok", "refused", "error"
    actor: str | None = None  # username, device id, api key id, "cli"
    subject: str | None = None  # the person/locker/election acted on (external id)
    score: float | None = None
    details: dict[str, object] = field(default_factory=dict)
    client: str | None = None  # the caller's address; default: the current request's (if any)
