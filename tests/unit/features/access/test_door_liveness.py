"""Door liveness evidence (pure): planarity of the five landmarks, blinks, modes."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from facegate.features.access.liveness import (
    DoorLivenessOptions,
    DoorLivenessTracker,
    DoorMode,
    FaceSignals,
    parse_door_modes,
    plane_error,
)

# A generic head (mm, x right, y down, z away from the camera): eyes, nose tip (in front), mouth.
HEAD = np.array([[-32, -35, 0], [32, -35, 0], [0, 0, -30], [-25, 30, 0], [25, 30, 0]], np.float64)


def project(yaw_deg: float, pitch_deg: float = 0.0, shift: float = 0.0, dist: float = 600.0) -> np.ndarray:
    y, p = math.radians(yaw_deg), math.radians(pitch_deg)
    ry = np.array([[math.cos(y), 0, math.sin(y)], [0, 1, 0], [-math.sin(y), 0, math.cos(y)]])
    rx = np.array([[1, 0, 0], [0, math.cos(p), -math.sin(p)], [0, math.sin(p), math.cos(p)]])
    pts = HEAD @ (rx @ ry).T + np.array([shift, 0, dist])
    return (pts[:, :2] / pts[:, 2:3] * 600.0 + 320.0).astype(np.float32)


def photo(angle_deg: float, tilt: float, scale: float, shift: float) -> np.ndarray:
    """The head's frontal picture printed flat, then moved, rotated and tilted in 3-D."""
    flat = project(0.0).astype(np.float64) - 320.0
    flat3 = np.hstack([flat, np.zeros((5, 1))]) * scale
    a, t = math.radians(angle_deg), math.radians(tilt)
    rz = np.array([[math.cos(a), -math.sin(a), 0], [math.sin(a), math.cos(a), 0], [0, 0, 1]])
    ry = np.array([[math.cos(t), 0, math.sin(t)], [0, 1, 0], [-math.sin(t), 0, math.cos(t)]])
    pts = flat3 @ (ry @ rz).T + np.array([shift, 0, 600.0])
    return (pts[:, :2] / pts[:, 2:3] * 600.0 + 320.0).astype(np.float32)


@settings(max_examples=60, deadline=None)
@given(
    st.floats(-30, 30), st.floats(-40, 40), st.floats(0.7, 1.4), st.floats(-80, 80),
)
def test_a_flat_picture_has_no_parallax_however_it_is_moved(
    angle: float, tilt: float, scale: float, shift: float
) -> None:
    assert plane_error(photo(0, 0, 1, 0), photo(angle, tilt, scale, shift)) < 0.01


@pytest.mark.parametrize("yaw", [10.0, -12.0, 25.0])
def test_a_turning_head_shows_parallax(yaw: float) -> None:
    assert plane_error(project(0.0), project(yaw)) > 0.08
    assert plane_error(project(0.0), project(0.0, pitch_deg=12.0)) > 0.05


def _feed(tracker: DoorLivenessTracker, frames: list[tuple[np.ndarray, float | None]], fps: float = 10.0):  # type: ignore[no-untyped-def]
    ev = None
    for k, (pts, ear) in enumerate(frames):
        ev = tracker.update("alice", FaceSignals(k / fps, pts, ear))
    return ev


def test_still_photo_is_never_live_and_expires() -> None:
    o = DoorLivenessOptions(mode=DoorMode.PASSIVE, max_wait_s=3.0)
    still = [(project(0.0), 0.30)] * 60  # 6 s of the same picture
    ev = _feed(DoorLivenessTracker(o), still)
    assert ev is not None and not ev.live and ev.expired and ev.parallax < 0.01 and not ev.blink


def test_a_moved_photo_is_not_live_either() -> None:
    o = DoorLivenessOptions(mode=DoorMode.PASSIVE)
    frames = [(photo(5 * math.sin(k / 3), 25 * math.sin(k / 5), 1.0, 10 * k % 40), 0.3) for k in range(60)]
    ev = _feed(DoorLivenessTracker(o), frames)
    assert ev is not None and not ev.live


def test_passive_takes_head_motion_or_a_blink_strict_needs_both() -> None:
    turning = [(project(12 * math.sin(k / 4)), 0.30) for k in range(20)]
    blinking = [(project(0.0), 0.30 if k % 8 else 0.10) for k in range(20)]
    both = [(project(12 * math.sin(k / 4)), 0.30 if k % 8 else 0.10) for k in range(20)]
    passive = DoorLivenessOptions(mode=DoorMode.PASSIVE)
    strict = DoorLivenessOptions(mode=DoorMode.STRICT)
    for frames, p_live, s_live in ((turning, True, False), (blinking, True, False), (both, True, True)):
        ev_p = _feed(DoorLivenessTracker(passive), frames)
        ev_s = _feed(DoorLivenessTracker(strict), frames)
        assert ev_p is not None and ev_p.live is p_live
        assert ev_s is not None and ev_s.live is s_live


def test_strict_with_a_passive_threshold_needs_the_score() -> None:
    o = DoorLivenessOptions(mode=DoorMode.STRICT, passive_threshold=0.5)
    t = DoorLivenessTracker(o)
    ev = None
    for k in range(20):
        ev = t.update("a", FaceSignals(k / 10, project(12 * math.sin(k / 4)), 0.3 if k % 8 else 0.1, 0.2))
    assert ev is not None and ev.blink and not ev.live


def test_door_modes_parse() -> None:
    assert parse_door_modes("front=strict, lab=off") == {"front": DoorMode.STRICT, "lab": DoorMode.OFF}
    assert parse_door_modes(None) == {}
    with pytest.raises(ValueError, match="NAME=off"):
        parse_door_modes("front=maybe")


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="ab-=, offpasivestrct", max_size=30))
def test_door_modes_parser_never_crashes(text: str) -> None:
    try:
        modes = parse_door_modes(text)
    except ValueError as exc:
        assert "NAME=off|passive|strict" in str(exc)
    else:
        assert all(isinstance(m, DoorMode) for m in modes.values()) and "" not in modes
