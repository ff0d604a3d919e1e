"""Challenge logic on synthetic per-frame measurements (no models)."""

from __future__ import annotations

import pytest

from facegate.core.domain import Box
from facegate.core.liveness.challenge import (
    ChallengeOptions,
    ChallengeStatus,
    FrameTimingError,
    InvalidStepsError,
    Step,
    evaluate_challenge,
    open_eye_baseline,
    parse_steps,
    validate_timestamps,
)
from facegate.core.liveness.landmarks import FrameMeasurement

OPTS = ChallengeOptions(step_time_limit_ms=3000, total_time_limit_ms=8000)
BOX = Box(100, 100, 200, 200)


def frames(spec: list[tuple[float, float]], dt: int = 100, faces: int = 1) -> list[FrameMeasurement]:
    """(ear, yaw) per frame, ``dt`` ms apart."""
    return [
        FrameMeasurement(i, i * dt, faces, BOX, True, ear, ear, yaw, 0.0, 0.0)
        for i, (ear, yaw) in enumerate(spec)
    ]


OPEN, CLOSED = 0.30, 0.08
still = [(OPEN, 0.0)] * 5
blink = [(OPEN, 0.0), (CLOSED, 0.0), (CLOSED, 0.0), (OPEN, 0.0)]
left = [(OPEN, 15.0), (OPEN, 30.0), (OPEN, 40.0), (OPEN, 20.0), (OPEN, 5.0)]
right = [(OPEN, -15.0), (OPEN, -30.0), (OPEN, -38.0), (OPEN, -10.0), (OPEN, 0.0)]


def test_blink_left_right_in_order_passes_with_evidence() -> None:
    seq = frames(still + blink + still + left + still + right + still)
    r = evaluate_challenge((Step.BLINK, Step.TURN_LEFT, Step.TURN_RIGHT), seq, OPTS)
    assert r.status is ChallengeStatus.PASSED, r.reason
    b, lt, rt = r.steps
    assert b.done and b.peak_frame == 6 and b.value == pytest.approx(CLOSED)
    assert b.threshold == pytest.approx(OPEN * OPTS.blink_closed_ratio)
    assert lt.value == pytest.approx(40.0) and lt.peak_frame == 16
    assert rt.value == pytest.approx(-38.0)
    assert lt.start_frame is not None and b.end_frame is not None and lt.start_frame > b.end_frame


def test_order_not_performed_fails_with_wrong_way_reason() -> None:
    seq = frames(still + left + still + right + still + blink + still)
    r = evaluate_challenge((Step.TURN_RIGHT, Step.TURN_LEFT, Step.BLINK), seq, OPTS)
    assert r.status is ChallengeStatus.FAILED
    assert r.reason is not None and "wrong way" in r.reason and "step 1 (turn_right)" in r.reason


def test_steps_must_follow_each_other_in_order() -> None:
    seq = frames(still + left + still + blink + still)
    r = evaluate_challenge((Step.BLINK, Step.TURN_LEFT), seq, OPTS, final=True)
    assert r.status is ChallengeStatus.FAILED
    assert r.steps[0].done and not r.steps[1].done


def test_still_face_is_pending_then_fails_after_the_step_limit() -> None:
    short = frames([(OPEN, 0.0)] * 20)  # 1.9 s
    assert evaluate_challenge((Step.BLINK,), short, OPTS).status is ChallengeStatus.PENDING
    long = frames([(OPEN, 0.0)] * 40)  # 3.9 s > 3 s
    r = evaluate_challenge((Step.BLINK,), long, OPTS)
    assert r.status is ChallengeStatus.FAILED and "within 3 s" in (r.reason or "")
    final = evaluate_challenge((Step.TURN_LEFT,), short, OPTS, final=True)
    assert final.status is ChallengeStatus.FAILED and "ended before" in (final.reason or "")


def test_slow_step_fails_even_when_eventually_done() -> None:
    seq = frames([(OPEN, 0.0)] * 35 + blink)
    r = evaluate_challenge((Step.BLINK,), seq, OPTS)
    assert r.status is ChallengeStatus.FAILED


