"""Compare the faces of two images (1:1, no store involved)."""

from __future__ import annotations

from dataclasses import dataclass

from facegate.core.domain import AnalyzedFace, ImageArray
from facegate.core.errors import NoFaceError
from facegate.core.matching.similarity import Comparison, compare_embeddings
from facegate.core.vision.images import ImageLimits, decode_labeled
from facegate.core.vision.pipeline import FaceChoice, FacePipeline


@dataclass(frozen=True)
class ImageFace:
    """The face used from one image and how many faces that image held."""

    face: AnalyzedFace
    faces_found: int


@dataclass(frozen=True)
class CompareResult:
    comparison: Comparison
    a: ImageFace
    b: ImageFace
    model: str


class CompareService:
    def __init__(self, pipeline: FacePipeline, limits: ImageLimits, threshold: float) -> None:
        self.pipeline = pipeline
        self.limits = limits
        self.threshold = threshold

    def face_of(self, image: ImageArray, label: str) -> ImageFace:
        """The largest face of an image; NoFaceError naming the image if there is none."""
        face, count = self.pipeline.choose(image, FaceChoice.LARGEST)
        if face is None:
            raise NoFaceError(f"no face found in {label}")
        return ImageFace(face, count)

    def compare_images(
        self, a: ImageArray, b: ImageArray, labels: tuple[str, str] = ("A", "B")
    ) -> CompareResult:
        fa = self.face_of(a, labels[0])
        fb = self.face_of(b, labels[1])
        assert fa.face.embedding is not None and fb.face.embedding is not None
        comparison = compare_embeddings(fa.face.embedding, fb.face.embedding, self.threshold)
        return CompareResult(comparison, fa, fb, self.pipeline.model_name)

    def compare_bytes(
        self, a: bytes, b: bytes, labels: tuple[str, str] = ("A", "B")
    ) -> CompareResult:
        return self.compare_images(
            decode_labeled(a, self.limits, labels[0]),
            decode_labeled(b, self.limits, labels[1]),
            labels,
        )
