"""The kiosk's liveness check: streamed frames through the liveness service's challenge session.

Adapts ``container.liveness`` (``facegate.core.liveness.service.LivenessService``) to the locker
service's ``LivenessCheck``. Sessions are server-paced: the kiosk page starts one, streams frames
and shows each step when the server reveals it (``ChallengeState.instruction``). Frames handed
over in one piece (a recording: the CLI's video file) cannot have reacted to steps revealed
while they were filmed, so they fail the challenge — a recording is never accepted here.
The frames are fed to the same server-side
evaluation the web login uses, in batches, the last one ``final``; a passed session is consumed
at once (single use) and its proof embedding is handed on, so the locker service can check that
the face that did the challenge is the customer it identified. Problems with the frames
(timestamps, expired session, too many frames) are a failed check, so they are audited as denials.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from facegate.core.domain import ImageArray
from facegate.core.errors import FaceGateError
from facegate.features.lockers.ports import (
    ChallengeInfo,
    ChallengeState,
    LivenessCheck,
    LivenessOutcome,
)

if TYPE_CHECKING:
    from facegate.core.liveness.service import LivenessService, LivenessSession

DEFAULT_FPS = 30.0
ACTOR = "locker-kiosk"


def even_timestamps(n: int, fps: float = DEFAULT_FPS) -> list[int]:
    """Capture times (ms) of ``n`` frames taken at ``fps``."""
    return [round(i * 1000.0 / fps) for i in range(n)]


class ServiceLiveness:
    """``LivenessCheck`` on a ``LivenessService`` (built lazily: models load on first use)."""

    def __init__(self, service: Callable[[], LivenessService], actor: str = ACTOR) -> None:
        self._service = service
        self.actor = actor

    def start_challenge(self) -> ChallengeInfo:
        svc = self._service()
        session = svc.create_session(actor=self.actor)
        return ChallengeInfo(
            session.id, tuple(s.value for s in session.steps), svc.config.session_ttl_s
        )

    def add_frames(
        self, challenge_id: str, frames: Sequence[ImageArray], timestamps_ms: Sequence[float]
    ) -> ChallengeState:
        from facegate.core.liveness.service import TimedFrame

        svc = self._service()
        timed = [TimedFrame(f, round(t)) for f, t in zip(frames, timestamps_ms, strict=True)]
        session = svc.add_frames(challenge_id, timed, final=False)
        return ChallengeState(
            session.id, session.status, session.reason,
            sum(1 for e in session.evidence if e.done), session.steps_total,
            tuple(s.value for s in session.steps), session.instruction,
        )

    def check_frames(
        self,
        frames: Sequence[ImageArray],
        timestamps_ms: Sequence[float] | None = None,
        challenge_id: str | None = None,
    ) -> LivenessOutcome:
        from facegate.core.liveness.service import PASSED, PENDING, TimedFrame

        svc = self._service()
        current: LivenessSession | None = None
        if challenge_id is None:
            challenge_id = svc.create_session(actor=self.actor).id
        else:
            try:
                current = svc.get_session(challenge_id)
            except FaceGateError as exc:
                return LivenessOutcome(False, None, exc.message,
                                       {"session": challenge_id, "code": exc.code})
            if current.status == PENDING and current.frame_count == 0:
                current = None  # one-shot: every frame goes through the challenge below
            elif current.status == PENDING:  # streamed but undecided: no more frames will come
                try:
                    current = svc.add_frames(challenge_id, [], final=True)
                except FaceGateError as exc:
                    return LivenessOutcome(False, None, exc.message,
                                           {"session": challenge_id, "code": exc.code})
                frames = []
            else:  # decided by the frames streamed before: these frames are only identified
                frames = []
        stamps = (
            [round(t) for t in timestamps_ms]
            if timestamps_ms is not None
            else even_timestamps(len(frames))
        )
        batch_size = max(1, svc.config.max_batch_frames)
        session: LivenessSession | None = current
        try:
            for start in range(0, len(frames), batch_size):
                chunk = [
                    TimedFrame(frames[i], stamps[i])
                    for i in range(start, min(start + batch_size, len(frames)))
                ]
                final = start + batch_size >= len(frames)
                session = svc.add_frames(challenge_id, chunk, final=final)
                if session.status != PENDING:
                    break
            if session is None:
                return LivenessOutcome(False, None, "no frames", {"session": challenge_id})
            details = _details(session)
            if session.status != PASSED:
                return LivenessOutcome(False, session.passive_score,
                                       session.reason or session.status, details)
            proof = svc.consume_passed(challenge_id, actor=self.actor)
        except FaceGateError as exc:
            return LivenessOutcome(False, None, exc.message,
                                   {"session": challenge_id, "code": exc.code})
        return LivenessOutcome(True, session.passive_score, "passed", details,
                               embedding=proof.embedding.vector)


def _details(session: LivenessSession) -> dict[str, Any]:
    return {
        "session": session.id,
        "status": session.status,
        "steps": [s.value for s in session.steps],
        "frames": session.frame_count,
        "min_similarity": session.min_similarity,
        "passive_score": session.passive_score,
    }


def build_locker_liveness(container: Any) -> LivenessCheck:
    return ServiceLiveness(lambda: container.liveness)
