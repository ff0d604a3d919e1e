"""A reactive test source for the server-paced challenge, and the attacks it is compared with.

A recording cannot react to a step it has not seen, so tests need a source that does:
``ReactiveSource`` idles on a calm stretch of a recorded clip and, only after the server reveals
a step, waits a human-like delay (``react_ms``) and plays the clip's segment where that person
performs the action, then idles again. It stands in for a live person — **and equally for an
attacker who holds a recording of the victim doing every move and can puppet it in real time**.
The paced challenge does not stop that attacker; it stops recordings that cannot react (replays
from the start or any offset, looped photos), which ``ReplaySource`` and ``StillSource`` are.

``simulate`` runs one challenge in virtual time against the same pure functions the server uses
(``map_batch`` + ``evaluate_paced``): frames captured at the source's rate, sent in short
batches, the server's reveal known to the source only when the batch's answer comes back.
Measurements come from ``facegate.research.eval.clips`` (cached per frame), so 200 challenges
take seconds.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from facegate.core.liveness.actions import Action, ActionOptions, Baseline, find_events
from facegate.core.liveness.landmarks import FrameMeasurement
from facegate.core.liveness.paced import (
    NON_BLINK,
    ClockDisagreement,
    PacedOptions,
    Pacing,
    draw_delays,
    evaluate_paced,
    map_batch,
)
from facegate.core.liveness.paced import (
    draw_steps as paced_draw_steps,
)
from facegate.research.eval.clips import Clip

IDLE_MS = 700


@dataclass(frozen=True)
class Segment:
    action: Action
    start: int  # clip frame indices, inclusive
    end: int
    onset: int
    value: float = 0.0  # the action's peak signal (margin over the detector's peak level)


@dataclass
class ClipIndex:
    """A clip's calm stretch (for idling) and, per action, the segments that show it."""

    clip: Clip
    measures: list[FrameMeasurement]
    idle: tuple[int, int]
    segments: dict[Action, list[Segment]] = field(default_factory=dict)

    @property
    def actions(self) -> tuple[Action, ...]:
        return tuple(a for a in Action if self.segments.get(a))


def _idle_stretch(ms: Sequence[FrameMeasurement], span: int) -> tuple[int, int]:
    """The window of ``span`` frames that is steadiest and nearest frontal, eyes open, mouth shut."""
    ears = sorted(f.ear for f in ms if f.ok)
    open_eye = ears[int(0.75 * (len(ears) - 1))] if ears else 0.0
    mouths = sorted(f.mouth_open for f in ms if f.ok)
    shut = (mouths[int(0.3 * (len(mouths) - 1))] if mouths else 0.0) + 0.05
    best, best_cost = (0, span - 1), float("inf")
    for a in range(0, max(1, len(ms) - span)):
        w = ms[a : a + span]
        if not all(f.ok for f in w):
            continue
        if min(f.ear for f in w) < 0.8 * open_eye or max(f.mouth_open for f in w) > shut:
            continue
        yaws = [f.yaw for f in w]
        pitches = [f.pitch for f in w]
        cost = (abs(float(np.mean(yaws))) + 2 * (max(yaws) - min(yaws))
                + 2 * (max(pitches) - min(pitches)))
        if cost < best_cost:
            best, best_cost = (a, a + span - 1), cost
    return best


def index_clip(clip: Clip, o: ActionOptions | None = None) -> ClipIndex:
    """Find the calmest stretch and every clean action segment of the clip."""
    o = o or ActionOptions()
    ms = clip.measurements()
    span = max(3, round(IDLE_MS * clip.fps / 1000))
    idle = _idle_stretch(ms, span)
    base = Baseline.of(ms[idle[0] : idle[1] + 1])
    assert base is not None, f"{clip.name}: no usable face"
    ix = ClipIndex(clip, ms, idle)
    lead = max(1, round(120 * clip.fps / 1000))
    tail = max(1, round(150 * clip.fps / 1000))
    for action in Action:
        found: list[Segment] = []
        for e in find_events(action, ms, base, o):
            if e.done is None or e.value < 1.15 * o.levels(action).peak:
                continue  # keep a margin: frames sampled at another rate may miss a bare peak
            start = max(0, e.onset - lead)
            end = min(len(ms) - 1, e.done + tail)
            if _other_before(action, ms, base, o, start, e.onset):
                continue
            found.append(Segment(action, start, end, e.onset, e.value))
        ix.segments[action] = found
    return ix


def validated(ix: ClipIndex, options: PacedOptions, tries: int = 5) -> ClipIndex:
    """Keep the segments that pass a one-step challenge on their own (``tries`` seeds).

    Some detected events are not clean in context (another movement starts first, the action is
    slow to return); the source, like a person who knows their recordings, only uses clean ones.
    """
    keep: dict[Action, list[Segment]] = {}
    for action, segs in ix.segments.items():
        keep[action] = []
        for seg in segs:
            only = ClipIndex(ix.clip, ix.measures, ix.idle, {action: [seg]})
            ok = all(
                simulate(ix.clip, ReactiveSource(only, random.Random(seed)), (action,), options,
                         random.Random(seed)).status == "passed"
                for seed in range(tries)
            )
            if ok:
                keep[action].append(seg)
    return ClipIndex(ix.clip, ix.measures, ix.idle, keep)


def _other_before(
    action: Action, ms: Sequence[FrameMeasurement], b: Baseline, o: ActionOptions, start: int, onset: int
) -> bool:
    for other in NON_BLINK:
        if other is action:
            continue
        sub = ms[start : onset + 1]
        if any(e.onset < onset - start for e in find_events(other, sub, b, o)):
            return True
    return False


