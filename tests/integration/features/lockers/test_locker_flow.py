"""Bank lockers end to end with the real models on the shared webcam video.

The customer is registered from frames of ``video/webcam_blink_turns.webm``; access runs the real
server-paced liveness challenge, streamed in real time by the reactive source (tests/reactive.py:
it plays the clip's segment of each step only after the server revealed it; steps fixed to two
turns by the test-only setting, still revealed one at a time at random moments), the real
identification, and the key flow. A recording handed over in one piece is refused. The key clock
is the service's injectable ``clock``. Videos are read at the kiosk rate (15 fps).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from facegate.app.bootstrap import Container
from facegate.core.settings import Settings
from facegate.core.store.audit import AuditQuery
from facegate.features.lockers.capture import Recording, read_frames
from facegate.features.lockers.rules import LockerUnavailableError
from facegate.features.lockers.service import KeyRefusedError
from facegate.research.eval.clips import read_video
from facegate.research.eval.reactive import ReactiveSource, ReplaySource, Source
from tests.reactive import clip_of, feed, index_of, rng


@cache
def clip_images(path: Path) -> tuple[Any, ...]:
    return tuple(read_video(path)[0])

STEPS = "turn_left,turn_right"


class StepClock:
    """Real time plus an offset the tests move forward."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


@dataclass
class Kiosk:
    c: Container
    clock: StepClock
    video: Recording
    other: Recording
    path: Path


@pytest.fixture(scope="module")
def kiosk(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kiosk]:
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("lockers"),
        testing=True,
        liveness_fixed_steps=STEPS,
        liveness_reveal_delay_ms=(300, 900),
        locker_key_max_attempts=3,
    )
    c = Container(settings)
    clock = StepClock()
    c.lockers.clock = clock
    video = read_frames(str(data_dir / "video" / "webcam_blink_turns.webm"))
    other = read_frames(str(data_dir / "video" / "talking_blinks_1.mp4"), max_frames=60)
    for n in (12, 13):
        c.lockers.add_locker(n, location="Vault A", actor="test")
    c.lockers.register("C1", "Alice Customer", 12, video.frames, contact="alice@example.org",
                       actor="test")
    c.liveness.measurer.measure(video.frames[0], 0, 0)  # load the models before timing matters
    yield Kiosk(c, clock, video, other, data_dir / "video" / "webcam_blink_turns.webm")
    c.shutdown()


ACCESS_FRAMES = 80  # the first 5.3 s hold the blink and both turns (the rest: more turns)


def _live_access(k: Kiosk, source: Source | None = None, path: Path | None = None) -> Any:
    """The kiosk page's flow: start a challenge, stream the source until decided, then access
    with a few frames of the same clip for identification."""
    ch = k.c.lockers.start_challenge()
    assert ch.steps == ()  # nothing is revealed before frames stream
    path = path or k.path
    images = clip_images(path)

    def post(items: list[Any], stamps: list[int]) -> dict[str, Any]:
        st = k.c.lockers.add_challenge_frames(ch.id, items, stamps)
        return {"steps": list(st.steps), "status": st.status}

    src = source or ReactiveSource(index_of(path), rng(5))
    feed(images, src, post, lambda a: a["steps"], lambda a: a["status"] != "pending")
    ident = list(images[: 30 : 2])
    return _access(k, ident, [round(i * 1000 / 15) for i in range(len(ident))], challenge_id=ch.id)


def _access(k: Kiosk, frames: Any = None, stamps: Any = None, **kw: Any) -> Any:
    return k.c.lockers.access(
        k.video.frames[:ACCESS_FRAMES] if frames is None else frames,
        timestamps_ms=k.video.timestamps_ms[:ACCESS_FRAMES] if stamps is None else stamps,
        actor="test-kiosk",
        **kw,
    )


def _wrong(key: str) -> str:
    return f"{(int(key) + 1) % 10**len(key):0{len(key)}d}"


def test_registration_stored_face_samples_and_assignment(kiosk: Kiosk) -> None:
    info = kiosk.c.lockers.get_customer("C1")
    assert info.has_face and info.lockers == (12,)
    person = kiosk.c.enrollment.show_person("customer:C1")
    assert person.sample_count >= 3  # several quality-gated frames averaged into the template
    assert kiosk.c.lockers.get_locker(12).holder == "C1"


