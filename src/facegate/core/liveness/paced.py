"""The server-paced challenge as pure logic: server-timed frames + reveal history → decision.

The server reveals one step at a time. A session first *calibrates* (``calibrate_ms`` of usable
frames give the person's neutral face, ``Baseline``); each step is revealed a secret random
delay (``delays``, drawn at creation, never sent) after calibration or after the previous step
was done, at the moment the server answers a frame batch (``reveals``: server ms). A step must
**begin** (the action's onset) between ``reaction_min_ms`` and ``reaction_max_ms`` after it was
shown, and be done within ``action_max_ms`` of its onset. Before it begins, no other action
(a head turn) may start, and the head must not be turned when it is shown: an action already
under way at the reveal is an anticipation. Spontaneous blinks are ignored except when a blink
is asked, and then only blinks that begin a human reaction time after the reveal count.

Time is the **server's**. Client capture times are mapped onto the server clock with one offset
(``server receive time − newest client timestamp`` of the first batch); every batch must then
agree with its receive time: no frame from the future
(``clock_skew_ms``) and the newest frame at most ``max_lag_ms`` old (frames are streamed while
they are captured, not uploaded afterwards).
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from facegate.core.liveness.actions import Action, ActionOptions, Baseline, Event, find_events
from facegate.core.liveness.landmarks import FrameMeasurement

NON_BLINK = (Action.TURN_LEFT, Action.TURN_RIGHT, Action.LOOK_UP, Action.OPEN_MOUTH)
# Actions that count as "something else" before the asked one begins: the deliberate, large ones.
# (Mouth and eyebrow/pitch movements happen while people talk; they are not held against them.)
COMPETING = (Action.TURN_LEFT, Action.TURN_RIGHT)


@dataclass(frozen=True)
class PacedOptions:
    actions: ActionOptions = field(default_factory=ActionOptions)
    calibrate_ms: int = 800
    calibrate_min_frames: int = 5
    delay_min_ms: int = 600
    delay_max_ms: int = 2000
    reaction_min_ms: int = 150
    reaction_max_ms: int = 1500
    action_max_ms: int = 3000
    clock_skew_ms: int = 400
    max_lag_ms: int = 2500
    max_face_gap_ms: int = 1000


def draw_steps(
    choices: Sequence[Action], count: int, rng: random.Random | None = None
) -> tuple[Action, ...]:
    """A random sequence; actions may repeat, but at most ``count // 2`` blinks (a blinking
    recording would otherwise hit blink steps by chance). 5 actions × 5 steps: 2,944 sequences.
    """
    r = rng or secrets.SystemRandom()
    pool = list(dict.fromkeys(choices))
    if not pool:
        raise ValueError("no actions to draw from")
    if all(a is Action.BLINK for a in pool):
        return tuple(pool[0] for _ in range(count))
    while True:
        steps = tuple(r.choice(pool) for _ in range(count))
        if sum(a is Action.BLINK for a in steps) <= count // 2:
            return steps


def draw_delays(count: int, o: PacedOptions) -> list[int]:
    rng = secrets.SystemRandom()
    return [rng.randint(o.delay_min_ms, o.delay_max_ms) for _ in range(count)]


@dataclass(frozen=True)
class Pacing:
    """The persisted timing state of a paced session (JSON in the session row)."""

    delays: tuple[int, ...]
    reveals: tuple[int, ...] = ()
    offset: int | None = None
    calibrated: int | None = None
    baseline: Baseline | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "delays": list(self.delays),
            "reveals": list(self.reveals),
            "offset": self.offset,
            "calibrated": self.calibrated,
            "baseline": self.baseline.to_json() if self.baseline else None,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Pacing:
        b = d.get("baseline")
        return cls(
            delays=tuple(int(x) for x in d["delays"]),
            reveals=tuple(int(x) for x in d.get("reveals", [])),
            offset=d.get("offset"),
            calibrated=d.get("calibrated"),
            baseline=Baseline.from_json(b) if b else None,
        )


class ClockDisagreement(ValueError):
    """Client timestamps that do not agree with the server's receive times."""


def map_batch(
    pacing: Pacing, client_ms: Sequence[int], recv_ms: int, o: PacedOptions
) -> tuple[Pacing, list[int]]:
    """Server times of a batch's frames (the first batch fixes the offset)."""
    offset = recv_ms - client_ms[-1] if pacing.offset is None else pacing.offset
    mapped = [t + offset for t in client_ms]
    if mapped[-1] > recv_ms + o.clock_skew_ms:
        raise ClockDisagreement(
            f"frames claim to be captured {mapped[-1] - recv_ms} ms after the server received them"
        )
    if recv_ms - mapped[-1] > o.max_lag_ms:
        raise ClockDisagreement(
            f"the newest frame of the batch is {recv_ms - mapped[-1]} ms old when received "
            f"(at most {o.max_lag_ms} ms): frames must be streamed while they are captured"
        )
    return replace(pacing, offset=offset), mapped


@dataclass(frozen=True)
class PacedStep:
    action: Action
    revealed_ms: int | None = None
    onset_ms: int | None = None
    done_ms: int | None = None
    start_frame: int | None = None
    peak_frame: int | None = None
    end_frame: int | None = None
    value: float | None = None

    @property
    def done(self) -> bool:
        return self.done_ms is not None

    @property
    def reaction_ms(self) -> int | None:
        if self.onset_ms is None or self.revealed_ms is None:
            return None
        return self.onset_ms - self.revealed_ms


@dataclass(frozen=True)
class PacedDecision:
    status: str  # pending | passed | failed
    reason: str | None
    pacing: Pacing
    steps: tuple[PacedStep, ...] = field(default_factory=tuple)

    @property
    def revealed(self) -> int:
        return len(self.pacing.reveals)


