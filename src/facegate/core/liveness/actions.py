"""The actions a challenge asks for, detected as excursions from the person's neutral face.

Every action is a signal that is ~0 on the person's neutral face (``Baseline``: medians of the
calibration frames) and grows while the action is performed:

=============  =======================================  =======  ======  ======
action         signal                                   onset    peak    return
=============  =======================================  =======  ======  ======
blink          1 − EAR / open-eye EAR                   0.15     0.30    0.15
turn_left      yaw − neutral yaw (degrees)              10       25      12
turn_right     neutral yaw − yaw                        10       25      12
look_up        neutral pitch − pitch (degrees)          6        12      6
open_mouth     inner-lip gap / mouth width − neutral    0.10     0.30    0.12
=============  =======================================  =======  ======  ======

An *event* starts at the first frame whose signal passes the onset, must pass the peak before
falling back under the onset, and is done at the first frame after the peak whose signal is back
under the return level. A blink must be done within ``blink_max_ms`` of its onset, and blink
frames with a strongly turned head are skipped (the far eye's EAR is unreliable).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from facegate.core.liveness.landmarks import FrameMeasurement


class Action(StrEnum):
    BLINK = "blink"
    TURN_LEFT = "turn_left"
    TURN_RIGHT = "turn_right"
    LOOK_UP = "look_up"
    OPEN_MOUTH = "open_mouth"


ACTION_NAMES: dict[str, Action] = {a.value: a for a in Action}
ACTION_NAMES.update({"left": Action.TURN_LEFT, "right": Action.TURN_RIGHT, "up": Action.LOOK_UP,
                     "mouth": Action.OPEN_MOUTH})
INSTRUCTIONS = {
    Action.BLINK: "Blink",
    Action.TURN_LEFT: "Turn your head to your left",
    Action.TURN_RIGHT: "Turn your head to your right",
    Action.LOOK_UP: "Look up",
    Action.OPEN_MOUTH: "Open your mouth wide",
}


@dataclass(frozen=True)
class Levels:
    onset: float
    peak: float
    back: float


@dataclass(frozen=True)
class ActionOptions:
    blink: Levels = Levels(0.15, 0.30, 0.15)
    turn: Levels = Levels(10.0, 25.0, 12.0)
    look_up: Levels = Levels(6.0, 12.0, 6.0)
    open_mouth: Levels = Levels(0.10, 0.30, 0.12)
    blink_max_ms: int = 1000
    blink_max_yaw_deg: float = 25.0

    def levels(self, action: Action) -> Levels:
        if action is Action.BLINK:
            return self.blink
        if action in (Action.TURN_LEFT, Action.TURN_RIGHT):
            return self.turn
        if action is Action.LOOK_UP:
            return self.look_up
        return self.open_mouth


@dataclass(frozen=True)
class Baseline:
    yaw: float
    pitch: float
    ear: float
    mouth_open: float

    @classmethod
    def of(cls, frames: Sequence[FrameMeasurement]) -> Baseline | None:
        ok = [f for f in frames if f.ok]
        if not ok:
            return None
        ears = [f.ear for f in ok]
        return cls(
            yaw=statistics.median(f.yaw for f in ok),
            pitch=statistics.median(f.pitch for f in ok),
            # the open-eye level: the upper part of the distribution (blinks pull the median down)
            ear=float(sorted(ears)[int(0.75 * (len(ears) - 1))]),
            mouth_open=statistics.median(f.mouth_open for f in ok),
        )

    def to_json(self) -> dict[str, float]:
        return {k: round(v, 4) for k, v in vars(self).items()}

    @classmethod
    def from_json(cls, d: dict[str, float]) -> Baseline:
        return cls(float(d["yaw"]), float(d["pitch"]), float(d["ear"]), float(d["mouth_open"]))


def signal(action: Action, f: FrameMeasurement, b: Baseline) -> float:
    if action is Action.BLINK:
        return 1.0 - f.ear / b.ear if b.ear > 1e-6 else 0.0
    if action is Action.TURN_LEFT:
        return f.yaw - b.yaw
    if action is Action.TURN_RIGHT:
        return b.yaw - f.yaw
    if action is Action.LOOK_UP:
        return b.pitch - f.pitch
    return f.mouth_open - b.mouth_open


@dataclass(frozen=True)
class Event:
    """One performed action: positions in the frame list given to ``find_events``."""

    action: Action
    onset: int
    peak: int
    done: int | None  # None: passed the peak but not back yet
    value: float


def find_events(
    action: Action,
    frames: Sequence[FrameMeasurement],
    b: Baseline,
    o: ActionOptions,
    start: int = 0,
) -> list[Event]:
    """Every event of ``action`` in ``frames[start:]`` (only frames with ``ok``), in order."""
    lv = o.levels(action)
    events: list[Event] = []
    i, n = start, len(frames)
    while i < n:
        f = frames[i]
        if not _usable(action, f, b, o) or signal(action, f, b) < lv.onset:
            i += 1
            continue
        onset, peak, j = i, i, i
        reached = False
        while j < n:
            g = frames[j]
            if not _usable(action, g, b, o):
                j += 1
                continue
            s = signal(action, g, b)
            if s > signal(action, frames[peak], b):
                peak = j
            if s >= lv.peak:
                reached = True
            if reached and s <= lv.back:
                break
            if not reached and s < lv.onset:
                break
            j += 1
        if not reached:
            i = j + 1
            continue
        done = j if j < n else None
        value = signal(action, frames[peak], b)
        too_long = done is not None and (
            frames[done].timestamp_ms - frames[onset].timestamp_ms > o.blink_max_ms
        )
        if action is Action.BLINK and done is not None and too_long:
            i = done + 1  # eyes closed too long: not a blink
            continue
        events.append(Event(action, onset, peak, done, value))
        if done is None:
            break
        i = done + 1
    return events


def _usable(action: Action, f: FrameMeasurement, b: Baseline, o: ActionOptions) -> bool:
    if not f.ok:
        return False
    return action is not Action.BLINK or abs(f.yaw - b.yaw) <= o.blink_max_yaw_deg
