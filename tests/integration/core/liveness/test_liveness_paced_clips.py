"""The server-paced decision on the shared clips: a handful of each kind of source (fast).

The 200-challenge figures are in benchmarks/liveness_paced.py (docs/benchmarks.md). Per-frame
measurements of the clips come from the cache (tests/reactive.py builds it once with the real
models); the challenge runs in virtual time through the server's pure functions.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from facegate.core.liveness.actions import Action
from facegate.core.liveness.paced import PacedOptions
from facegate.research.eval.reactive import (
    ReactiveSource,
    ReplaySource,
    StillSource,
    draw_steps,
    simulate,
)
from tests.reactive import clip_of, index_of

CLIPS = ("webcam_blink_turns.webm", "expressions_d12.mp4")
OPTIONS = PacedOptions()


@pytest.fixture(scope="module", params=CLIPS)
def clip_path(request: pytest.FixtureRequest, data_dir: Path) -> Path:
    path = data_dir / "video" / str(request.param)
    if not path.is_file():
        pytest.skip(f"{path} not found")
    return path


def test_reactive_source_passes_random_challenges(clip_path: Path) -> None:
    ix = index_of(clip_path)
    assert len([a for a in ix.actions if a is not Action.BLINK]) >= 2
    rng = random.Random(11)
    results = [
        simulate(ix.clip, ReactiveSource(ix, rng), draw_steps(rng, ix.actions, 5), OPTIONS, rng)
        for _ in range(6)
    ]
    assert all(r.status == "passed" for r in results), [r.reason for r in results]
    assert all(150 <= (x or 0) <= 1500 for r in results for x in r.reactions_ms)


def test_the_same_clip_without_reacting_fails(clip_path: Path) -> None:
    clip = clip_of(clip_path)
    ix = index_of(clip_path)
    rng = random.Random(12)
    length = float(clip.timestamps_ms[-1] - clip.timestamps_ms[0])
    for start in (0.0, *(rng.uniform(0, length) for _ in range(5))):
        r = simulate(clip, ReplaySource(clip, start), draw_steps(rng, ix.actions, 5), OPTIONS, rng)
        assert r.status == "failed", (start, r.steps)


def test_a_looped_still_photo_fails(clip_path: Path) -> None:
    ix = index_of(clip_path)
    rng = random.Random(13)
    for frame in (ix.idle[0], ix.idle[1]):
        r = simulate(ix.clip, StillSource(frame), draw_steps(rng, ix.actions, 5), OPTIONS, rng)
        assert r.status == "failed" and "not begun" in (r.reason or ""), r.reason


def test_a_recording_is_refused_when_it_starts_before_the_reveal() -> None:
    """Anticipation: an action under way when its step is shown does not count."""
    from facegate.core.liveness.actions import Baseline
    from facegate.core.liveness.landmarks import FrameMeasurement
    from facegate.core.liveness.paced import Pacing, evaluate_paced

    def f(i: int, yaw: float) -> FrameMeasurement:
        return FrameMeasurement(i, i * 100, 1, None, True, 0.3, 0.3, yaw)

    frames = [f(i, 0.0) for i in range(12)] + [f(12 + i, y) for i, y in enumerate((12, 20, 30, 30, 5))]
    # calibrated at 800 ms on a frontal face; the turn is shown at 1250 ms, and the head starts
    # turning at 1200 ms (a recording that happened to turn then)
    pacing = Pacing((0,), reveals=(1250,), offset=0, calibrated=800, baseline=Baseline(0, 0, 0.3, 0))
    d = evaluate_paced((Action.TURN_LEFT,), frames, pacing, OPTIONS, 1700)
    assert d.status == "failed" and "sooner than a person can react" in (d.reason or ""), d.reason
