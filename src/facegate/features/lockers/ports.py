"""What the locker service needs from the other areas: liveness, enrolment, identification.

The app's container plugs the real services in (``facegate.features.lockers.liveness`` adapts the
liveness service); tests plug fakes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from facegate.core.domain import AnalyzedFace, FloatArray, Identification, ImageArray

Identifier = Callable[[ImageArray], list[Identification]]
LiveFaceSimilarity = Callable[[FloatArray, int], float | None]
"""Similarity of the liveness proof's embedding with a person's template (None: not near)."""


# ---- interfaces of the other areas --------------------------------------------------------------
@dataclass(frozen=True)
class LivenessOutcome:
    """The answer of the liveness check over the frames of one kiosk session."""

    passed: bool
    score: float | None  # passive anti-spoof probability of "live" when measured
    reason: str
    details: dict[str, Any] = field(default_factory=dict)
    embedding: FloatArray | None = None  # the face that passed (mean of its sampled embeddings)


@dataclass(frozen=True)
class ChallengeInfo:
    """A liveness challenge the kiosk shows before recording: its id and the steps, in order."""

    id: str
    steps: tuple[str, ...]
    expires_in_s: float | None = None


@dataclass(frozen=True)
class ChallengeState:
    """Progress of a challenge while the kiosk streams frames: pending, passed or failed."""

    id: str
    status: str
    reason: str | None
    steps_done: int
    steps_total: int
    steps: tuple[str, ...] = ()  # revealed so far (the server shows one at a time)
    instruction: str | None = None  # the step to do now, if one is shown


class LivenessCheck(Protocol):
    """Runs the (server-side) challenge over recorded frames.

    ``challenge_id``: a challenge started before (the kiosk page showed its steps); None: the
    check starts one itself (CLI over a camera or video file). ``timestamps_ms``: capture times
    of the frames; None: the frames are taken as evenly spaced at the source's rate.
    """

    def start_challenge(self) -> ChallengeInfo: ...

    def add_frames(
        self, challenge_id: str, frames: Sequence[ImageArray], timestamps_ms: Sequence[float]
    ) -> ChallengeState: ...

    def check_frames(
        self,
        frames: Sequence[ImageArray],
        timestamps_ms: Sequence[float] | None = None,
        challenge_id: str | None = None,
    ) -> LivenessOutcome: ...


class SampleCheck(Protocol):
    accepted: bool
    reason: str | None


class Enroller(Protocol):
    """The part of ``facegate.core.people.enrollment.EnrollmentService`` lockers use."""

    def check_image(self, item: Any) -> tuple[AnalyzedFace | None, Any]: ...

    def enroll_faces(
        self,
        external_id: str,
        checked: Sequence[tuple[AnalyzedFace | None, Any]],
        display_name: str | None = None,
        *,
        mode: Any = ...,
        source: str = "upload",
        actor: str | None = None,
        session_hook: Any = None,
        options: Any = None,
    ) -> Any: ...

    def remove_person(self, external_id: str, actor: str | None = None) -> Any: ...