def test_eyes_closed_too_long_is_not_a_blink() -> None:
    seq = frames(still + [(CLOSED, 0.0)] * 15 + still)  # 1.5 s closed > 1 s
    r = evaluate_challenge((Step.BLINK,), seq, OPTS, final=True)
    assert r.status is ChallengeStatus.FAILED


def test_blink_threshold_adapts_to_the_person() -> None:
    # narrow eyes: open 0.18, closed 0.10 — an absolute 0.2 threshold would call every frame closed
    seq = frames([(0.18, 0.0)] * 5 + [(0.10, 0.0)] + [(0.18, 0.0)] * 3)
    assert open_eye_baseline(seq, OPTS) == pytest.approx(0.18)
    assert evaluate_challenge((Step.BLINK,), seq, OPTS).status is ChallengeStatus.PASSED
    # a dip to 0.30 is not a blink for eyes open at 0.40 (threshold 0.7 × 0.40 = 0.28)
    wide = frames([(0.40, 0.0)] * 5 + [(0.30, 0.0)] + [(0.40, 0.0)] * 3)
    assert evaluate_challenge((Step.BLINK,), wide, OPTS, final=True).status is ChallengeStatus.FAILED


def test_eye_dips_on_a_turned_head_do_not_count_as_blinks() -> None:
    seq = frames([*still, (OPEN, 40.0), (CLOSED, 40.0), (OPEN, 40.0), *still])
    r = evaluate_challenge((Step.BLINK,), seq, OPTS, final=True)
    assert r.status is ChallengeStatus.FAILED


def test_a_second_face_fails() -> None:
    seq = [*frames(still), FrameMeasurement(5, 500, 2), *frames(blink)[1:]]
    r = evaluate_challenge((Step.BLINK,), seq, OPTS)
    assert r.status is ChallengeStatus.FAILED and "2 faces" in (r.reason or "")


def test_face_lost_too_long_fails() -> None:
    seq = frames(still) + [FrameMeasurement(5 + i, 500 + i * 100, 0) for i in range(12)]
    r = evaluate_challenge((Step.BLINK,), seq, OPTS)
    assert r.status is ChallengeStatus.FAILED and "no usable face" in (r.reason or "")


def test_total_limit() -> None:
    opts = ChallengeOptions(step_time_limit_ms=3000, total_time_limit_ms=4000)
    seq = frames(still + [(OPEN, 0.0)] * 20 + blink + [(OPEN, 0.0)] * 20 + blink)
    r = evaluate_challenge((Step.BLINK, Step.BLINK), seq, opts)
    assert r.status is ChallengeStatus.FAILED and "4 s" in (r.reason or "")


@pytest.mark.parametrize(
    ("stamps", "previous", "message"),
    [
        ([0, 100, 100], None, "strictly increasing"),
        ([0, 100, 50], None, "strictly increasing"),
        ([500, 600], 600, "strictly increasing"),
        ([0, 5], None, "frames per second"),
        ([0, 2000], None, "at most"),
        ([], None, "no frames"),
        ([-5], None, "negative"),
    ],
)
def test_timestamps_are_refused(stamps: list[int], previous: int | None, message: str) -> None:
    with pytest.raises(FrameTimingError, match=message):
        validate_timestamps(stamps, OPTS, previous)


def test_plausible_timestamps_are_accepted() -> None:
    validate_timestamps([0, 33, 66, 100], OPTS)
    validate_timestamps([700, 733], OPTS, previous_ms=667)


def test_parse_steps() -> None:
    assert parse_steps("blink, left,RIGHT") == (Step.BLINK, Step.TURN_LEFT, Step.TURN_RIGHT)
    assert parse_steps(["turn_left"]) == (Step.TURN_LEFT,)
    with pytest.raises(InvalidStepsError):
        parse_steps("blink,jump")
    with pytest.raises(InvalidStepsError):
        parse_steps(" , ")
