"""The one parser of a form's frame ``timestamps`` field (capture times in milliseconds).

Clients send either a JSON array (``[0, 66.7, 133]``: the liveness API, the face-login page) or
comma-separated numbers (``0,66.7,133``: the locker kiosk); both are accepted everywhere. Each
value must be a finite number (not a boolean), and there must be one per frame. Whether the
times are increasing and at a plausible rate is the challenge's rule
(``facegate.core.liveness.challenge.validate_timestamps``), not the parser's.

Each caller names the error it raises (its code decides the HTTP status), so the routes keep
their answers: ``invalid_frames`` (422) for the liveness API, a plain 400 for the others.
"""

from __future__ import annotations

import json
import math
from typing import Any

from facegate.core.errors import FaceGateError

MAX_TEXT = 64_000
"""Longer fields are refused before parsing (a few thousand frames' worth of times)."""


def parse_timestamps(
    text: str, count: int, *, field: str = "timestamps",
    error: type[FaceGateError] = FaceGateError,
) -> list[float]:
    """``count`` capture times (ms) from ``text``; ``error`` with a message naming ``field``."""
    stripped = text.strip()
    if len(stripped) > MAX_TEXT:
        raise error(f"{field}: longer than {MAX_TEXT} characters")
    values = _json_array(stripped, field, error) if stripped.startswith("[") else _csv(
        stripped, field, error
    )
    if len(values) != count:
        raise error(f"{field}: {len(values)} values for {count} frames: give one per frame")
    return values


def _json_array(text: str, field: str, error: type[FaceGateError]) -> list[float]:
    try:
        raw: Any = json.loads(text)
    except (ValueError, RecursionError) as exc:  # ValueError: JSONDecodeError, huge ints
        raise error(f"{field}: not a JSON array of numbers") from exc
    if not isinstance(raw, list) or not all(_is_number(v) for v in raw):
        raise error(f"{field}: must be a JSON array of finite numbers (milliseconds)")
    return [float(v) for v in raw]


def _csv(text: str, field: str, error: type[FaceGateError]) -> list[float]:
    if not text:
        return []
    try:
        values = [float(part) for part in text.split(",")]
    except ValueError:
        raise error(
            f"{field}: must be a JSON array or comma-separated numbers (milliseconds)"
        ) from None
    if not all(math.isfinite(v) for v in values):
        raise error(f"{field}: must be finite numbers (milliseconds)")
    return values


def _is_number(value: Any) -> bool:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:  # an integer too large for a float
        return False
