"""The face pipeline: detect → align → measure quality → embed."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from facegate.core.domain import AnalyzedFace, DetectedFace, Embedding, ImageArray
from facegate.core.vision.align import align_face
from facegate.core.vision.detector import FaceDetector, largest_face, most_central_face
from facegate.core.vision.embedder import FaceEmbedder
from facegate.core.vision.quality import QualityThresholds, measure_quality


class FaceChoice(StrEnum):
    """Which face to use when an image holds several."""

    LARGEST = "largest"
    CENTRAL = "central"


@dataclass(frozen=True)
class CoarseFirst:
    """Detect the largest face on a smaller copy of the image first (see ``FacePipeline.choose``).

    ``detector`` works at a smaller longer side (480 px by default) than the pipeline's own
    (1280 px): 6 vs 32 ms for a 626x1200 photo. The face it finds is used when it is at least
    ``min_face_px`` wide at that scale (LFW accuracy is unchanged down to ~62 px faces at
    detection: docs/decisions.md "Single-face detection scale"), else the image is detected again
    at full size."""

    detector: FaceDetector
    max_side: int
    min_face_px: float = 64.0

    def scale(self, width: int, height: int) -> float:
        return min(1.0, self.max_side / float(max(width, height, 1)))


@dataclass(frozen=True)
class ImageAnalysis:
    """Every face of one image, and the image size."""

    width: int
    height: int
    faces: list[AnalyzedFace]

    @property
    def face_count(self) -> int:
        return len(self.faces)


class FacePipeline:
    """Glue of a detector and an embedder; holds no other state and is safe to share."""

    def __init__(
        self,
        detector: FaceDetector,
        embedder: FaceEmbedder,
        quality: QualityThresholds | None = None,
        coarse: CoarseFirst | None = None,
    ) -> None:
        self.detector = detector
        self.embedder = embedder
        self.quality = quality or QualityThresholds()
        self.coarse = coarse

    @property
    def model_name(self) -> str:
        return self.embedder.name

    def detect(self, image: ImageArray) -> list[DetectedFace]:
        return self.detector.detect(image)

    def analyze_face(
        self, image: ImageArray, face: DetectedFace, embed: bool = True
    ) -> AnalyzedFace:
        aligned = align_face(image, face.landmarks, self.embedder.input_size)
        quality = measure_quality(face, aligned, self.quality)
        embedding = Embedding(self.embedder.embed(aligned), self.embedder.name) if embed else None
        return AnalyzedFace(face=face, quality=quality, embedding=embedding, aligned=aligned)

    def analyze(self, image: ImageArray, embed: bool = True) -> ImageAnalysis:
        """Analyze every face of the image."""
        h, w = image.shape[:2]
        faces = [self.analyze_face(image, f, embed) for f in self.detect(image)]
        return ImageAnalysis(width=w, height=h, faces=faces)

    def choose(
        self, image: ImageArray, choice: FaceChoice = FaceChoice.LARGEST
    ) -> tuple[AnalyzedFace | None, int]:
        """Detect all faces, embed only the chosen one; return it and how many faces were found.

        For ``LARGEST`` with ``coarse`` set, the faces are those found at the coarse scale when
        the largest is big enough there (a face too small to be found at that scale cannot be the
        largest); otherwise, and for ``CENTRAL`` (a small face may be the central one), the
        detection runs at full size."""
        h, w = image.shape[:2]
        faces: list[DetectedFace] | None = None
        if choice is FaceChoice.LARGEST and self.coarse is not None:
            found = self.coarse.detector.detect(image)
            pick = largest_face(found)
            if pick is not None and pick.box.width * self.coarse.scale(w, h) >= self.coarse.min_face_px:
                faces = found
        if faces is None:
            faces = self.detect(image)
        pick = (
            largest_face(faces) if choice is FaceChoice.LARGEST else most_central_face(faces, w, h)
        )
        if pick is None:
            return None, 0
        return self.analyze_face(image, pick), len(faces)