def _problem(frames: Sequence[FrameMeasurement], o: PacedOptions) -> str | None:
    last_ok: int | None = None
    for f in frames:
        if f.face_count > 1:
            return f"frame {f.index}: {f.face_count} faces; only one person may be in view"
        if f.ok:
            last_ok = f.timestamp_ms
        elif last_ok is not None and f.timestamp_ms - last_ok > o.max_face_gap_ms:
            return f"frame {f.index}: no usable face for more than {o.max_face_gap_ms} ms"
    return None


def _calibrate(frames: Sequence[FrameMeasurement], o: PacedOptions) -> tuple[int, Baseline] | None:
    ok = [k for k, f in enumerate(frames) if f.ok]
    if not ok:
        return None
    t0 = frames[ok[0]].timestamp_ms
    for n, k in enumerate(ok, 1):
        if frames[k].timestamp_ms - t0 >= o.calibrate_ms and n >= o.calibrate_min_frames:
            b = Baseline.of(frames[: k + 1])
            return (frames[k].timestamp_ms, b) if b else None
    return None


def evaluate_paced(
    steps: Sequence[Action],
    frames: Sequence[FrameMeasurement],
    pacing: Pacing,
    o: PacedOptions,
    now_ms: int,
    final: bool = False,
) -> PacedDecision:
    """Decide from every frame so far (``timestamp_ms`` = server ms); may reveal the next step."""
    pending = [PacedStep(a) for a in steps]

    def out(status: str, reason: str | None, p: Pacing, done: list[PacedStep]) -> PacedDecision:
        return PacedDecision(status, reason, p, tuple(done + pending[len(done):]))

    problem = _problem(frames, o)
    if problem:
        return out("failed", problem, pacing, [])
    if pacing.calibrated is None or pacing.baseline is None:
        cal = _calibrate(frames, o)
        if cal is None:
            reason = "no steady face to calibrate on" if final else None
            return out("failed" if final else "pending", reason, pacing, [])
        pacing = replace(pacing, calibrated=cal[0], baseline=cal[1])
    b = pacing.baseline
    assert b is not None and pacing.calibrated is not None
    t = [f.timestamp_ms for f in frames]
    last_t = t[-1] if t else 0
    scan = next((k for k, v in enumerate(t) if v > pacing.calibrated), len(frames))
    finished: list[PacedStep] = []
    rest_since = pacing.calibrated
    for k, reveal in enumerate(pacing.reveals):
        label = f"step {k + 1} ({steps[k].value})"
        res = _judge_step(steps[k], frames, b, o, scan, reveal)
        if isinstance(res, str):
            return out("failed", f"{label}: {res}", pacing, finished)
        if res is None or res.done is None:
            onset = None if res is None else t[res.onset]
            if onset is None and last_t - reveal > o.reaction_max_ms:
                why = f"{label}: not begun within {o.reaction_max_ms} ms of being shown"
                return out("failed", why, pacing, finished)
            if onset is not None and last_t - onset > o.action_max_ms:
                why = f"{label}: not completed within {o.action_max_ms} ms of its start"
                return out("failed", why, pacing, finished)
            if final:
                return out("failed", f"frames ended before {label} was done", pacing, finished)
            return out("pending", None, pacing, finished)
        if t[res.done] - t[res.onset] > o.action_max_ms:
            return out("failed", f"{label}: took over {o.action_max_ms} ms", pacing, finished)
        finished.append(
            PacedStep(steps[k], reveal, t[res.onset], t[res.done], frames[res.onset].index,
                      frames[res.peak].index, frames[res.done].index, round(res.value, 4))
        )
        scan, rest_since = res.done + 1, t[res.done]
    if len(finished) == len(steps):
        return out("passed", None, pacing, finished)
    due = rest_since + pacing.delays[len(pacing.reveals)]
    if now_ms >= due and not final:
        pacing = replace(pacing, reveals=(*pacing.reveals, now_ms))
        pending[len(finished)] = PacedStep(steps[len(finished)], revealed_ms=now_ms)
    if final:
        return out("failed", "frames ended before the challenge was done", pacing, finished)
    return out("pending", None, pacing, finished)


def _judge_step(
    asked: Action,
    frames: Sequence[FrameMeasurement],
    b: Baseline,
    o: PacedOptions,
    scan: int,
    reveal: int,
) -> Event | str | None:
    """The asked action's event after ``reveal``, a failure reason, or None (not begun yet)."""
    t = [f.timestamp_ms for f in frames]
    early = reveal + o.reaction_min_ms

    def after_reveal(e: Event) -> bool:  # not over before the step was shown
        return e.done is None or t[e.done] >= reveal

    found: Event | None = None
    for e in find_events(asked, frames, b, o.actions, scan):
        if not after_reveal(e):
            continue
        if t[e.onset] >= early:
            found = e
            break
        if asked is not Action.BLINK:
            return (
                f"{asked.value} began {t[e.onset] - reveal} ms after the step was shown, "
                f"sooner than a person can react ({o.reaction_min_ms} ms): it did not follow the step"
            )
    limit = t[found.onset] if found else None
    for other in COMPETING:
        if other is asked:
            continue
        for e in find_events(other, frames, b, o.actions, scan):
            if not after_reveal(e):
                continue
            if t[e.onset] < reveal:
                return f"not at rest when the step was shown ({other.value} under way)"
            if limit is None or t[e.onset] < limit:
                return f"{other.value} instead of {asked.value}"
            break
    if found is not None and t[found.onset] - reveal > o.reaction_max_ms:
        return f"begun {t[found.onset] - reveal} ms after being shown (at most {o.reaction_max_ms} ms)"
    return found
