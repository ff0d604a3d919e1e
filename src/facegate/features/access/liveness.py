"""Door liveness: evidence gathered passively over a person's track at a stream device.

A door cannot ask for a challenge, so it watches the person while they are recognised:

* **parallax**: a real head is not flat. The four outer points of YuNet's landmarks (eyes, mouth
  corners) of two frames define a homography; for a flat picture (photo, print, screen, however
  it is moved or tilted) that homography also maps the nose tip exactly. A real head that turns or
  nods moves its nose off that plane: ``parallax`` is the largest nose error, in eye distances,
  over pairs of frames of the track;
* **blink**: the eye aspect ratio (Face Mesh, about one measure per frame) drops below
  ``blink_ratio`` × the track's open-eye level and comes back;
* **passive score** (when the door's mode asks for it and a model is loaded): the mean anti-spoof
  score of the track's crops.

Modes (per door, ``off | passive | strict``): *passive* grants once the track shows a blink **or**
parallax; *strict* needs a blink **and** parallax (and the passive score, when configured). Until
then the decision is ``checking_liveness``; after ``max_wait_s`` without evidence it is a settled
denial ``not_live`` (audited). What this stops and what it does not: docs/architecture.md.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

import cv2
import numpy as np

from facegate.core.domain import DetectedFace, FloatArray, ImageArray


class DoorMode(StrEnum):
    OFF = "off"
    PASSIVE = "passive"
    STRICT = "strict"


@dataclass(frozen=True)
class DoorLivenessOptions:
    mode: DoorMode = DoorMode.OFF
    window_s: float = 6.0  # evidence older than this is forgotten
    min_track_s: float = 0.8  # never granted on a shorter track
    max_wait_s: float = 8.0  # then: settled denial "not_live"
    parallax_min: float = 0.05  # nose error beyond the plane, in eye distances
    blink_ratio: float = 0.72
    passive_threshold: float | None = None  # strict: mean passive score must reach it


@dataclass(frozen=True)
class FaceSignals:
    """What one frame shows of a recognised face."""

    t: float  # server seconds
    points: FloatArray  # 5 × 2 YuNet landmarks
    ear: float | None = None
    passive: float | None = None


@dataclass(frozen=True)
class DoorEvidence:
    live: bool
    blink: bool
    parallax: float
    track_s: float
    passive: float | None
    expired: bool  # waited max_wait_s without enough evidence

    def to_json(self) -> dict[str, object]:
        return {
            "live": self.live,
            "blink": self.blink,
            "parallax": round(self.parallax, 4),
            "track_s": round(self.track_s, 2),
            "passive": None if self.passive is None else round(self.passive, 4),
        }


def plane_error(a: FloatArray, b: FloatArray) -> float:
    """Nose error (in eye distances of ``b``) of the homography of the 4 outer points a → b."""
    outer = [0, 1, 3, 4]
    src = np.asarray(a, np.float32)[outer]
    dst = np.asarray(b, np.float32)[outer]
    eyes = float(np.linalg.norm(dst[1] - dst[0]))
    if eyes < 1e-3:
        return 0.0
    try:
        h = cv2.getPerspectiveTransform(src, dst)
    except cv2.error:
        return 0.0
    nose = np.array([[a[2]]], np.float32)
    mapped = cv2.perspectiveTransform(nose, h)[0, 0]
    return float(np.linalg.norm(mapped - np.asarray(b[2], np.float32))) / eyes


@dataclass
class _Track:
    first_t: float
    frames: deque[FaceSignals] = field(default_factory=lambda: deque(maxlen=120))
    parallax: float = 0.0
    blink: bool = False


class DoorLivenessTracker:
    """Evidence per recognised person on one stream. Pure: fed one ``FaceSignals`` per frame."""

    def __init__(self, options: DoorLivenessOptions) -> None:
        self.o = options
        self._tracks: dict[str, _Track] = {}

    def update(self, person: str, s: FaceSignals) -> DoorEvidence:
        o = self.o
        track = self._tracks.get(person)
        if track is None or (track.frames and s.t - track.frames[-1].t > o.window_s):
            track = self._tracks[person] = _Track(s.t)
        for old in list(track.frames)[-30:]:
            track.parallax = max(track.parallax, plane_error(old.points, s.points))
        track.frames.append(s)
        while track.frames and s.t - track.frames[0].t > o.window_s:
            track.frames.popleft()
        track.blink = track.blink or _blinked([f.ear for f in track.frames if f.ear is not None], o)
        scores = [f.passive for f in track.frames if f.passive is not None]
        passive = float(np.mean(scores)) if scores else None
        age = s.t - track.first_t
        parallax_ok = track.parallax >= o.parallax_min
        if o.mode is DoorMode.STRICT:
            live = track.blink and parallax_ok
            if o.passive_threshold is not None:
                live = live and passive is not None and passive >= o.passive_threshold
        else:
            live = track.blink or parallax_ok
        live = live and age >= o.min_track_s
        return DoorEvidence(live, track.blink, track.parallax, age, passive,
                            expired=not live and age >= o.max_wait_s)


def _blinked(ears: list[float], o: DoorLivenessOptions) -> bool:
    """A dip below ``blink_ratio`` × open level with open eyes on both sides of it."""
    if len(ears) < 3:
        return False
    level = float(np.percentile(ears, 75))
    closed, open_ = level * o.blink_ratio, level * 0.9
    seen_open, dipped = False, False
    for e in ears:
        if e >= open_:
            if dipped and seen_open:
                return True
            seen_open, dipped = True, False
        elif e < closed and seen_open:
            dipped = True
    return False


EarMeasure = Callable[[ImageArray, DetectedFace], "float | None"]
PassiveScore = Callable[[ImageArray, DetectedFace], "float | None"]


def parse_door_modes(text: str | None) -> dict[str, DoorMode]:
    """``"front-door=strict,lab=off"`` → {device name: mode}; refuses unknown modes."""
    out: dict[str, DoorMode] = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        name, sep, mode = part.partition("=")
        if not sep or not name.strip() or mode.strip() not in {m.value for m in DoorMode}:
            raise ValueError(f"door liveness {part.strip()!r}: use NAME=off|passive|strict")
        out[name.strip()] = DoorMode(mode.strip())
    return out