def strong(segments: Sequence[Segment]) -> list[Segment]:
    """The segments within 90 % of the strongest one: re-encoded frames (a browser's canvas,
    JPEG) measure slightly differently, so a person "performs" the clearer takes."""
    if not segments:
        return []
    top = max(s.value for s in segments)
    return [s for s in segments if s.value >= 0.9 * top]


class Source:
    """What the camera shows: a clip frame index for each capture time (ms since start)."""

    def frame_at(self, t_ms: float) -> int:
        raise NotImplementedError

    def revealed(self, action: Action, t_ms: float) -> None:
        """The source learns that ``action`` was shown at ``t_ms`` (only reactive ones care)."""


class ReplaySource(Source):
    """The clip as recorded, from ``start_ms`` on, looping: a video that cannot react."""

    def __init__(self, clip: Clip, start_ms: float = 0.0) -> None:
        self.clip, self.start = clip, start_ms
        self.t = clip.timestamps_ms - clip.timestamps_ms[0]
        self.length = float(self.t[-1]) + 1000.0 / clip.fps

    def frame_at(self, t_ms: float) -> int:
        pos = (self.start + t_ms) % self.length
        return int(np.searchsorted(self.t, pos, side="right") - 1)


class StillSource(Source):
    """One frame of the clip shown forever: a (looped) still photo."""

    def __init__(self, frame: int) -> None:
        self.frame = frame

    def frame_at(self, t_ms: float) -> int:
        return self.frame


class ReactiveSource(Source):
    """Idles on the calm stretch; after each reveal waits ``react_ms`` and plays a segment."""

    def __init__(self, ix: ClipIndex, rng: random.Random, react_ms: tuple[int, int] = (250, 600)) -> None:
        self.ix, self.rng, self.react = ix, rng, react_ms
        self.frame_ms = 1000.0 / ix.clip.fps
        self.plan: list[tuple[float, Segment]] = []

    def revealed(self, action: Action, t_ms: float) -> None:
        choices = strong(self.ix.segments.get(action) or [])
        if not choices:
            return  # this person was never filmed doing it: the source cannot react
        begin = t_ms + self.rng.uniform(*self.react)
        if self.plan:
            last_t, last = self.plan[-1]
            begin = max(begin, last_t + (last.end - last.start + 1) * self.frame_ms)
        self.plan.append((begin, self.rng.choice(choices)))

    def frame_at(self, t_ms: float) -> int:
        for begin, seg in reversed(self.plan):
            if t_ms >= begin:
                k = int((t_ms - begin) / self.frame_ms)
                if k <= seg.end - seg.start:
                    return seg.start + k
                break
        a, b = self.ix.idle
        n = b - a + 1
        k = int(t_ms / self.frame_ms) % (2 * n - 2 if n > 1 else 1)
        return a + (k if k < n else 2 * n - 2 - k)  # ping-pong over the calm stretch


@dataclass(frozen=True)
class SimResult:
    status: str
    reason: str | None
    steps: tuple[Action, ...]
    reactions_ms: tuple[int | None, ...]
    duration_ms: int


def draw_steps(rng: random.Random, choices: Sequence[Action], count: int) -> tuple[Action, ...]:
    """Like the server's draw (``facegate.core.liveness.paced.draw_steps``), from a seeded rng."""
    return paced_draw_steps(choices, count, rng)


def simulate(
    clip: Clip,
    source: Source,
    steps: Sequence[Action],
    options: PacedOptions,
    rng: random.Random,
    fps: float = 15.0,
    batch: int = 4,
    latency_ms: tuple[int, int] = (10, 60),
    timeout_ms: int = 40000,
) -> SimResult:
    """One challenge in virtual time (ms since the session was opened, on the server clock)."""
    pacing = Pacing(delays=tuple(draw_delays(len(steps), options)))
    frames: list[FrameMeasurement] = []
    client: list[tuple[int, int]] = []  # (client ms, clip frame)
    shown = 0
    status, reason = "pending", None
    client_zero = rng.uniform(50, 400)  # the camera starts after the session was opened
    capture = client_zero
    decision = None
    while status == "pending" and capture < timeout_ms:
        # capture one batch at the camera's rate
        for _ in range(batch):
            client.append((round(capture - client_zero), source.frame_at(capture - client_zero)))
            capture += 1000.0 / fps
        recv = round(capture - 1000.0 / fps + rng.uniform(*latency_ms))
        sent, client = client, []
        try:
            pacing, mapped = map_batch(pacing, [c for c, _ in sent], recv, options)
        except ClockDisagreement as exc:
            return SimResult("failed", str(exc), tuple(steps), (), recv)
        for (_, k), s in zip(sent, mapped, strict=True):
            frames.append(clip.measurement(k, len(frames), s))
        now = recv + round(rng.uniform(10, 40))  # server processing
        decision = evaluate_paced(steps, frames, pacing, options, now)
        pacing, status, reason = decision.pacing, decision.status, decision.reason
        while shown < len(pacing.reveals):  # the answer reaches the source
            source.revealed(steps[shown], now - client_zero + rng.uniform(2, 20))
            shown += 1
        capture = max(capture, now + 5.0)
    if status == "pending":
        status, reason = "failed", "timeout"
    reactions = tuple(s.reaction_ms for s in decision.steps) if decision else ()
    return SimResult(status, reason, tuple(steps), reactions, round(capture))
