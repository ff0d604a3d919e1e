"""Labels of annotated images (``identify --out``, ``detect --out``): never one over another."""

from __future__ import annotations

import numpy as np

from facegate.core.domain import Box, DetectedFace, Landmarks
from facegate.core.vision.draw import GREEN, RED, Rect, draw_labelled


def face(x: float, y: float, w: float = 60, h: float = 70) -> DetectedFace:
    return DetectedFace(Box(x, y, w, h), 0.9, Landmarks(((x + w / 2, y + h / 2),) * 5))


def overlap(a: Rect, b: Rect) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def test_neighbouring_faces_get_labels_that_do_not_overlap() -> None:
    image = np.zeros((400, 640, 3), np.uint8)
    # three faces side by side, closer together than their labels are wide (a group photo)
    faces = [face(100, 150), face(170, 155), face(240, 148)]
    labels = ["Barack Obama 0.71", "Joe Biden 0.64", "unknown 0.21"]
    rects = draw_labelled(image, [(f, t, GREEN if i < 2 else RED)
                                  for i, (f, t) in enumerate(zip(faces, labels, strict=True))])
    assert len(rects) == 3
    for i, a in enumerate(rects):
        assert 0 <= a[0] < a[2] <= 640 and 0 <= a[1] < a[3] <= 400  # inside the image
        for b in rects[i + 1:]:
            assert not overlap(a, b), (a, b)
    assert rects[0][3] <= 150 + 1  # the first label sits right above its face


def test_labels_stay_inside_the_image_at_the_edges() -> None:
    image = np.zeros((200, 200, 3), np.uint8)
    rects = draw_labelled(image, [(face(0, 0), "top person 0.99", GREEN),
                                  (face(150, 140, 50, 60), "bottom right 0.50", RED)])
    for r in rects:
        assert r[0] >= 0 and r[1] >= 0 and r[2] <= 200 and r[3] <= 200
    assert not overlap(rects[0], rects[1])
    assert image.any()  # something was drawn
