"""LockerService on a real SQLite file with fake face models: registration, keys, admin, races.

Frames are tiny arrays whose fill value says who is in them (0: nobody); the fake enroller and
identifier read that value, so every database rule is exercised without loading a model.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

from facegate.core.domain import (
    AnalyzedFace,
    Box,
    Candidate,
    DetectedFace,
    Embedding,
    FaceQuality,
    Identification,
    ImageArray,
    Landmarks,
)
from facegate.core.errors import FaceQualityError, NotFoundError
from facegate.core.store import people as store
from facegate.core.store.audit import AuditLog, AuditQuery
from facegate.core.store.db import Base, Database
from facegate.core.store.models import Person
from facegate.features.lockers.actuator import LoggingActuator
from facegate.features.lockers.keys import KeyFormatError, KeyHasher, KeyPolicy
from facegate.features.lockers.models import Customer, LockerKey
from facegate.features.lockers.rules import LockerUnavailableError
from facegate.features.lockers.service import (
    ChallengeInfo,
    ChallengeState,
    KeyRefusedError,
    LivenessOutcome,
    LockerOptions,
    LockerService,
    among,
)
from tests.store_backends import database_url

ALICE, BOB, STRANGER = 1, 2, 9  # frame fill values
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def frames_of(code: int, n: int = 10) -> list[ImageArray]:
    return [np.full((4, 4, 3), code, dtype=np.uint8) for _ in range(n)]


def _face(code: int) -> AnalyzedFace:
    vec = np.zeros(8, dtype=np.float32)
    vec[code % 8] = 1.0
    return AnalyzedFace(
        DetectedFace(Box(0, 0, 100, 100), 0.9, Landmarks(((0.0, 0.0),) * 5)),
        FaceQuality(100.0, 50.0, 120.0, float(code), 0.0),
        Embedding(vec, "fake"),
    )


@dataclass(frozen=True)
class Outcome:
    label: str
    accepted: bool
    reason: str | None


class FakeEnroller:
    """Enrols whoever the frame shows; runs the session hook inside the write transaction."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.options: Any = None  # the EnrollOptions of the last enrolment

    def check_image(self, item: Any) -> tuple[AnalyzedFace | None, Outcome]:
        code = int(item.image.flat[0])
        if code == 0:
            return None, Outcome(item.label, False, "no face found")
        return _face(code), Outcome(item.label, True, None)

    def enroll_faces(
        self, external_id: str, checked: Sequence[tuple[AnalyzedFace | None, Any]],
        display_name: str | None = None, *, mode: Any = None, source: str = "upload",
        actor: str | None = None, session_hook: Any = None, options: Any = None,
    ) -> None:
        self.options = options
        accepted = [f for f, o in checked if f is not None and o.accepted]
        if not accepted:
            raise FaceQualityError("no usable face")
        with self.db.session(write=True) as s:
            person = store.find_person(s, external_id) or store.create_person(
                s, external_id, display_name
            )
            person.display_name = f"code{int(np.argmax(accepted[0].embedding.vector))}"  # type: ignore[union-attr]
            s.flush()
            if session_hook is not None:
                session_hook(s, person, [])

    def remove_person(self, external_id: str, actor: str | None = None) -> None:
        with self.db.session(write=True) as s:
            store.remove_person(s, external_id)


