"""Draw faces on an image (annotated outputs of the CLI and the stream client)."""

from __future__ import annotations

import cv2

from facegate.core.domain import DetectedFace, ImageArray

GREEN = (60, 200, 60)
RED = (40, 40, 230)
YELLOW = (0, 210, 255)


def draw_face(
    image: ImageArray,
    face: DetectedFace,
    label: str | None = None,
    color: tuple[int, int, int] = GREEN,
) -> None:
    """Draw the box, five points and an optional label onto ``image`` in place."""
    b = face.box
    thickness = max(1, round(max(image.shape[:2]) / 500))
    p1 = (round(b.x), round(b.y))
    p2 = (round(b.x + b.width), round(b.y + b.height))
    cv2.rectangle(image, p1, p2, color, thickness)
    for x, y in face.landmarks.points:
        cv2.circle(image, (round(x), round(y)), thickness + 1, YELLOW, -1)
    if label:
        scale = max(0.4, thickness * 0.5)
        (tw, th), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
        y0 = max(th + 4, p1[1])
        cv2.rectangle(image, (p1[0], y0 - th - 4), (p1[0] + tw + 4, y0), color, -1)
        cv2.putText(
            image,
            label,
            (p1[0] + 2, y0 - 3),
            cv2.FONT_HERSHEY_SIMPLEX,
            scale,
            (255, 255, 255),
            thickness,
            cv2.LINE_AA,
        )


def draw_faces(image: ImageArray, faces: list[DetectedFace]) -> ImageArray:
    out = image.copy()
    for i, f in enumerate(faces):
        draw_face(out, f, f"{i + 1}: {f.score:.2f}")
    return out
