"""A model-free FacePipeline stand-in: tiny images encode how many faces, which person, quality.

``fake_image(person, faces=1, blurry=False, variant=0)``: pixel (0,0) holds faces/blurry/person,
pixel (1,0,0) a variant that adds small noise, so the same person's images differ slightly.
"""

from __future__ import annotations

import numpy as np

from facegate.core.domain import (
    AnalyzedFace,
    Box,
    DetectedFace,
    Embedding,
    FaceQuality,
    ImageArray,
    Landmarks,
)
from facegate.core.vision.pipeline import FaceChoice, ImageAnalysis

DIM = 16


def person_vector(person: int) -> np.ndarray:
    v = np.random.default_rng(1000 + person).standard_normal(DIM).astype(np.float32)
    return v / np.linalg.norm(v)


def fake_image(person: int, faces: int = 1, blurry: bool = False, variant: int = 0) -> ImageArray:
    img = np.zeros((8, 8, 3), dtype=np.uint8)
    img[0, 0] = (faces, int(blurry), person)
    img[1, 0, 0] = variant
    return img


class FakePipeline:
    model_name = "fake"

    def detect(self, image: ImageArray) -> list[DetectedFace]:
        n = int(image[0, 0, 0])
        return [
            DetectedFace(Box(10.0 * i, 0, 100 - i, 100 - i), 0.9, Landmarks(((0.0, 0.0),) * 5))
            for i in range(n)
        ]

    def analyze_face(self, image: ImageArray, face: DetectedFace, embed: bool = True) -> AnalyzedFace:
        blurry = bool(image[0, 0, 1])
        person = int(image[0, 0, 2]) + int(face.box.x // 10)  # extra faces: the next people
        q = FaceQuality(100.0, 5.0 if blurry else 80.0, 120.0, 0.0, 0.0,
                        ("too blurry: sharpness 5.0 < 20.0",) if blurry else ())
        emb = None
        if embed:
            noise = np.random.default_rng(int(image[1, 0, 0])).standard_normal(DIM) * 0.05
            v = person_vector(person) + noise.astype(np.float32)
            emb = Embedding((v / np.linalg.norm(v)).astype(np.float32), self.model_name)
        return AnalyzedFace(face, q, emb)

    def analyze(self, image: ImageArray, embed: bool = True) -> ImageAnalysis:
        faces = [self.analyze_face(image, f, embed) for f in self.detect(image)]
        return ImageAnalysis(8, 8, faces)

    def choose(
        self, image: ImageArray, choice: FaceChoice = FaceChoice.LARGEST
    ) -> tuple[AnalyzedFace | None, int]:
        faces = self.detect(image)
        if not faces:
            return None, 0
        return self.analyze_face(image, faces[0]), len(faces)
