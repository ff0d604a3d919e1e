"""Access decisions: N consecutive frames, allow-list, reasons, and the logging policy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facegate.core.domain import (
    AnalyzedFace,
    AuditEvent,
    Box,
    Candidate,
    DetectedFace,
    FaceQuality,
    Identification,
    ImageArray,
    Landmarks,
)
from facegate.features.access.decisions import (
    AccessDecision,
    AccessOptions,
    AccessService,
    AccessTracker,
    FaceVerdict,
    LogPolicy,
    judge_faces,
)

FACE = AnalyzedFace(
    face=DetectedFace(Box(10, 10, 80, 80), 0.9, Landmarks(((30.0, 40.0),) * 5)),
    quality=FaceQuality(80, 100, 120, 0, 0),
)


def ident(person: str | None, sim: float = 0.8, threshold: float = 0.4) -> Identification:
    name = person or "someone"
    cand = Candidate(1 if person else 2, name, name.title(), sim)
    return Identification(FACE, cand if sim >= threshold else None, (cand,), threshold)


def verdicts(*people: str | None, allowed: frozenset[str] | None = None) -> tuple[FaceVerdict, ...]:
    return judge_faces([ident(p) if p else ident(None, 0.2) for p in people], allowed)


class FakeAudit:
    def __init__(self) -> None:
        self.events: list[AuditEvent] = []

    def record(self, event: AuditEvent) -> None:
        self.events.append(event)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_granted_only_after_n_consecutive_frames() -> None:
    t = AccessTracker(3)
    seq = [t.update(verdicts("obama")) for _ in range(4)]
    assert [d.status for d in seq] == ["denied", "denied", "granted", "granted"]
    assert [d.reason for d in seq[:2]] == ["confirming", "confirming"]
    assert seq[2].person == "obama" and seq[2].name == "Obama" and seq[2].streak == 3
    assert seq[2].similarity == pytest.approx(0.8)


def test_a_gap_resets_the_streak() -> None:
    t = AccessTracker(3)
    t.update(verdicts("obama"))
    t.update(verdicts("obama"))
    assert t.update(()).reason == "no_face"
    assert t.update(verdicts("obama")).streak == 1
    assert t.update(verdicts("obama")).status == "denied"
    assert t.update(verdicts("obama")).status == "granted"


def test_required_one_grants_at_once_and_zero_is_refused() -> None:
    assert AccessTracker(1).update(verdicts("obama")).status == "granted"
    with pytest.raises(ValueError):
        AccessTracker(0)


def test_stranger_is_denied_as_unknown_after_n_frames() -> None:
    t = AccessTracker(2)
    first, second = t.update(verdicts(None)), t.update(verdicts(None))
    assert (first.status, first.reason) == ("denied", "confirming")
    assert (second.status, second.reason, second.person) == ("denied", "unknown", None)
    assert second.similarity == pytest.approx(0.2)


def test_known_person_outside_the_allow_list_is_denied() -> None:
    t = AccessTracker(2)
    allowed = frozenset({"biden"})
    t.update(verdicts("obama", allowed=allowed))
    d = t.update(verdicts("obama", allowed=allowed))
    assert (d.status, d.reason, d.person) == ("denied", "not_allowed", "obama")


def test_allowed_person_next_to_a_stranger_is_granted() -> None:
    t = AccessTracker(2)
    t.update(verdicts("obama", None))
    d = t.update(verdicts(None, "obama"))
    assert (d.status, d.person) == ("granted", "obama")


def test_judge_faces_keeps_below_threshold_similarity_and_allow_list() -> None:
    v = judge_faces([ident("obama"), ident(None, 0.3)], frozenset({"biden"}))
    assert (v[0].person, v[0].allowed, v[0].known) == ("obama", False, True)
    assert (v[1].person, v[1].name, v[1].similarity, v[1].known) == (None, "unknown", 0.3, False)


def test_log_policy_logs_changes_and_repeats_after_the_interval() -> None:
    t, policy = AccessTracker(1), LogPolicy(interval_s=10.0)

    def log(d: AccessDecision, now: float) -> bool:
        if policy.should_log(d, now):
            policy.logged(d, now)
            return True
        return False

    granted = t.update(verdicts("obama"))
    assert log(granted, 0.0)
    assert not log(granted, 5.0)
    assert log(granted, 10.5)
    denied = t.update(verdicts(None))
    assert log(denied, 11.0)
    assert log(granted, 11.5)  # a change is logged at once
    assert not log(t.update(()), 12.0)  # no_face is never logged


def test_confirming_is_never_logged() -> None:
    t, policy = AccessTracker(3), LogPolicy(0.0)
    assert not policy.should_log(t.update(verdicts("obama")), 0.0)


def scripted(*frames: list[Identification]):  # type: ignore[no-untyped-def]
    it = iter(frames)

    def identify(image: ImageArray, groups: frozenset[str] | None = None) -> list[Identification]:
        return next(it)

    return identify


def test_session_logs_one_line_per_settled_decision(tmp_path: Path) -> None:
    audit, clock = FakeAudit(), Clock()
    log_file = tmp_path / "access_log.txt"
    frames = [[ident("obama")]] * 5 + [[ident(None, 0.1)]] * 3
    service = AccessService(
        scripted(*frames), audit, AccessOptions(required_frames=3, access_log_file=log_file), clock
    )
    session = service.open_session("device:door")
    image = np.zeros((8, 8, 3), np.uint8)
    outcomes = [session.process_image(image, camera="cam1", frame=i) for i in range(8)]
    assert [o.decision.status for o in outcomes] == ["denied"] * 2 + ["granted"] * 3 + ["denied"] * 3
    assert [o.logged for o in outcomes] == [False, False, True, False, False, False, False, True]
    granted, denied = audit.events
    assert (granted.action, granted.decision, granted.actor, granted.subject) == (
        "access", "granted", "device:door", "obama",
    )
    assert granted.score == pytest.approx(0.8)
    assert granted.details["camera"] == "cam1" and granted.details["frame"] == 2
    assert (denied.decision, denied.subject, denied.details["reason"]) == ("denied", None, "unknown")
    lines = log_file.read_text().splitlines()
    assert len(lines) == 2
    assert lines[0].endswith(",Obama,GRANTED") and lines[1].endswith(",unknown,DENIED")
    assert all(o.processing_ms >= 0 for o in outcomes)


def test_process_jpeg_refuses_bad_bytes() -> None:
    from facegate.core.errors import InvalidImageError

    session = AccessService(scripted(), FakeAudit()).open_session("x")
    with pytest.raises(InvalidImageError):
        session.process_jpeg(b"\xff\xd8\xff" + b"garbage")


def test_camera_jpegs_decode_like_opencv_and_check_limits() -> None:
    import cv2

    from facegate.core.errors import ImageTooLargeError, InvalidImageError
    from facegate.core.vision.images import ImageLimits, decode_image

    rng = np.random.default_rng(0)
    img = cv2.GaussianBlur(rng.integers(0, 255, (120, 160, 3), dtype=np.uint8), (5, 5), 0)
    data = bytes(cv2.imencode(".jpg", img)[1])
    assert np.array_equal(decode_image(data), cv2.imdecode(np.frombuffer(data, np.uint8), 1))
    with pytest.raises(ImageTooLargeError):
        decode_image(data, ImageLimits(max_pixels=160 * 120 - 1))
    for bad in (data[: len(data) // 2], data[:40], b"\xff\xd8\xff"):
        with pytest.raises(InvalidImageError):
            decode_image(bad, ImageLimits())


def test_a_failed_audit_write_refuses_the_frame_and_is_retried() -> None:
    class FlakyAudit(FakeAudit):
        fail = True

        def record(self, event: AuditEvent) -> None:
            if self.fail:
                self.fail = False
                raise RuntimeError("database is locked")
            super().record(event)

    audit = FlakyAudit()
    service = AccessService(scripted(*[[ident("obama")]] * 3), audit, AccessOptions(required_frames=1))
    session = service.open_session("d")
    image = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(RuntimeError):
        session.process_image(image)
    assert session.process_image(image).logged
    assert [e.decision for e in audit.events] == ["granted"]


def test_delay_hook_is_refused_outside_test_mode(tmp_path: Path) -> None:
    from pydantic import ValidationError

    from facegate.app.bootstrap import Container
    from facegate.core.settings import Settings

    with pytest.raises(ValidationError, match="FACEGATE_STREAM_TEST_MODE"):
        Settings(data_dir=tmp_path, stream_test_delay_ms=100)
    s = Settings(data_dir=tmp_path, stream_test_mode=True, stream_test_delay_ms=100)
    c = Container(s.model_copy(update={"stream_allowed_people": "obama, biden,"}))
    c.__dict__.update(identification=object(), audit=FakeAudit())  # never called here
    assert c.access.options.test_delay_s == pytest.approx(0.1)
    assert c.access.options.required_frames == 3
    assert c.access.options.allowed == frozenset({"obama", "biden"})
