"""LivenessService on a real SQLite database with fake measurer/pipeline (no models)."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from facegate.core.domain import (
    AnalyzedFace,
    AuditEvent,
    Box,
    DetectedFace,
    Embedding,
    FaceQuality,
    ImageArray,
    Landmarks,
)
from facegate.core.errors import ConflictError, PermissionDeniedError
from facegate.core.liveness.challenge import ChallengeOptions, FrameTimingError, InvalidStepsError, Step
from facegate.core.liveness.landmarks import FrameMeasurement
from facegate.core.liveness.service import (
    LivenessConfig,
    LivenessService,
    LivenessSession,
    SessionExpiredError,
    TimedFrame,
    build_liveness_config,
)
from facegate.core.settings import Settings
from facegate.core.store.crypto import KeyRing, TemplateCipher
from facegate.core.store.db import Database
from facegate.core.store.liveness_models import SqlLivenessStore

FACE = DetectedFace(Box(10, 10, 100, 100), 0.9, Landmarks(((0.0, 0.0),) * 5))
QUALITY = FaceQuality(100.0, 50.0, 120.0, 0.0, 0.0)
PEOPLE = {1: np.eye(8, dtype=np.float32)[0], 2: np.eye(8, dtype=np.float32)[1]}


def frame(ear: float, yaw: float = 0.0, person: int = 1, faces: int = 1) -> ImageArray:
    """A tiny image that carries the scripted measurement in its pixels."""
    img = np.zeros((2, 4, 3), dtype=np.uint8)
    img[0, 0, 0] = round(ear * 100)
    img[0, 1, 0] = round(yaw + 100)
    img[0, 2, 0] = person
    img[0, 3, 0] = faces
    return img


class FakeMeasurer:
    def __init__(self) -> None:
        self.hook: Callable[[], object] | None = None

    def measure(
        self, image: ImageArray, index: int, timestamp_ms: int
    ) -> tuple[FrameMeasurement, DetectedFace | None]:
        if self.hook:
            hook, self.hook = self.hook, None
            hook()
        ear, yaw, faces = image[0, 0, 0] / 100.0, float(image[0, 1, 0]) - 100.0, int(image[0, 3, 0])
        m = FrameMeasurement(index, timestamp_ms, faces, FACE.box, faces == 1, ear, ear, yaw)
        return m, FACE if faces == 1 else None


class FakePipeline:
    model_name = "fake"

    def analyze_face(self, image: ImageArray, face: DetectedFace, embed: bool = True) -> AnalyzedFace:
        vec = PEOPLE[int(image[0, 2, 0])]
        return AnalyzedFace(face, QUALITY, Embedding(vec, "fake"))


class ListAudit:
    def __init__(self) -> None:
        self.events: list[AuditEvent] = []

    def record(self, event: AuditEvent) -> None:
        self.events.append(event)


T0 = datetime(2026, 1, 1, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def db(tmp_path: Path) -> Database:
    database = Database(f"sqlite:///{tmp_path / 'fg.db'}")
    database.upgrade()
    return database


@pytest.fixture
def cipher() -> TemplateCipher:
    return TemplateCipher(KeyRing("k1", {"k1": secrets.token_bytes(32)}, "env"))


def make_service(
    db: Database,
    cipher: TemplateCipher | None,
    fixed: tuple[Step, ...] | None = (Step.BLINK,),
    clock: Clock | None = None,
    audit: ListAudit | None = None,
) -> tuple[LivenessService, FakeMeasurer]:
    config = LivenessConfig(
        challenge=ChallengeOptions(step_time_limit_ms=3000, total_time_limit_ms=8000),
        match_threshold=0.5,
        fixed_steps=fixed,
        session_ttl_s=60,
        pass_ttl_s=30,
        embed_interval_ms=300,
    )
    measurer = FakeMeasurer()
    service = LivenessService(
        SqlLivenessStore(db),
        measurer,  # type: ignore[arg-type]
        FakePipeline(),  # type: ignore[arg-type]
        config,
        audit=audit,
        cipher=lambda: cipher,
        clock=clock or Clock(),
    )
    return service, measurer


def timed(images: list[ImageArray], start: int = 0, dt: int = 100) -> list[TimedFrame]:
    return [TimedFrame(img, start + i * dt) for i, img in enumerate(images)]


OPEN = [frame(0.30)] * 4
BLINK = [frame(0.30), frame(0.08), frame(0.08), frame(0.30), frame(0.30)]


def live(service: LivenessService, clock: Clock, sid: str, images: list[ImageArray], start: int,
         dt: int = 100, lag: int = 40) -> LivenessSession:
    """Send frames captured from ``start`` ms on, received ``lag`` ms after the newest one."""
    frames = timed(images, start, dt)
    clock.now = T0 + timedelta(milliseconds=frames[-1].timestamp_ms + lag)
    return service.add_frames(sid, frames)


def pass_session(
    service: LivenessService, clock: Clock, sid: str, person: int = 1, t: int = 0
) -> LivenessSession:
    """Stream a calm face (from ``t`` ms) until the (blink) step is shown, then blink 300 ms later."""
    s = service.get_session(sid)
    while s.current_step is None and s.status == "pending":
        s = live(service, clock, sid, [frame(0.30, person=person)] * 3, t)
        t += 300
        assert t < 10000, "no step was ever revealed"
    assert s.current_step is Step.BLINK
    s = live(service, clock, sid, [frame(0.30, person=person)] * 3, t)
    blink = [frame(0.30), frame(0.08), frame(0.08), frame(0.30), frame(0.30)]
    return live(service, clock, sid, [f if person == 1 else _as(f, person) for f in blink], t + 300)


def _as(img: ImageArray, person: int) -> ImageArray:
    out = img.copy()
    out[0, 2, 0] = person
    return out


def test_paced_steps_are_hidden_until_revealed_and_sessions_persist(db: Database) -> None:
    clock = Clock()
    service, _ = make_service(db, None, fixed=None, clock=clock)
    seen = set()
    for _ in range(30):
        s = service.create_session()
        assert s.mode == "paced" and s.steps == () and s.steps_total == 5 and s.current_step is None
        seen.add(tuple(service.store.load(s.id).steps))
    assert len(seen) > 1
    other_process, _ = make_service(db, None, clock=clock)
    again = other_process.get_session(s.id)
    assert again.nonce == s.nonce and again.steps == () and again.status == "pending"
    # calibration frames reveal nothing; the first step appears only after a random delay
    s = live(service, clock, s.id, OPEN, 0)
    assert s.steps == () and s.current_step is None


def test_pass_is_bound_single_use_and_audited(db: Database, cipher: TemplateCipher) -> None:
    audit = ListAudit()
    clock = Clock()
    service, _ = make_service(db, cipher, audit=audit, clock=clock)
    s = service.create_session(person_id=None, actor="t")
    s = pass_session(service, clock, s.id)
    assert s.status == "passed", s.reason
    ev = s.evidence[0]
    assert ev.done and ev.value is not None and ev.value > 0.3
    assert ev.reaction_ms is not None and 150 <= ev.reaction_ms <= 1500
    assert s.min_similarity == pytest.approx(1.0)
    proof = service.consume_passed(s.id, actor="login")
    assert proof.embedding.model == "fake"
    assert float(proof.embedding.vector @ PEOPLE[1]) == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(ConflictError, match="already used"):
        service.consume_passed(s.id)
    assert [(e.action, e.decision) for e in audit.events] == [
        ("liveness", "passed"),
        ("liveness.consume", "ok"),
    ]


def test_offline_check_of_a_recording_is_never_accepted(db: Database) -> None:
    clock = Clock()
    service, _ = make_service(db, None, clock=clock)
    s = service.check_recording(timed(OPEN + BLINK + OPEN))
    assert s.mode == "offline" and s.status == "passed", s.reason
    with pytest.raises(PermissionDeniedError, match="offline"):
        service.consume_passed(s.id)


def test_a_blink_before_the_step_could_be_seen_does_not_count(db: Database) -> None:
    """A recording blinking on its own schedule: the blink lands before the reveal is known."""
    clock = Clock()
    service, _ = make_service(db, None, clock=clock)
    s = service.create_session()
    t = 0
    while s.current_step is None:
        s = live(service, clock, s.id, OPEN[:3], t)
        t += 300
    # frames captured 0-100 ms after the reveal already show the blink: too soon to be a reaction
    s = live(service, clock, s.id, BLINK, t - 40, dt=30)
    s = live(service, clock, s.id, [frame(0.30)] * 20, t + 150)
    assert s.status == "failed" and "not begun" in (s.reason or ""), s.reason


def test_client_clock_must_agree_with_the_server(db: Database) -> None:
    """A batch whose frames claim to be much older than their arrival (uploaded, not streamed)."""
    clock = Clock()
    service, _ = make_service(db, None, clock=clock)
    s = service.create_session()
    live(service, clock, s.id, OPEN, 0)
    s = live(service, clock, s.id, OPEN, 400, lag=5000)
    assert s.status == "failed" and "clock" in (s.reason or ""), s.reason
    t = service.create_session()
    live(service, clock, t.id, OPEN, 0)
    s = live(service, clock, t.id, OPEN, 400, lag=-600)  # frames "from the future"
    assert s.status == "failed" and "after the server received" in (s.reason or ""), s.reason


def test_same_face_compares_near_frontal_frames_only(db: Database) -> None:
    """A strong turn (where an embedding of the same person drifts) is not compared."""
    clock = Clock()
    service, _ = make_service(db, None, clock=clock)
    s = service.create_session()
    t = 0
    turned = [frame(0.30, yaw=70.0, person=2)] * 3  # person 2's vector stands in for the drift
    s = live(service, clock, s.id, OPEN[:3] + turned, t)
    s = pass_session(service, clock, s.id, t=600)
    assert s.status == "passed", s.reason
    assert s.min_similarity == pytest.approx(1.0)


def test_pending_or_failed_sessions_cannot_be_consumed(db: Database) -> None:
    service, _ = make_service(db, None)
    s = service.create_session()
    with pytest.raises(ConflictError, match="not passed"):
        service.consume_passed(s.id)


def test_bad_timestamps_are_refused_and_nothing_is_written(db: Database) -> None:
    service, _ = make_service(db, None)
    s = service.create_session(mode="offline")
    service.add_frames(s.id, timed(OPEN))  # 0..300 ms
    for stamps in ([300, 400], [250, 260], [400, 400]):
        with pytest.raises(FrameTimingError):
            service.add_frames(s.id, [TimedFrame(frame(0.3), t) for t in stamps])
    after = service.get_session(s.id)
    assert after.frame_count == 4 and after.status == "pending"


def test_another_persons_frames_mid_session_fail(db: Database, cipher: TemplateCipher) -> None:
    service, _ = make_service(db, cipher)
    s = service.create_session(mode="offline")
    service.add_frames(s.id, timed(OPEN + OPEN))
    swapped = [frame(0.30, person=2)] * 2 + [frame(0.3, person=2), frame(0.08, person=2)]
    s = service.add_frames(s.id, timed([*swapped, frame(0.3, person=2)], start=800))
    assert s.status == "failed" and "face changed" in (s.reason or "")


def test_second_face_fails(db: Database) -> None:
    service, _ = make_service(db, None)
    s = service.create_session(mode="offline")
    s = service.add_frames(s.id, timed([*OPEN, frame(0.3, faces=2)]))
    assert s.status == "failed" and "2 faces" in (s.reason or "")


def test_decided_session_takes_no_more_frames(db: Database) -> None:
    service, _ = make_service(db, None)
    s = service.create_session(mode="offline")
    s = service.add_frames(s.id, timed(OPEN), final=True)
    assert s.status == "failed"
    with pytest.raises(ConflictError, match="already failed"):
        service.add_frames(s.id, timed(OPEN, start=1000))


def test_expiry(db: Database) -> None:
    clock = Clock()
    audit = ListAudit()
    service, _ = make_service(db, None, clock=clock, audit=audit)
    s = service.create_session()
    clock.now += timedelta(seconds=61)
    assert service.get_session(s.id).status == "expired"
    with pytest.raises(SessionExpiredError):
        service.add_frames(s.id, timed(OPEN))
    assert service.get_session(s.id).status == "expired"
    assert [(e.action, e.decision) for e in audit.events] == [("liveness", "expired")]


def test_pass_expires(db: Database) -> None:
    clock = Clock()
    service, _ = make_service(db, None, clock=clock)
    a = service.create_session(person_id=None)
    assert pass_session(service, clock, a.id).status == "passed"
    clock.now += timedelta(seconds=31)
    with pytest.raises(SessionExpiredError):
        service.consume_passed(a.id)
    with pytest.raises(ConflictError):  # a refused attempt used it up
        service.consume_passed(a.id)


def test_pass_is_bound_to_its_person(db: Database, cipher: TemplateCipher) -> None:
    from facegate.core.store.models import Person

    with db.session() as s:
        s.add_all([Person(external_id=n, display_name=n) for n in ("alice", "bob")])
        s.flush()
        alice, bob = (p.id for p in s.query(Person).order_by(Person.external_id))
    clock = Clock()
    service, _ = make_service(db, cipher, clock=clock)
    sess = service.create_session(person_id=alice)
    pass_session(service, clock, sess.id)
    with pytest.raises(PermissionDeniedError):
        service.consume_passed(sess.id, person_id=bob)
    other = service.create_session(person_id=alice)
    pass_session(service, clock, other.id)
    proof = service.consume_passed(other.id, person_id=alice)
    assert proof.person_id == alice


def test_concurrent_batches_cannot_both_win(db: Database) -> None:
    service, measurer = make_service(db, None)
    other, _ = make_service(db, None)
    s = service.create_session(mode="offline")
    measurer.hook = lambda: other.add_frames(s.id, timed(OPEN))
    with pytest.raises(ConflictError):
        service.add_frames(s.id, timed(OPEN))
    assert service.get_session(s.id).frame_count == 4


def test_fixed_steps_need_testing_mode() -> None:
    with pytest.raises(InvalidStepsError, match="test-only"):
        build_liveness_config(Settings(liveness_fixed_steps="blink"), 0.3)
    config = build_liveness_config(Settings(liveness_fixed_steps="blink,left", testing=True), 0.3)
    assert config.fixed_steps == (Step.BLINK, Step.TURN_LEFT)
    assert build_liveness_config(Settings(), 0.3).fixed_steps is None


def test_frames_need_the_sessions_nonce_when_given(db: Database) -> None:
    service, _ = make_service(db, None)
    s = service.create_session(mode="offline")
    with pytest.raises(PermissionDeniedError, match="nonce"):
        service.add_frames(s.id, timed(OPEN), nonce="guess")
    assert service.add_frames(s.id, timed(OPEN), nonce=s.nonce).frame_count == 4
