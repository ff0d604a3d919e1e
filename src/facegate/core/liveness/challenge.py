"""Challenge–response as pure logic: per-frame measurements + asked steps → pass / fail / pending.

Steps are searched for in order, each starting after the previous one completed:

* **blink**: the mean eye aspect ratio drops below ``blink_closed_ratio`` × the person's open-eye
  baseline (the median EAR of this session's near-frontal frames), after having been open in the
  same step, and is back above ``blink_open_ratio`` × baseline within ``blink_max_ms``. Frames
  with |yaw| above the turn angle are ignored for blinks (the far eye's EAR is unreliable).
* **turn_left / turn_right**: yaw passes ``turn_angle_deg`` in the asked direction and then comes
  back to within ``turn_return_deg`` of frontal. Left is the *subject's* left (yaw > 0, see
  ``facegate.core.liveness.pose``). Turning past the angle the other way during a turn step fails the
  challenge (a replayed recording rarely has the asked order).

Each step must complete within ``step_time_limit_ms`` of the previous one (or of the first frame),
all of them within ``total_time_limit_ms``. Frames with more than one face fail the challenge; a
face missing for longer than ``max_face_gap_ms`` fails it too. The identity check (same person
throughout) needs embeddings and is done by ``facegate.core.liveness.service``.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from facegate.core.errors import FaceGateError
from facegate.core.liveness.actions import ACTION_NAMES, Action, ActionOptions, Baseline, find_events
from facegate.core.liveness.landmarks import FrameMeasurement

Step = Action  # one vocabulary for offline and paced challenges
STEP_NAMES = ACTION_NAMES


class ChallengeStatus(StrEnum):
    PENDING = "pending"
    PASSED = "passed"
    FAILED = "failed"


class FrameTimingError(FaceGateError):
    """Frame timestamps are missing, not strictly increasing, or at an implausible rate."""

    code = "invalid_frames"


class InvalidStepsError(FaceGateError):
    code = "invalid_steps"


_NAMES = "blink, left (turn_left), right (turn_right), up (look_up) or mouth (open_mouth)"


def parse_steps(text: str | Sequence[str]) -> tuple[Step, ...]:
    """``"blink,left,right"`` (or a list of names) → steps; refuses unknown or empty lists."""
    names = [n.strip().lower() for n in (text.split(",") if isinstance(text, str) else text)]
    names = [n for n in names if n]
    if not names:
        raise InvalidStepsError(f"no steps given; use {_NAMES}")
    unknown = [n for n in names if n not in STEP_NAMES]
    if unknown:
        raise InvalidStepsError(f"unknown step(s) {', '.join(unknown)}; use {_NAMES}")
    return tuple(STEP_NAMES[n] for n in names)


@dataclass(frozen=True)
class ChallengeOptions:
    step_time_limit_ms: int = 6000
    total_time_limit_ms: int = 20000
    blink_closed_ratio: float = 0.7
    blink_open_ratio: float = 0.85
    blink_max_ms: int = 1000
    turn_angle_deg: float = 25.0
    turn_return_deg: float = 15.0
    max_fps: float = 60.0
    max_frame_gap_ms: int = 1000
    max_face_gap_ms: int = 1000

    @property
    def min_frame_interval_ms(self) -> float:
        return 1000.0 / self.max_fps


def validate_timestamps(
    timestamps: Sequence[int], options: ChallengeOptions, previous_ms: int | None = None
) -> None:
    """Refuse a batch whose timestamps (ms) are not strictly increasing at a plausible rate.

    ``previous_ms`` is the last timestamp already accepted in the session (batches continue it).
    """
    if not timestamps:
        raise FrameTimingError("no frames: at least one timestamped frame is required")
    prev = previous_ms
    for i, t in enumerate(timestamps):
        if t < 0:
            raise FrameTimingError(f"frame {i}: timestamp {t} ms is negative")
        if prev is not None:
            if t <= prev:
                raise FrameTimingError(
                    f"frame {i}: timestamp {t} ms is not after the previous frame's {prev} ms "
                    "(timestamps must be strictly increasing)"
                )
            gap = t - prev
            if gap < options.min_frame_interval_ms:
                raise FrameTimingError(
                    f"frame {i}: {gap} ms after the previous frame, faster than "
                    f"{options.max_fps:g} frames per second"
                )
            if gap > options.max_frame_gap_ms:
                raise FrameTimingError(
                    f"frame {i}: {gap} ms after the previous frame; frames must be at most "
                    f"{options.max_frame_gap_ms} ms apart"
                )
        prev = t


@dataclass(frozen=True)
class StepEvidence:
    """What the frames showed for one step. Frame numbers are the session's frame indices.

    For a blink, ``value`` is the lowest mean EAR, ``reference`` the open-eye baseline and
    ``threshold`` the EAR it had to drop below; for a turn, ``value`` is the peak yaw (degrees,
    > 0 = subject's left) and ``threshold`` the angle it had to pass.
    """

    step: Step
    done: bool
    start_frame: int | None = None
    peak_frame: int | None = None
    end_frame: int | None = None
    value: float | None = None
    reference: float | None = None
    threshold: float | None = None
    elapsed_ms: int | None = None
    revealed_ms: int | None = None  # paced sessions: server ms the step was shown
    reaction_ms: int | None = None  # paced sessions: from shown to the action's onset

    def to_json(self) -> dict[str, object]:
        def r(v: float | None) -> float | None:
            return None if v is None else round(v, 4)

        return {
            "step": self.step.value,
            "done": self.done,
            "start_frame": self.start_frame,
            "peak_frame": self.peak_frame,
            "end_frame": self.end_frame,
            "value": r(self.value),
            "reference": r(self.reference),
            "threshold": r(self.threshold),
            "elapsed_ms": self.elapsed_ms,
            "revealed_ms": self.revealed_ms,
            "reaction_ms": self.reaction_ms,
        }


@dataclass(frozen=True)
class ChallengeResult:
    status: ChallengeStatus
    steps: tuple[StepEvidence, ...]
    frames: int
    reason: str | None = None

    @property
    def passed(self) -> bool:
        return self.status is ChallengeStatus.PASSED


@dataclass(frozen=True)
class _Found:
    """A step found in the frames: evidence, the position of its last frame in ``ok``."""

    evidence: StepEvidence
    end_pos: int


@dataclass(frozen=True)
class _WrongTurn:
    frame: int
    yaw: float


def open_eye_baseline(frames: Sequence[FrameMeasurement], options: ChallengeOptions) -> float | None:
    """Median mean-EAR of the frames with |yaw| ≤ the turn angle (all frames if there are none)."""
    frontal = [f.ear for f in frames if abs(f.yaw) <= options.turn_angle_deg]
    values = frontal or [f.ear for f in frames]
    return statistics.median(values) if values else None


def _find_blink(
    ok: Sequence[FrameMeasurement], start: int, baseline: float, o: ChallengeOptions
) -> _Found | None:
    closed_thr, open_thr = baseline * o.blink_closed_ratio, baseline * o.blink_open_ratio
    seen_open = False
    i = start
    while i < len(ok):
        f = ok[i]
        if abs(f.yaw) > o.turn_angle_deg:
            i += 1  # the far eye's EAR is unreliable on a turned head: such frames do not count
            continue
        if f.ear >= open_thr:
            seen_open = True
        elif f.ear < closed_thr and seen_open:
            low = i
            j = i
            while j < len(ok) and ok[j].ear < open_thr:
                if ok[j].ear < ok[low].ear:
                    low = j
                j += 1
            if j >= len(ok):
                return None  # still closed at the end of the frames: undecided
            if ok[j].timestamp_ms - f.timestamp_ms <= o.blink_max_ms:
                ev = StepEvidence(
                    Step.BLINK,
                    True,
                    start_frame=f.index,
                    peak_frame=ok[low].index,
                    end_frame=ok[j].index,
                    value=ok[low].ear,
                    reference=baseline,
                    threshold=closed_thr,
                )
                return _Found(ev, j)
            i = j  # eyes closed too long: not a blink, keep looking
            continue
        i += 1
    return None


def _find_turn(
    ok: Sequence[FrameMeasurement], start: int, step: Step, o: ChallengeOptions
) -> _Found | _WrongTurn | None:
    sign = 1.0 if step is Step.TURN_LEFT else -1.0
    for i in range(start, len(ok)):
        signed = sign * ok[i].yaw
        if signed <= -o.turn_angle_deg:
            return _WrongTurn(ok[i].index, ok[i].yaw)
        if signed >= o.turn_angle_deg:
            peak = i
            for j in range(i, len(ok)):
                if sign * ok[j].yaw > sign * ok[peak].yaw:
                    peak = j
                if sign * ok[j].yaw <= o.turn_return_deg:
                    ev = StepEvidence(
                        step,
                        True,
                        start_frame=ok[i].index,
                        peak_frame=ok[peak].index,
                        end_frame=ok[j].index,
                        value=ok[peak].yaw,
                        threshold=sign * o.turn_angle_deg,
                    )
                    return _Found(ev, j)
            return None
    return None


def _find_other(ok: Sequence[FrameMeasurement], start: int, step: Action) -> _Found | None:
    """look_up / open_mouth in a recording: an event against the recording's median face."""
    b = Baseline.of(ok)
    events = find_events(step, ok, b, ActionOptions(), start) if b else []
    e = next((e for e in events if e.done is not None), None)
    if e is None or e.done is None:
        return None
    ev = StepEvidence(step, True, ok[e.onset].index, ok[e.peak].index, ok[e.done].index, e.value)
    return _Found(ev, e.done)


def _frame_problem(frames: Sequence[FrameMeasurement], o: ChallengeOptions) -> str | None:
    for f in frames:
        if f.face_count > 1:
            return f"frame {f.index}: {f.face_count} faces; only one person may be in view"
    last_ok: int | None = frames[0].timestamp_ms if frames else None
    for f in frames:
        if f.ok:
            last_ok = f.timestamp_ms
        elif last_ok is not None and f.timestamp_ms - last_ok > o.max_face_gap_ms:
            return f"frame {f.index}: no usable face for more than {o.max_face_gap_ms} ms"
    return None


def _not_found(
    label: str, since_step: int, since_start: int, o: ChallengeOptions, final: bool
) -> tuple[ChallengeStatus, str | None]:
    """A step not seen yet: failed when its time is up or no frames will come, else pending."""
    if since_step > o.step_time_limit_ms or since_start > o.total_time_limit_ms:
        return ChallengeStatus.FAILED, f"{label} not performed within {o.step_time_limit_ms / 1000:g} s"
    if final:
        return ChallengeStatus.FAILED, f"frames ended before {label} was performed"
    return ChallengeStatus.PENDING, None


def _too_late(label: str, elapsed: int, total: int, o: ChallengeOptions) -> str | None:
    """Why a step that took ``elapsed`` ms (``total`` ms since the first frame) is too late."""
    if elapsed > o.step_time_limit_ms:
        return f"{label} took {elapsed / 1000:.1f} s, over the {o.step_time_limit_ms / 1000:g} s limit"
    if total > o.total_time_limit_ms:
        return f"challenge took over the {o.total_time_limit_ms / 1000:g} s limit"
    return None


def evaluate_challenge(
    steps: Sequence[Step],
    frames: Sequence[FrameMeasurement],
    options: ChallengeOptions,
    final: bool = False,
) -> ChallengeResult:
    """Decide the challenge from every frame received so far (``final``: no more will come)."""
    o = options
    n = len(frames)

    def result(status: ChallengeStatus, found: list[StepEvidence], reason: str | None) -> ChallengeResult:
        rest = [StepEvidence(s, False) for s in steps[len(found) :]]
        return ChallengeResult(status, tuple(found + rest), n, reason)

    if not frames:
        return result(ChallengeStatus.FAILED if final else ChallengeStatus.PENDING, [], "no frames")
    problem = _frame_problem(frames, o)
    if problem:
        return result(ChallengeStatus.FAILED, [], problem)
    ok = [f for f in frames if f.ok]
    baseline = open_eye_baseline(ok, o)
    t0 = frames[0].timestamp_ms
    last_t = frames[-1].timestamp_ms
    found: list[StepEvidence] = []
    pos, step_start = 0, t0
    for k, step in enumerate(steps, 1):
        label = f"step {k} ({step.value})"
        hit: _Found | _WrongTurn | None
        if step is Step.BLINK:
            hit = _find_blink(ok, pos, baseline, o) if baseline else None
        elif step in (Step.TURN_LEFT, Step.TURN_RIGHT):
            hit = _find_turn(ok, pos, step, o)
        else:
            hit = _find_other(ok, pos, step)
        if isinstance(hit, _WrongTurn):
            return result(
                ChallengeStatus.FAILED,
                found,
                f"{label}: head turned the wrong way (yaw {hit.yaw:.0f}° at frame {hit.frame})",
            )
        if hit is None:
            status, reason = _not_found(label, last_t - step_start, last_t - t0, o, final)
            return result(status, found, reason)
        end_t = ok[hit.end_pos].timestamp_ms
        elapsed = end_t - step_start
        late = _too_late(label, elapsed, end_t - t0, o)
        if late:
            return result(ChallengeStatus.FAILED, found, late)
        ev = hit.evidence
        found.append(
            StepEvidence(
                ev.step, True, ev.start_frame, ev.peak_frame, ev.end_frame, ev.value,
                ev.reference, ev.threshold, elapsed,
            )
        )
        pos, step_start = hit.end_pos + 1, end_t
    return result(ChallengeStatus.PASSED, found, None)
