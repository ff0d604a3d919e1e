"""Draw faces on an image (annotated outputs of the CLI and the stream client)."""

from __future__ import annotations

from collections.abc import Sequence

import cv2

from facegate.core.domain import DetectedFace, ImageArray

GREEN = (60, 200, 60)
RED = (40, 40, 230)
YELLOW = (0, 210, 255)

Rect = tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive)
FONT = cv2.FONT_HERSHEY_SIMPLEX


def _thickness(image: ImageArray) -> int:
    return max(1, round(max(image.shape[:2]) / 500))


def _overlaps(a: Rect, b: Rect) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def place_label(
    size: tuple[int, int], face: DetectedFace, image_shape: tuple[int, ...], taken: Sequence[Rect]
) -> Rect:
    """Where a label of ``size`` (w, h) goes: above the box, else below it, else stacked further
    down, never over another label in ``taken`` when there is room, always inside the image."""
    w, h = size
    ih, iw = image_shape[:2]
    b = face.box
    x0 = min(max(0, round(b.x)), max(0, iw - w))
    above, below = round(b.y) - h, round(b.y + b.height)
    candidates = [above, below] + [below + k * (h + 2) for k in range(1, 40)]
    candidates += [above - k * (h + 2) for k in range(1, 40)]
    clamp = [min(max(0, y), max(0, ih - h)) for y in candidates]
    for y0 in clamp:
        rect = (x0, y0, x0 + w, y0 + h)
        if not any(_overlaps(rect, t) for t in taken):
            return rect
    return (x0, clamp[0], x0 + w, clamp[0] + h)


def _box_rect(face: DetectedFace) -> Rect:
    b = face.box
    return (round(b.x), round(b.y), round(b.x + b.width), round(b.y + b.height))


def _leader(image: ImageArray, label: Rect, box: Rect, color: tuple[int, int, int]) -> None:
    """A thin line from a label placed away from its face to the face's box."""
    if label[3] >= box[1] - 1 and label[1] <= box[3] + 1:
        return  # the label touches the box (right above or below it)
    x = min(max((label[0] + label[2]) // 2, box[0]), box[2])
    start = (x, label[3] if label[3] < box[1] else label[1])
    end = (x, box[1] if label[3] < box[1] else box[3])
    cv2.line(image, start, end, color, max(1, _thickness(image) // 2), cv2.LINE_AA)


def _draw_label(image: ImageArray, rect: Rect, label: str, color: tuple[int, int, int]) -> None:
    t = _thickness(image)
    scale = max(0.4, t * 0.5)
    cv2.rectangle(image, (rect[0], rect[1]), (rect[2] - 1, rect[3] - 1), color, -1)
    cv2.putText(image, label, (rect[0] + 2, rect[3] - 4), FONT, scale, (255, 255, 255), t,
                cv2.LINE_AA)


def label_size(image: ImageArray, label: str) -> tuple[int, int]:
    t = _thickness(image)
    (tw, th), base = cv2.getTextSize(label, FONT, max(0.4, t * 0.5), t)
    return tw + 4, th + base + 4


def draw_face(
    image: ImageArray,
    face: DetectedFace,
    label: str | None = None,
    color: tuple[int, int, int] = GREEN,
    taken: list[Rect] | None = None,
) -> Rect | None:
    """Draw the box, five points and an optional label onto ``image`` in place.

    With ``taken`` (the label rectangles drawn so far) the label avoids them and its rectangle is
    appended; returns the label's rectangle (None without a label)."""
    b = face.box
    thickness = _thickness(image)
    p1 = (round(b.x), round(b.y))
    p2 = (round(b.x + b.width), round(b.y + b.height))
    cv2.rectangle(image, p1, p2, color, thickness)
    for x, y in face.landmarks.points:
        cv2.circle(image, (round(x), round(y)), thickness + 1, YELLOW, -1)
    if not label:
        return None
    rect = place_label(label_size(image, label), face, image.shape, taken or [])
    _draw_label(image, rect, label, color)
    if taken is not None:
        taken.append(rect)
    return rect


def draw_labelled(
    image: ImageArray, items: Sequence[tuple[DetectedFace, str, tuple[int, int, int]]]
) -> list[Rect]:
    """Draw every face's box first, then the labels (top to bottom) so that no label hides another
    label, nor another face when there is room elsewhere."""
    for face, _, color in items:
        draw_face(image, face, None, color)
    boxes = {id(f): _box_rect(f) for f, _, _ in items}
    taken: list[Rect] = []
    for face, label, color in sorted(items, key=lambda it: (it[0].box.y, it[0].box.x)):
        others = [r for k, r in boxes.items() if k != id(face)]
        size = label_size(image, label)
        rect = place_label(size, face, image.shape, taken + others)
        if any(_overlaps(rect, t) for t in taken):  # no room clear of faces: clear of labels only
            rect = place_label(size, face, image.shape, taken)
        _leader(image, rect, _box_rect(face), color)
        _draw_label(image, rect, label, color)
        taken.append(rect)
    return taken


def draw_faces(image: ImageArray, faces: list[DetectedFace]) -> ImageArray:
    out = image.copy()
    draw_labelled(out, [(f, f"{i + 1}: {f.score:.2f}", GREEN) for i, f in enumerate(faces)])
    return out