def test_live_customer_gets_a_key_that_opens_once(kiosk: Kiosk) -> None:
    r = _live_access(kiosk)
    assert r.granted, r.reason
    assert (r.customer_id, r.locker) == ("C1", 12)
    assert r.match_score is not None and r.match_score >= kiosk.c.match_threshold
    assert r.key is not None and len(r.key.key) == 6
    n = kiosk.c.settings.locker_key_max_attempts
    for _ in range(n - 1):  # fewer than N wrong entries do not burn the key
        with pytest.raises(KeyRefusedError, match="attempt"):
            kiosk.c.lockers.open(12, _wrong(r.key.key), actor="test-keypad")
    opened = kiosk.c.lockers.open(12, r.key.key, actor="test-keypad")
    assert opened.customer_id == "C1"
    with pytest.raises(KeyRefusedError, match="already been used"):
        kiosk.c.lockers.open(12, r.key.key, actor="test-keypad")
    audit = kiosk.c.audit
    granted = audit.query(AuditQuery(action="locker.access", decision="granted"))[0]
    assert granted.details["match_score"] == pytest.approx(r.match_score)
    assert granted.details["liveness_status"] == "passed"
    assert granted.details["liveness_steps"] == STEPS.split(",")
    assert audit.count(AuditQuery(action="locker.key_issue")) >= 1
    assert audit.count(AuditQuery(action="locker.key_use")) == 1
    assert [e.decision for e in audit.query(AuditQuery(action="locker.open"))][:2] == [
        "refused", "opened",
    ]
    assert audit.count(AuditQuery(action="locker.wrong_key")) == n - 1


def test_key_is_refused_after_the_validity_window(kiosk: Kiosk) -> None:
    r = _live_access(kiosk)
    assert r.granted and r.key is not None, r.reason
    kiosk.clock.offset += timedelta(seconds=kiosk.c.settings.locker_key_ttl_s + 1)
    with pytest.raises(KeyRefusedError, match="expired"):
        kiosk.c.lockers.open(12, r.key.key)


def test_wrong_key_n_times_burns_it(kiosk: Kiosk) -> None:
    r = _live_access(kiosk)
    assert r.granted and r.key is not None, r.reason
    n = kiosk.c.settings.locker_key_max_attempts
    for _ in range(n - 1):
        with pytest.raises(KeyRefusedError, match="attempt"):
            kiosk.c.lockers.open(12, _wrong(r.key.key))
    with pytest.raises(KeyRefusedError, match="burnt"):
        kiosk.c.lockers.open(12, _wrong(r.key.key))
    with pytest.raises(KeyRefusedError, match="burnt"):
        kiosk.c.lockers.open(12, r.key.key)
    assert kiosk.c.audit.count(AuditQuery(action="locker.wrong_key", decision="burnt")) == 1


def test_a_recording_handed_over_in_one_piece_is_denied(kiosk: Kiosk) -> None:
    """The customer's own live video, but as a file: it could not react to the paced steps."""
    r = _access(kiosk)
    assert not r.granted and r.key is None and r.reason.startswith("liveness check failed")


def test_a_replayed_video_streamed_to_the_kiosk_is_denied(kiosk: Kiosk) -> None:
    r = _live_access(kiosk, ReplaySource(clip_of(kiosk.path), 0.0))
    assert not r.granted and r.reason.startswith("liveness check failed"), r.reason


def test_still_photo_of_the_customer_is_denied_by_liveness(kiosk: Kiosk) -> None:
    photo = kiosk.video.frames[0]
    frames = [photo] * 30  # a photo held still in front of the camera for 2 s at 15 fps
    stamps = [round(i * 1000 / 15) for i in range(len(frames))]
    r = _access(kiosk, frames, stamps)
    assert not r.granted and r.key is None
    assert r.reason.startswith("liveness check failed")
    entry = kiosk.c.audit.query(AuditQuery(action="locker.access", decision="denied"))[0]
    assert entry.details["reason"] == r.reason


def test_another_person_passing_liveness_is_denied_and_audited(kiosk: Kiosk) -> None:
    # another live person (expressions_d12 turns both ways) passes the challenge
    other = kiosk.path.parent / "expressions_d12.mp4"
    r = _live_access(kiosk, ReactiveSource(index_of(other), rng(2)), other)
    assert not r.granted and r.key is None
    assert r.reason == "face not recognised"
    entry = kiosk.c.audit.query(AuditQuery(action="locker.access", decision="denied"))[0]
    assert entry.details["reason"] == "face not recognised"
    assert entry.details["liveness_status"] == "passed"
    assert entry.details["match_score"] < kiosk.c.match_threshold


def test_taken_locker_is_refused_then_release_and_reassign_work(kiosk: Kiosk) -> None:
    bob = kiosk.other.frames
    with pytest.raises(LockerUnavailableError, match="locker 12 is already assigned"):
        kiosk.c.lockers.register("C2", "Bob", 12, bob, actor="test")
    assert kiosk.c.enrollment.list_people() and all(
        p.external_id != "customer:C2" for p in kiosk.c.enrollment.list_people()
    )
    kiosk.c.lockers.register("C2", "Bob", 13, bob, actor="test")
    kiosk.c.lockers.release(13, actor="test")
    assert kiosk.c.lockers.get_locker(13).status == "free"
    kiosk.c.lockers.assign(13, "C2", actor="test")
    assert kiosk.c.lockers.get_locker(13).holder == "C2"
    history = kiosk.c.lockers.history(locker=13)
    assert [e.kind for e in history][:3] == ["assign", "release", "register"]
