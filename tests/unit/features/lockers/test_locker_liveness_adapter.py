"""``ServiceLiveness``: how kiosk frames reach the liveness service (fake service, no models)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pytest

from facegate.core.errors import ConflictError
from facegate.core.liveness.challenge import Step
from facegate.features.lockers.liveness import ServiceLiveness, even_timestamps


@dataclass(frozen=True)
class Session:
    id: str
    steps: tuple[Step, ...]
    status: str = "pending"
    reason: str | None = None
    frame_count: int = 0
    evidence: tuple[Any, ...] = ()
    min_similarity: float | None = None
    passive_score: float | None = None
    instruction: str | None = None

    @property
    def steps_total(self) -> int:
        return len(self.steps)


@dataclass
class Config:
    max_batch_frames: int = 4
    session_ttl_s: float = 120.0


@dataclass
class FakeService:
    """Passes once ``pass_at`` frames arrived; records every call."""

    pass_at: int = 6
    config: Config = field(default_factory=Config)
    sessions: dict[str, Session] = field(default_factory=dict)
    batches: list[tuple[int, bool]] = field(default_factory=list)
    consumed: list[str] = field(default_factory=list)

    def create_session(self, actor: str | None = None, steps: Any = None) -> Session:
        s = Session(f"s{len(self.sessions) + 1}", (Step.BLINK,))
        self.sessions[s.id] = s
        return s

    def get_session(self, sid: str) -> Session:
        return self.sessions[sid]

    def add_frames(self, sid: str, frames: list[Any], final: bool = False) -> Session:
        s = self.sessions[sid]
        if s.status != "pending":
            raise ConflictError(f"liveness session '{sid}' is already {s.status}")
        self.batches.append((len(frames), final))
        n = s.frame_count + len(frames)
        status = "passed" if n >= self.pass_at else ("failed" if final else "pending")
        s = replace(s, frame_count=n, status=status, passive_score=0.9,
                    reason="frames ended" if status == "failed" else None)
        self.sessions[sid] = s
        return s

    def consume_passed(self, sid: str, person_id: Any = None, actor: Any = None) -> Any:
        if sid in self.consumed:
            raise ConflictError("already used")
        self.consumed.append(sid)

        @dataclass
        class Proof:
            embedding: Any

        @dataclass
        class Emb:
            vector: Any

        return Proof(Emb(np.ones(4, dtype=np.float32)))


def frames(n: int) -> list[Any]:
    return [np.zeros((2, 2, 3), np.uint8)] * n


def test_cli_path_starts_a_session_feeds_batches_and_consumes_the_pass() -> None:
    svc = FakeService()
    out = ServiceLiveness(lambda: svc).check_frames(frames(10))
    assert out.passed and out.embedding is not None and out.score == pytest.approx(0.9)
    assert svc.batches == [(4, False), (4, False)]  # stops once decided
    assert svc.consumed == ["s1"]


def test_too_few_frames_fail_on_the_final_batch() -> None:
    svc = FakeService(pass_at=100)
    out = ServiceLiveness(lambda: svc).check_frames(frames(5))
    assert not out.passed and out.reason == "frames ended"
    assert svc.batches[-1] == (1, True) and svc.consumed == []


def test_streamed_then_decided_session_only_identifies_and_is_single_use() -> None:
    svc = FakeService()
    live = ServiceLiveness(lambda: svc)
    ch = live.start_challenge()
    state = live.add_frames(ch.id, frames(6), even_timestamps(6))
    assert state.status == "passed"
    out = live.check_frames(frames(3), challenge_id=ch.id)
    assert out.passed and svc.batches == [(6, False)]  # identification frames not fed
    again = live.check_frames(frames(3), challenge_id=ch.id)
    assert not again.passed and "already used" in again.reason


def test_streamed_but_undecided_session_is_closed_as_failed() -> None:
    svc = FakeService(pass_at=100)
    live = ServiceLiveness(lambda: svc)
    ch = live.start_challenge()
    live.add_frames(ch.id, frames(3), even_timestamps(3))
    out = live.check_frames(frames(3), challenge_id=ch.id)
    assert not out.passed and svc.batches[-1] == (0, True)


def test_unknown_session_is_a_denial_not_a_crash() -> None:
    class Missing(FakeService):
        def get_session(self, sid: str) -> Session:
            raise ConflictError(f"liveness session '{sid}' not found")

    out = ServiceLiveness(lambda: Missing()).check_frames(frames(3), challenge_id="nope")
    assert not out.passed and "not found" in out.reason


def test_even_timestamps() -> None:
    assert even_timestamps(3, 15.0) == [0, 67, 133]
