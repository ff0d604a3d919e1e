"""``FacePipeline.choose`` with ``CoarseFirst``: the largest face is taken from the small-scale
detection only when it is large enough there; otherwise, and for the central face, the image is
detected at full size. Toy detectors that record their calls; no model files."""

from __future__ import annotations

import numpy as np

from facegate.core.domain import Box, DetectedFace, ImageArray, Landmarks
from facegate.core.vision.pipeline import CoarseFirst, FaceChoice, FacePipeline


def face(x: float, width: float) -> DetectedFace:
    points = ((x + 0.3 * width, 40.0), (x + 0.7 * width, 40.0), (x + 0.5 * width, 60.0),
              (x + 0.35 * width, 80.0), (x + 0.65 * width, 80.0))
    return DetectedFace(Box(x, 10.0, width, width), 0.9, Landmarks(points))


class ToyDetector:
    name = "toy"

    def __init__(self, faces: list[DetectedFace]) -> None:
        self.faces = faces
        self.calls = 0

    def detect(self, image: ImageArray) -> list[DetectedFace]:
        self.calls += 1
        return list(self.faces)


class ToyEmbedder:
    name = "toy"
    dim = 2
    input_size = 112

    def embed(self, aligned: ImageArray) -> np.ndarray:
        return np.array([1.0, 0.0], dtype=np.float32)


IMAGE = np.zeros((1000, 2000, 3), dtype=np.uint8)  # the coarse scale at 640 px is 0.32


def pipeline(full: list[DetectedFace], coarse: list[DetectedFace], min_px: float = 64.0
             ) -> tuple[FacePipeline, ToyDetector, ToyDetector]:
    fd, cd = ToyDetector(full), ToyDetector(coarse)
    return FacePipeline(fd, ToyEmbedder(), coarse=CoarseFirst(cd, 640, min_px)), fd, cd


def test_a_large_face_found_at_the_coarse_scale_is_used_without_full_detection() -> None:
    # 300 px in the original = 96 px at the coarse scale (>= 64)
    p, full, coarse = pipeline([face(0, 300), face(500, 30)], [face(5, 300)])
    chosen, count = p.choose(IMAGE, FaceChoice.LARGEST)
    assert chosen is not None and chosen.face.box.x == 5  # the coarse detection's face
    assert count == 1  # the small face is not found at the coarse scale
    assert (coarse.calls, full.calls) == (1, 0)


def test_a_face_too_small_at_the_coarse_scale_is_detected_again_at_full_size() -> None:
    # 150 px in the original = 48 px at the coarse scale (< 64): landmarks too coarse
    p, full, coarse = pipeline([face(0, 150), face(500, 100)], [face(5, 150)])
    chosen, count = p.choose(IMAGE, FaceChoice.LARGEST)
    assert chosen is not None and chosen.face.box.x == 0  # the full-size detection's face
    assert count == 2
    assert (coarse.calls, full.calls) == (1, 1)


def test_no_face_at_the_coarse_scale_means_a_full_size_detection() -> None:
    p, full, coarse = pipeline([face(0, 80)], [])
    chosen, count = p.choose(IMAGE, FaceChoice.LARGEST)
    assert chosen is not None and count == 1
    assert (coarse.calls, full.calls) == (1, 1)


def test_the_central_face_is_always_chosen_at_full_size() -> None:
    # a small face may be the central one: the coarse detection could miss it
    p, full, coarse = pipeline([face(0, 300), face(950, 40)], [face(0, 300)])
    chosen, count = p.choose(IMAGE, FaceChoice.CENTRAL)
    assert chosen is not None and chosen.face.box.x == 950
    assert count == 2
    assert (coarse.calls, full.calls) == (0, 1)


def test_the_boundary_is_measured_at_the_coarse_scale() -> None:
    exactly = 64 / 0.32  # 200 px in the original is 64 px at the coarse scale: accepted
    p, full, _ = pipeline([face(0, 10)], [face(0, exactly)])
    p.choose(IMAGE, FaceChoice.LARGEST)
    assert full.calls == 0
    p, full, _ = pipeline([face(0, 10)], [face(0, exactly - 1)])
    p.choose(IMAGE, FaceChoice.LARGEST)
    assert full.calls == 1


def test_an_image_smaller_than_the_coarse_side_is_not_scaled() -> None:
    small = np.zeros((300, 400, 3), dtype=np.uint8)  # scale 1.0: a 64 px face is 64 px
    p, full, _ = pipeline([face(0, 10)], [face(0, 64)])
    p.choose(small, FaceChoice.LARGEST)
    assert full.calls == 0
    assert CoarseFirst(ToyDetector([]), 640).scale(400, 300) == 1.0
    assert CoarseFirst(ToyDetector([]), 640).scale(2000, 1000) == 0.32
