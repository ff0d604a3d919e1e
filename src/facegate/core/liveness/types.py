"""The liveness service's public types: modes, statuses, config, sessions, proofs.

Split from ``facegate.core.liveness.service`` (which re-exports them); ``build_liveness_config``
turns the ``liveness_*`` settings into a ``LivenessConfig``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from facegate.core.domain import Embedding, ImageArray
from facegate.core.errors import FaceGateError
from facegate.core.liveness.actions import INSTRUCTIONS, Action, ActionOptions
from facegate.core.liveness.challenge import (
    ChallengeOptions,
    InvalidStepsError,
    Step,
    StepEvidence,
    parse_steps,
)
from facegate.core.liveness.paced import PacedDecision, PacedOptions
from facegate.core.settings import Settings

PENDING, PASSED, FAILED, EXPIRED, CONSUMED = "pending", "passed", "failed", "expired", "consumed"
PACED, OFFLINE = "paced", "offline"


class SessionExpiredError(FaceGateError):
    code = "liveness_expired"


class TooManyFramesError(FaceGateError):
    code = "too_many_frames"



@dataclass(frozen=True)
class LivenessConfig:
    challenge: ChallengeOptions
    match_threshold: float
    step_count: int = 3
    step_choices: tuple[Step, ...] = (Step.BLINK, Step.TURN_LEFT, Step.TURN_RIGHT)
    fixed_steps: tuple[Step, ...] | None = None  # tests only (see the ``liveness`` builder)
    session_ttl_s: float = 120.0
    pass_ttl_s: float = 120.0
    max_frames: int = 900
    max_batch_frames: int = 120
    embed_interval_ms: int = 1000
    passive_required: bool = False
    paced: PacedOptions = field(default_factory=PacedOptions)
    paced_steps: int = 5
    paced_choices: tuple[Action, ...] = tuple(Action)
    frontal_max_deg: float = 20.0  # same-face samples: only frames with |yaw|, |pitch| below this


@dataclass(frozen=True)
class TimedFrame:
    """One decoded frame and the client's capture time in milliseconds."""

    image: ImageArray
    timestamp_ms: int


@dataclass(frozen=True)
class LivenessSession:
    """The public view of a session (no embeddings)."""

    id: str
    nonce: str
    steps: tuple[Step, ...]
    status: str
    reason: str | None
    limits: dict[str, Any]
    created_at: datetime
    expires_at: datetime
    frame_count: int
    person_id: int | None = None
    evidence: tuple[StepEvidence, ...] = ()
    min_similarity: float | None = None
    passive_score: float | None = None
    decided_at: datetime | None = None
    mode: str = OFFLINE
    steps_total: int = 0

    @property
    def passed(self) -> bool:
        return self.status == PASSED

    @property
    def instruction(self) -> str | None:
        step = self.current_step
        return INSTRUCTIONS[step] if step else None

    @property
    def current_step(self) -> Step | None:
        """Paced: the step shown now (revealed, not yet done); None between steps."""
        done = sum(1 for e in self.evidence if e.done)
        if self.status != PENDING or done >= len(self.steps):
            return None
        return self.steps[done]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "nonce": self.nonce,
            "steps": [s.value for s in self.steps],
            "status": self.status,
            "reason": self.reason,
            "limits": self.limits,
            "created_at": self.created_at.isoformat(),
            "expires_at": self.expires_at.isoformat(),
            "frame_count": self.frame_count,
            "person_id": self.person_id,
            "evidence": [e.to_json() for e in self.evidence],
            "min_similarity": self.min_similarity,
            "passive_score": self.passive_score,
            "mode": self.mode,
            "steps_total": self.steps_total,
            "current_step": self.current_step.value if self.current_step else None,
            "instruction": self.instruction,
        }


@dataclass(frozen=True)
class LivenessProof:
    """What ``consume_passed`` hands to another flow: the face that passed, once."""

    session_id: str
    person_id: int | None
    embedding: Embedding
    passed_at: datetime



def paced_evidence(d: PacedDecision) -> list[dict[str, Any]]:
    out = []
    for st in d.steps:
        elapsed = None if st.done_ms is None or st.onset_ms is None else st.done_ms - st.onset_ms
        ev = StepEvidence(
            Step(st.action.value), st.done, st.start_frame, st.peak_frame, st.end_frame, st.value,
            elapsed_ms=elapsed, revealed_ms=st.revealed_ms, reaction_ms=st.reaction_ms,
        )
        out.append(ev.to_json())
    return out


def evidence_from_json(d: dict[str, Any]) -> StepEvidence:
    return StepEvidence(
        step=Step(d["step"]),
        done=bool(d["done"]),
        start_frame=d.get("start_frame"),
        peak_frame=d.get("peak_frame"),
        end_frame=d.get("end_frame"),
        value=d.get("value"),
        reference=d.get("reference"),
        threshold=d.get("threshold"),
        elapsed_ms=d.get("elapsed_ms"),
        revealed_ms=d.get("revealed_ms"),
        reaction_ms=d.get("reaction_ms"),
    )


def build_liveness_config(settings: Settings, match_threshold: float) -> LivenessConfig:
    """Turn the ``liveness_*`` settings into a config; refuses test-only settings outside tests."""
    s = settings
    fixed: tuple[Step, ...] | None = None
    if s.liveness_fixed_steps:
        if not s.testing:
            raise InvalidStepsError(
                "liveness_fixed_steps is a test-only setting: it needs FACEGATE_TESTING=1 "
                "(production always draws a random order)"
            )
        fixed = parse_steps(s.liveness_fixed_steps)
    return LivenessConfig(
        challenge=ChallengeOptions(
            step_time_limit_ms=round(s.liveness_step_time_limit_s * 1000),
            total_time_limit_ms=round(s.liveness_total_time_limit_s * 1000),
            blink_closed_ratio=s.liveness_blink_closed_ratio,
            blink_open_ratio=s.liveness_blink_open_ratio,
            blink_max_ms=s.liveness_blink_max_ms,
            turn_angle_deg=s.liveness_turn_angle_deg,
            turn_return_deg=s.liveness_turn_return_deg,
            max_fps=s.liveness_max_fps,
            max_frame_gap_ms=s.liveness_max_frame_gap_ms,
            max_face_gap_ms=s.liveness_max_frame_gap_ms,
        ),
        match_threshold=match_threshold,
        step_count=s.liveness_steps,
        step_choices=parse_steps(s.liveness_step_choices),
        fixed_steps=fixed,
        session_ttl_s=s.liveness_session_ttl_s,
        pass_ttl_s=s.liveness_pass_ttl_s,
        max_frames=s.liveness_max_frames,
        max_batch_frames=s.liveness_max_batch_frames,
        embed_interval_ms=s.liveness_embed_interval_ms,
        passive_required=s.liveness_passive_required,
        paced=PacedOptions(
            actions=ActionOptions(blink_max_ms=s.liveness_blink_max_ms),
            delay_min_ms=s.liveness_reveal_delay_ms[0],
            delay_max_ms=s.liveness_reveal_delay_ms[1],
            reaction_min_ms=s.liveness_reaction_ms[0],
            reaction_max_ms=s.liveness_reaction_ms[1],
            action_max_ms=s.liveness_action_max_ms,
            clock_skew_ms=s.liveness_clock_skew_ms,
            max_lag_ms=s.liveness_max_lag_ms,
            max_face_gap_ms=s.liveness_max_frame_gap_ms,
        ),
        paced_steps=s.liveness_paced_steps,
        paced_choices=parse_steps(s.liveness_paced_choices),
    )


