"""Bank lockers end to end with the real models on the shared webcam video.

The customer is registered from frames of ``video/webcam_blink_turns.webm``; access runs the real
liveness challenge (order fixed by the test-only setting ``liveness_fixed_steps``: the order the
person in the video happens to perform), the real identification, and the key flow. The key clock
is the service's injectable ``clock``. Videos are read at the kiosk rate (15 fps).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from facegate.app.bootstrap import Container
from facegate.core.liveness.challenge import Step
from facegate.core.settings import Settings
from facegate.core.store.audit import AuditQuery
from facegate.features.lockers.capture import Recording, read_frames
from facegate.features.lockers.rules import LockerUnavailableError
from facegate.features.lockers.service import KeyRefusedError

STEPS = "blink,turn_left,turn_right"  # what webcam_blink_turns.webm shows, in this order


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


@pytest.fixture(scope="module")
def kiosk(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kiosk]:
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("lockers"),
        testing=True,
        liveness_fixed_steps=STEPS,
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
    yield Kiosk(c, clock, video, other)
    c.shutdown()


ACCESS_FRAMES = 80  # the first 5.3 s hold the blink and both turns (the rest: more turns)


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
    r = _access(kiosk)
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
    r = _access(kiosk)
    assert r.granted and r.key is not None, r.reason
    kiosk.clock.offset += timedelta(seconds=kiosk.c.settings.locker_key_ttl_s + 1)
    with pytest.raises(KeyRefusedError, match="expired"):
        kiosk.c.lockers.open(12, r.key.key)


def test_wrong_key_n_times_burns_it(kiosk: Kiosk) -> None:
    r = _access(kiosk)
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
    # the other clip shows natural blinks but no head turns: ask for a blink only
    session = kiosk.c.liveness.create_session(actor="test", steps=(Step.BLINK,))
    r = _access(kiosk, kiosk.other.frames, kiosk.other.timestamps_ms, challenge_id=session.id)
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