class FakeIdentify:
    """Known = a person whose display name is ``code<fill value>``."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def __call__(self, image: ImageArray) -> list[Identification]:
        code = int(image.flat[0])
        if code == 0:
            return []
        with self.db.session() as s:
            p = s.scalars(select(Person).where(Person.display_name == f"code{code}")).first()
            pid, ext = (p.id, p.external_id) if p else (None, None)
        face = _face(code)
        if pid is None:
            cand = Candidate(1, "someone-else", "someone-else", 0.1)
            return [Identification(face, None, (cand,), 0.36)]
        cand = Candidate(pid, str(ext), f"code{code}", 0.8)
        return [Identification(face, cand, (cand,), 0.36)]


class FakeLiveness:
    def __init__(self) -> None:
        self.passed = True

    def start_challenge(self) -> ChallengeInfo:
        return ChallengeInfo("c1", ("blink", "turn_left"))

    def add_frames(
        self, challenge_id: str, frames: Sequence[ImageArray], timestamps_ms: Sequence[float]
    ) -> ChallengeState:
        status = "passed" if self.passed else "failed"
        return ChallengeState(challenge_id, status, None, 2 if self.passed else 0, 2)

    def check_frames(
        self, frames: Sequence[ImageArray], timestamps_ms: Sequence[float] | None = None,
        challenge_id: str | None = None,
    ) -> LivenessOutcome:
        if self.passed:
            return LivenessOutcome(True, 0.93, "passed", {"steps": ["blink", "turn_left"]})
        return LivenessOutcome(False, 0.12, "no blink seen", {"steps": ["blink"]})


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Kit:
    db: Database
    svc: LockerService
    clock: Clock
    liveness: FakeLiveness
    actuator: LoggingActuator
    audit: AuditLog


BOTH = pytest.mark.parametrize("kit", ["sqlite", "postgres"], indirect=True)
"""Run on SQLite and on PostgreSQL (pgserver, the ``postgres`` extra; skipped with the reason
when it cannot start). The other tests use SQLite only."""


@pytest.fixture
def kit(request: pytest.FixtureRequest, tmp_path: Path) -> Kit:

    backend = getattr(request, "param", "sqlite")
    if backend == "sqlite":
        db = Database(f"sqlite:///{tmp_path / 'lockers.db'}")
        Base.metadata.create_all(db.engine)
    else:
        db = Database(database_url(backend, tmp_path))
        db.upgrade()  # the real migrations, 0005_lockers included
    clock = Clock()
    liveness = FakeLiveness()
    lines: list[str] = []
    actuator = LoggingActuator(lines.append)
    audit = AuditLog(db)
    enroller = FakeEnroller(db)
    svc = LockerService(
        db, audit, KeyHasher(b"k" * 32), actuator, lambda: enroller, FakeIdentify(db), liveness,
        LockerOptions(policy=KeyPolicy(ttl=timedelta(minutes=3), max_attempts=3)), clock=clock,
    )
    for n in (12, 13):
        svc.add_locker(n, location="Vault 1", size="M", actor="test")
    yield Kit(db, svc, clock, liveness, actuator, audit)
    db.dispose()


def _register_alice(k: Kit, locker: int = 12) -> None:
    k.svc.register("C1", "Alice", locker, frames_of(ALICE), contact="a@x", actor="kiosk")


def _wrong(key: str) -> str:
    return f"{(int(key) + 1) % 10**len(key):0{len(key)}d}"


def _actions(k: Kit, action: str) -> list[str]:
    return [e.decision for e in k.audit.query(AuditQuery(action=action, limit=1000))]


@BOTH
def test_register_access_open_once(kit: Kit) -> None:
    _register_alice(kit)
    info = kit.svc.get_locker(12)
    assert (info.status, info.holder, info.holder_name) == ("assigned", "C1", "Alice")
    result = kit.svc.access(frames_of(ALICE), actor="kiosk")
    assert result.granted and result.key is not None
    assert (result.customer_id, result.locker) == ("C1", 12)
    assert result.liveness_score == pytest.approx(0.93) and result.match_score == pytest.approx(0.8)
    assert result.key.expires_at == T0 + timedelta(minutes=3)
    opened = kit.svc.open(12, result.key.key, actor="keypad")
    assert opened.customer_id == "C1" and len(kit.actuator.opened) == 1
    with pytest.raises(KeyRefusedError, match="already been used") as exc:
        kit.svc.open(12, result.key.key, actor="keypad")
    assert exc.value.reason == "used"
    assert len(kit.actuator.opened) == 1
    assert _actions(kit, "locker.register") == ["ok"]
    assert _actions(kit, "locker.access") == ["granted"]
    assert _actions(kit, "locker.key_issue") == ["ok"]
    assert _actions(kit, "locker.key_use") == ["ok"]
    assert _actions(kit, "locker.open") == ["refused", "opened"]
    granted = kit.audit.query(AuditQuery(action="locker.access"))[0]
    assert granted.details["liveness_score"] == pytest.approx(0.93)
    assert granted.details["match_score"] == pytest.approx(0.8)


def test_only_the_hmac_of_the_key_is_stored(kit: Kit) -> None:
    _register_alice(kit)
    key = kit.svc.access(frames_of(ALICE)).key
    assert key is not None
    with kit.db.session() as s:
        row = s.scalars(select(LockerKey)).one()
        stored = [str(getattr(row, c.key)) for c in LockerKey.__table__.columns]
    assert row.digest != key.key and len(row.digest) == 64
    assert not any(key.key in v for v in stored)


@BOTH
def test_key_expires_after_the_window(kit: Kit) -> None:
    _register_alice(kit)
    key = kit.svc.access(frames_of(ALICE)).key
    assert key is not None
    kit.clock.now = T0 + timedelta(minutes=3, seconds=1)
    with pytest.raises(KeyRefusedError, match="expired"):
        kit.svc.open(12, key.key)
    assert kit.actuator.opened == []


def test_key_works_just_inside_the_window(kit: Kit) -> None:
    _register_alice(kit)
    key = kit.svc.access(frames_of(ALICE)).key
    assert key is not None
    kit.clock.now = T0 + timedelta(minutes=2, seconds=59)
    kit.svc.open(12, key.key)
    assert len(kit.actuator.opened) == 1


@BOTH
def test_wrong_key_n_times_burns_it(kit: Kit) -> None:
    _register_alice(kit)
    key = kit.svc.access(frames_of(ALICE)).key
    assert key is not None
    with pytest.raises(KeyRefusedError, match="2 attempts left"):
        kit.svc.open(12, _wrong(key.key))
    with pytest.raises(KeyRefusedError, match="1 attempt left"):
        kit.svc.open(12, _wrong(key.key))
    with pytest.raises(KeyRefusedError, match="burnt") as exc:
        kit.svc.open(12, _wrong(key.key))
    assert exc.value.reason == "burnt"
    with pytest.raises(KeyRefusedError, match="burnt"):  # even the right key now
        kit.svc.open(12, key.key)
    assert kit.actuator.opened == []
    assert _actions(kit, "locker.wrong_key") == ["burnt", "refused", "refused"]
    with kit.db.session() as s:
        row = s.scalars(select(LockerKey)).one()
        assert row.attempts == 3 and row.burnt_at is not None


@BOTH
def test_a_replaced_key_says_replaced_and_does_not_count(kit: Kit) -> None:
    _register_alice(kit)
    old = kit.svc.access(frames_of(ALICE)).key
    new = kit.svc.access(frames_of(ALICE)).key  # a second visit: the first key is replaced
    assert old is not None and new is not None and old.key != new.key
    for _ in range(4):  # more than the attempts a key allows: none of them is counted
        with pytest.raises(KeyRefusedError, match="replaced by a newer one") as exc:
            kit.svc.open(12, old.key)
        assert exc.value.reason == "replaced" and "attempt" not in str(exc.value).split(":")[0]
    with kit.db.session() as s:
        newest = s.scalars(select(LockerKey).where(LockerKey.ref == new.ref)).one()
        assert newest.attempts == 0 and newest.burnt_at is None
    assert _actions(kit, "locker.wrong_key") == []
    refusals = kit.audit.query(AuditQuery(action="locker.open", decision="refused"))
    assert {e.details["reason"] for e in refusals} == {"replaced"}
    assert {e.details["ref"] for e in refusals} == {old.ref}
    # a key nobody was given still counts (and says how many attempts are left)
    with pytest.raises(KeyRefusedError, match="2 attempts left"):
        kit.svc.open(12, _wrong(new.key) if _wrong(new.key) != old.key else _wrong(_wrong(new.key)))
    kit.svc.open(12, new.key)
    assert len(kit.actuator.opened) == 1


def test_badly_typed_key_is_refused_without_counting(kit: Kit) -> None:
    _register_alice(kit)
    key = kit.svc.access(frames_of(ALICE)).key
    assert key is not None
    with pytest.raises(KeyFormatError):
        kit.svc.open(12, "12ab")
    kit.svc.open(12, key.key)
    assert _actions(kit, "locker.open") == ["opened", "refused"]


def test_key_is_bound_to_its_locker(kit: Kit) -> None:
    _register_alice(kit)
    kit.svc.assign(13, "C1")
    key = kit.svc.access(frames_of(ALICE), locker=12).key
    assert key is not None
    with pytest.raises(KeyRefusedError, match="no key"):
        kit.svc.open(13, key.key)


def test_a_new_key_replaces_the_old_one(kit: Kit) -> None:
    _register_alice(kit)
    first = kit.svc.access(frames_of(ALICE)).key
    second = kit.svc.access(frames_of(ALICE)).key
    assert first is not None and second is not None
    if first.key != second.key:
        with pytest.raises(KeyRefusedError):
            kit.svc.open(12, first.key)
    kit.svc.open(12, second.key)
    assert len(kit.actuator.opened) == 1


def test_unknown_face_is_denied_and_audited(kit: Kit) -> None:
    _register_alice(kit)
    result = kit.svc.access(frames_of(STRANGER), actor="kiosk")
    assert not result.granted and result.key is None
    assert result.reason == "face not recognised"
    denied = kit.audit.query(AuditQuery(action="locker.access", decision="denied"))
    assert len(denied) == 1 and denied[0].details["reason"] == "face not recognised"
    with kit.db.session() as s:
        assert s.scalars(select(LockerKey)).all() == []


def test_enrolled_person_without_locker_is_denied(kit: Kit) -> None:
    _register_alice(kit)
    kit.svc.release(12)
    result = kit.svc.access(frames_of(ALICE))
    assert not result.granted and "no locker" in result.reason


def test_liveness_failure_denies_before_identification(kit: Kit) -> None:
    _register_alice(kit)
    kit.liveness.passed = False
    result = kit.svc.access(frames_of(ALICE))
    assert not result.granted and result.reason.startswith("liveness check failed")
    entry = kit.audit.query(AuditQuery(action="locker.access"))[0]
    assert entry.decision == "denied" and entry.details["liveness_score"] == pytest.approx(0.12)


def test_mixed_people_in_frames_are_not_identified(kit: Kit) -> None:
    _register_alice(kit)
    kit.svc.register("C2", "Bob", 13, frames_of(BOB))
    mixed = frames_of(ALICE, 5) + frames_of(BOB, 5)
    result = kit.svc.access(mixed)
    assert not result.granted and result.reason == "face not recognised"


@BOTH
def test_taken_locker_is_refused_and_nothing_is_written(kit: Kit) -> None:
    _register_alice(kit)
    with pytest.raises(LockerUnavailableError, match="locker 12 is already assigned"):
        kit.svc.register("C2", "Bob", 12, frames_of(BOB))
    with kit.db.session() as s:
        assert s.scalars(select(Customer).where(Customer.customer_id == "C2")).first() is None
        assert store.find_person(s, "customer:C2") is None
    assert _actions(kit, "locker.register") == ["refused", "ok"]
    kit.svc.release(12)
    kit.svc.register("C2", "Bob", 12, frames_of(BOB))
    assert kit.svc.get_locker(12).holder == "C2"
    kit.svc.assign(13, "C1")
    assert kit.svc.get_locker(13).holder == "C1"


def test_race_between_pre_check_and_hook_is_caught_by_the_database(kit: Kit) -> None:
    """Someone assigns the locker after the pre-check: the hook refuses, the enrolment rolls back."""
    _register_alice(kit, locker=13)
    original = kit.svc._precheck_registration

    def precheck_then_assign(customer_id: str, number: int) -> tuple[str, bool]:
        out = original(customer_id, number)
        kit.svc.assign(number, "C1")
        return out

    kit.svc._precheck_registration = precheck_then_assign  # type: ignore[method-assign]
    with pytest.raises(LockerUnavailableError):
        kit.svc.register("C2", "Bob", 12, frames_of(BOB))
    with kit.db.session() as s:
        assert store.find_person(s, "customer:C2") is None


def test_blocked_locker_refuses_registration_access_and_open(kit: Kit) -> None:
    _register_alice(kit)
    key = kit.svc.access(frames_of(ALICE)).key
    assert key is not None
    kit.svc.block(12, reason="court order")
    assert kit.svc.get_locker(12).status == "blocked"
    with pytest.raises(KeyRefusedError):
        kit.svc.open(12, key.key)
    result = kit.svc.access(frames_of(ALICE))
    assert not result.granted and "blocked" in result.reason
    with pytest.raises(LockerUnavailableError, match="blocked"):
        kit.svc.register("C2", "Bob", 12, frames_of(BOB))
    kit.svc.unblock(12)
    assert kit.svc.get_locker(12).status == "assigned"
    fresh = kit.svc.access(frames_of(ALICE)).key
    assert fresh is not None
    kit.svc.open(12, fresh.key)


def test_registration_without_a_usable_face_writes_nothing(kit: Kit) -> None:
    with pytest.raises(FaceQualityError):
        kit.svc.register("C1", "Alice", 12, frames_of(0))
    assert kit.svc.get_locker(12).status == "free"
    assert kit.svc.list_customers() == []


def test_unknown_locker_and_customer(kit: Kit) -> None:
    with pytest.raises(NotFoundError, match="no locker 99"):
        kit.svc.register("C1", "Alice", 99, frames_of(ALICE))
    with pytest.raises(NotFoundError, match="no customer"):
        kit.svc.assign(12, "nobody")
    with pytest.raises(KeyRefusedError, match="no key"):
        kit.svc.open(99, "123456")


def test_revoke_face_erases_templates_and_keys(kit: Kit) -> None:
    _register_alice(kit)
    key = kit.svc.access(frames_of(ALICE)).key
    assert key is not None
    info = kit.svc.revoke_face("C1", actor="admin")
    assert not info.has_face and info.lockers == (12,)
    with kit.db.session() as s:
        assert store.find_person(s, "customer:C1") is None
    with pytest.raises(KeyRefusedError, match="replaced or revoked"):
        kit.svc.open(12, key.key)
    assert not kit.svc.access(frames_of(ALICE)).granted
    with pytest.raises(NotFoundError, match="no face data"):
        kit.svc.revoke_face("C1")
    kit.svc.register("C1", "Alice", 12, frames_of(ALICE))  # re-registering restores access
    assert kit.svc.access(frames_of(ALICE)).granted


def test_history_per_locker_and_per_customer(kit: Kit) -> None:
    _register_alice(kit)
    kit.svc.register("C2", "Bob", 13, frames_of(BOB))
    key = kit.svc.access(frames_of(ALICE)).key
    assert key is not None
    kit.svc.open(12, key.key)
    kinds12 = [e.kind for e in kit.svc.history(locker=12)]
    assert kinds12[:4] == ["open", "key_use", "key_issue", "access"]
    assert "register" in kinds12 and all(e.locker == 12 for e in kit.svc.history(locker=12))
    bob = kit.svc.history(customer_id="C2")
    assert [e.kind for e in bob] == ["register"]
    with pytest.raises(NotFoundError):
        kit.svc.history(locker=77)


def test_list_lockers_and_duplicate_add(kit: Kit) -> None:
    _register_alice(kit)
    lockers = kit.svc.list_lockers()
    assert [(x.number, x.status, x.holder) for x in lockers] == [
        (12, "assigned", "C1"),
        (13, "free", None),
    ]
    with pytest.raises(Exception, match="already exists"):
        kit.svc.add_locker(12)


@BOTH
def test_two_simultaneous_opens_with_one_key_open_once(kit: Kit) -> None:
    _register_alice(kit)
    for _ in range(8):
        key = kit.svc.access(frames_of(ALICE)).key
        assert key is not None
        barrier = threading.Barrier(2)
        wins: list[object] = []
        refusals: list[str] = []

        def attempt(
            k: str = key.key, b: threading.Barrier = barrier,
            w: list[object] = wins, r: list[str] = refusals,
        ) -> None:
            b.wait()
            try:
                w.append(kit.svc.open(12, k))
            except KeyRefusedError as exc:
                r.append(exc.reason)

        threads = [threading.Thread(target=attempt) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(wins) == 1, (wins, refusals)
        assert refusals == ["used"]
    assert len(kit.actuator.opened) == 8


@BOTH
def test_conditional_update_decides_when_both_saw_an_unused_key(kit: Kit) -> None:
    """Both callers read the key as unused before either writes: the row count picks one."""
    from facegate.features.lockers.models import Locker
    from facegate.features.lockers.service import _KeySnapshot

    _register_alice(kit)
    key = kit.svc.access(frames_of(ALICE)).key
    assert key is not None
    with kit.db.session() as s:
        row = s.scalars(select(LockerKey)).one()
        locker = s.scalars(select(Locker).where(Locker.number == 12)).one()
        snap = _KeySnapshot.of(s, row, locker)
    barrier = threading.Barrier(2)
    results: list[bool] = []

    def consume() -> None:
        barrier.wait()
        results.append(kit.svc._consume(snap, 12, kit.clock(), "race"))

    threads = [threading.Thread(target=consume) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False, True]
    assert _actions(kit, "locker.key_use") == ["ok"]


def test_live_face_must_be_the_identified_customer(kit: Kit) -> None:
    """The face that passed liveness (its proof embedding) must match the identified person."""
    _register_alice(kit)
    seen: list[int] = []

    def other_face(vector: Any, person_id: int) -> float | None:
        seen.append(person_id)
        return 0.05  # far below the identification threshold (0.36 in the fakes)

    kit.svc.live_face_similarity = other_face
    proof = np.ones(8, dtype=np.float32)
    original = kit.liveness.check_frames

    def with_proof(*args: Any, **kwargs: Any) -> LivenessOutcome:
        out = original(*args, **kwargs)
        return LivenessOutcome(out.passed, out.score, out.reason, out.details, embedding=proof)

    kit.liveness.check_frames = with_proof  # type: ignore[method-assign]
    result = kit.svc.access(frames_of(ALICE))
    assert not result.granted and result.reason == "the live face is not the recognised person"
    assert len(seen) == 1
    kit.svc.live_face_similarity = lambda v, p: 0.9
    assert kit.svc.access(frames_of(ALICE)).granted


def test_access_refuses_mismatched_timestamps(kit: Kit) -> None:
    with pytest.raises(Exception, match="2 timestamps for 10 frames"):
        kit.svc.access(frames_of(ALICE), timestamps_ms=[0.0, 1.0])
    with pytest.raises(Exception, match="no frames"):
        kit.svc.access([])


def test_another_identity_of_the_same_face_does_not_shadow_the_customer(kit: Kit) -> None:
    """A bank employee enrolled for web login and as a locker customer: the kiosk only looks at
    customers, so the (slightly higher) staff identity neither wins nor splits the vote."""
    _register_alice(kit)
    with kit.db.session(write=True) as s:
        staff = store.create_person(s, "alice-staff", "Alice (staff account)")
        s.flush()
        staff_id, staff_ext = staff.id, staff.external_id
    plain = kit.svc.identify

    def identify_with_staff(image: ImageArray) -> list[Identification]:
        out = []
        for r in plain(image):
            cands = (Candidate(staff_id, staff_ext, "Alice (staff account)", 0.93), *r.candidates)
            out.append(Identification(r.face, cands[0], cands, r.threshold))
        return out

    kit.svc.identify = identify_with_staff
    result = kit.svc.access(frames_of(ALICE), actor="kiosk")
    assert result.granted and result.customer_id == "C1" and result.locker == 12


def test_a_face_like_no_customer_stays_unknown_among_customers() -> None:
    face = _face(1)
    staff, alice = Candidate(7, "staff", "Staff", 0.9), Candidate(8, "c1", "Alice", 0.40)
    r = among(Identification(face, staff, (staff, alice), 0.48), {8})
    assert r.best is None and r.candidates == (alice,)  # 0.40 < threshold: unknown, not Alice
    r = among(Identification(face, staff, (staff, alice), 0.36), {8})
    assert r.best == alice
