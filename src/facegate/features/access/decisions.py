"""Access decisions for live video: who is in view, granted or denied, and what goes to the log.

One ``AccessSession`` per stream (camera connection), opened with the groups its device admits.
For every processed frame it identifies every face among the people of those groups (through an
``Identifier``: ``container.identification.identify_image``), then decides:

* **granted** when a known person who is allowed (every enrolled person, or the allow-list) has been
  recognised in ``required_frames`` consecutive *processed* frames (default 3; frames the server
  dropped as stale do not count either way);
* otherwise **denied**, with a reason: ``no_face``, ``confirming`` (recognised, streak still short),
  ``unknown`` (an unrecognised face for N frames), ``not_allowed`` (a known person outside the
  allow-list for N frames), ``no_groups`` (the device admits no group yet: every frame is denied
  until an administrator runs ``facegate devices groups NAME GROUP,...``), and at a door with
  liveness (``passive``/``strict``, see ``facegate.features.access.liveness``)
  ``checking_liveness`` (recognised, no liveness evidence yet) or ``not_live`` (none after
  ``max_wait_s``).

Logging policy (so the audit table gets decisions, not 15 lines a second): a decision is written
when it is *settled* (granted, or denied for ``unknown``/``not_allowed`` — never for ``no_face`` or
``confirming``) and its key (status, person, reason) differs from the last decision logged by this
stream, or the same key was last logged more than ``log_interval_s`` ago (a person standing at the
door is logged again every 10 s by default). Streaks and the last-logged key belong to one stream
connection; the log itself lives in the database (``AuditLog``), and optionally in a plain-text
file ``timestamp,name,status`` (the seeds' access_log.txt; ``textlog``, on by default).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

from facegate.core.domain import AnalyzedFace, AuditEvent, Identification, ImageArray
from facegate.core.vision.images import ImageLimits, decode_image
from facegate.features.access.liveness import (
    DoorEvidence,
    DoorLivenessOptions,
    DoorLivenessTracker,
    DoorMode,
    EarMeasure,
    FaceSignals,
    PassiveScore,
)
from facegate.features.access.textlog import AccessTextLog

Identifier = Callable[[ImageArray, "frozenset[str] | None"], list[Identification]]
"""Identify every face of a frame among the people of the groups (None: every group)."""

GRANTED = "granted"
DENIED = "denied"
UNKNOWN_KEY = "<unknown>"
NO_GROUPS = "no_groups"
SETTLED_DENIALS = frozenset({"unknown", "not_allowed", "not_live", NO_GROUPS})


class AuditSink(Protocol):
    def record(self, event: AuditEvent) -> object: ...


@dataclass(frozen=True)
class AccessOptions:
    required_frames: int = 3
    allowed: frozenset[str] | None = None  # external ids; None: every enrolled person
    log_interval_s: float = 10.0
    access_log_file: Path | None = None
    access_log_max_bytes: int = 10 * 1024 * 1024
    access_log_backups: int = 5
    limits: ImageLimits = field(default_factory=ImageLimits)
    test_delay_s: float = 0.0  # testing hook: extra processing time per frame
    door: DoorLivenessOptions = field(default_factory=DoorLivenessOptions)  # default door mode
    door_modes: dict[str, DoorMode] = field(default_factory=dict)  # per device name


@dataclass(frozen=True)
class FaceVerdict:
    """One face of a frame: who it is (or unknown) and whether that person may enter."""

    face: AnalyzedFace
    person: str | None  # external id
    name: str  # display name or "unknown"
    similarity: float | None  # of the best candidate, even below threshold
    allowed: bool

    @property
    def known(self) -> bool:
        return self.person is not None


@dataclass(frozen=True)
class AccessDecision:
    status: str  # "granted" | "denied"
    reason: str  # "recognised", "no_face", "confirming", "unknown", "not_allowed"
    person: str | None
    name: str | None
    similarity: float | None
    streak: int
    required: int
    liveness: DoorEvidence | None = None

    @property
    def granted(self) -> bool:
        return self.status == GRANTED

    @property
    def settled(self) -> bool:
        return self.granted or self.reason in SETTLED_DENIALS


@dataclass(frozen=True)
class FrameOutcome:
    faces: tuple[FaceVerdict, ...]
    decision: AccessDecision
    logged: bool
    processing_ms: float


def judge_faces(ids: list[Identification], allowed: frozenset[str] | None) -> tuple[FaceVerdict, ...]:
    """Turn identifications into verdicts (who, similarity, allowed)."""
    out = []
    for ident in ids:
        best = ident.best
        top = best or (ident.candidates[0] if ident.candidates else None)
        sim = top.similarity if top is not None else None
        if best is None:
            out.append(FaceVerdict(ident.face, None, "unknown", sim, False))
        else:
            ok = allowed is None or best.external_id in allowed
            out.append(FaceVerdict(ident.face, best.external_id, best.display_name, sim, ok))
    return tuple(out)


class AccessTracker:
    """Consecutive-frame streaks per person (and for "unknown") → one decision per frame. Pure."""

    def __init__(self, required_frames: int) -> None:
        if required_frames < 1:
            raise ValueError("required_frames must be at least 1")
        self.required = required_frames
        self._streaks: dict[str, int] = {}

    def update(self, faces: tuple[FaceVerdict, ...]) -> AccessDecision:
        seen = {f.person or UNKNOWN_KEY for f in faces}
        self._streaks = {k: self._streaks.get(k, 0) + 1 for k in seen}
        if not faces:
            return self._decide(DENIED, "no_face", None, 0)
        known = sorted((f for f in faces if f.known), key=lambda f: -(f.similarity or 0.0))
        allowed = [f for f in known if f.allowed]
        confirmed = [f for f in allowed if self._streak(f) >= self.required]
        if confirmed:
            return self._decide(GRANTED, "recognised", confirmed[0], self._streak(confirmed[0]))
        if allowed:
            return self._decide(DENIED, "confirming", allowed[0], self._streak(allowed[0]))
        refused = [f for f in known if self._streak(f) >= self.required]
        if refused:
            return self._decide(DENIED, "not_allowed", refused[0], self._streak(refused[0]))
        unknown = self._streaks.get(UNKNOWN_KEY, 0)
        if not known and unknown >= self.required:
            best = max(faces, key=lambda f: f.similarity or -1.0)
            return self._decide(DENIED, "unknown", best, unknown)
        pending = known[0] if known else None
        return self._decide(DENIED, "confirming", pending, self._streak(pending) if pending else unknown)

    def _streak(self, face: FaceVerdict) -> int:
        return self._streaks.get(face.person or UNKNOWN_KEY, 0)

    def _decide(self, status: str, reason: str, face: FaceVerdict | None, streak: int) -> AccessDecision:
        return AccessDecision(
            status=status,
            reason=reason,
            person=face.person if face else None,
            name=face.name if face and face.known else None,
            similarity=face.similarity if face else None,
            streak=streak,
            required=self.required,
        )


class LogPolicy:
    """Log a settled decision when it changes, or again after ``interval_s`` for the same key."""

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self._last_key: tuple[str, str | None, str] | None = None
        self._last_at = 0.0

    def should_log(self, decision: AccessDecision, now: float) -> bool:
        if not decision.settled:
            return False
        key = (decision.status, decision.person, decision.reason)
        return key != self._last_key or now - self._last_at >= self.interval_s

    def logged(self, decision: AccessDecision, now: float) -> None:
        """Remember a decision once it is stored (a failed write is retried on the next frame)."""
        self._last_key = (decision.status, decision.person, decision.reason)
        self._last_at = now


class AccessService:
    """Builds one ``AccessSession`` per stream; shares the identifier, audit sink and text log."""

    def __init__(
        self,
        identifier: Identifier,
        audit: AuditSink,
        options: AccessOptions | None = None,
        clock: Callable[[], float] = time.monotonic,
        ear: EarMeasure | None = None,
        passive: PassiveScore | None = None,
    ) -> None:
        self.identify = identifier
        self.audit = audit
        self.options = options or AccessOptions()
        self.clock = clock
        o = self.options
        self.text_log = (
            AccessTextLog(o.access_log_file, o.access_log_max_bytes, o.access_log_backups)
            if o.access_log_file is not None else None
        )
        self.ear = ear
        self.passive = passive

    def open_session(self, actor: str, groups: frozenset[str] | None = None) -> AccessSession:
        """A stream of ``actor`` admitting the people of ``groups`` (None: every group; empty:
        nobody, every frame is denied with reason ``no_groups``)."""
        return AccessSession(self, actor, groups)

    def door_mode(self, actor: str) -> DoorMode:
        """The liveness mode of the door behind ``actor`` (``device:NAME``), else the default."""
        name = actor.removeprefix("device:")
        return self.options.door_modes.get(name, self.options.door.mode)

    def record(self, decision: AccessDecision, actor: str, camera: str | None, frame: int | None) -> None:
        details: dict[str, object] = {"reason": decision.reason, "streak": decision.streak}
        if decision.liveness is not None:
            details["liveness"] = decision.liveness.to_json()
        if camera is not None:
            details["camera"] = camera
        if decision.name is not None:
            details["name"] = decision.name
        if frame is not None:
            details["frame"] = frame
        score = None if decision.similarity is None else round(decision.similarity, 4)
        self.audit.record(
            AuditEvent(
                action="access",
                decision=decision.status,
                actor=actor,
                subject=decision.person,
                score=score,
                details=details,
            )
        )
        if self.text_log is not None:
            self.text_log.write(decision.name, decision.status)


class AccessSession:
    """State of one stream: streaks and log policy. Process one frame at a time."""

    def __init__(
        self, service: AccessService, actor: str, groups: frozenset[str] | None = None
    ) -> None:
        self.service = service
        self.actor = actor
        self.groups = groups
        opts = service.options
        self.tracker = AccessTracker(opts.required_frames)
        self.policy = LogPolicy(opts.log_interval_s)
        mode = service.door_mode(actor)
        self.door = (
            DoorLivenessTracker(replace(opts.door, mode=mode)) if mode is not DoorMode.OFF else None
        )

    def process_jpeg(self, jpeg: bytes, camera: str | None = None, frame: int | None = None) -> FrameOutcome:
        """Decode (limits of the options) and process; ``InvalidImageError``/``ImageTooLargeError``."""
        start = time.perf_counter()
        image = decode_image(jpeg, self.service.options.limits)  # camera JPEGs: cv2.imdecode
        return self.process_image(image, camera, frame, start)

    def process_image(
        self,
        image: ImageArray,
        camera: str | None = None,
        frame: int | None = None,
        start: float | None = None,
    ) -> FrameOutcome:
        start = time.perf_counter() if start is None else start
        svc = self.service
        if svc.options.test_delay_s > 0:
            time.sleep(svc.options.test_delay_s)
        faces = judge_faces(svc.identify(image, self.groups), svc.options.allowed)
        decision = self.tracker.update(faces)
        if self.groups is not None and not self.groups:  # a door nobody configured yet
            decision = AccessDecision(DENIED, NO_GROUPS, None, None, None, 0, self.tracker.required)
        now = svc.clock()
        if self.door is not None:
            decision = self._door_check(image, faces, decision, now)
        logged = self.policy.should_log(decision, now)
        if logged:  # an audit failure raises: no answer is given for a decision that is not logged
            svc.record(decision, self.actor, camera, frame)
            self.policy.logged(decision, now)
        return FrameOutcome(faces, decision, logged, (time.perf_counter() - start) * 1000.0)

    def _door_check(
        self, image: ImageArray, faces: tuple[FaceVerdict, ...], decision: AccessDecision, now: float
    ) -> AccessDecision:
        """Feed the door's liveness evidence; a grant without it becomes a denial."""
        assert self.door is not None
        svc, o = self.service, self.door.o
        evidence: dict[str, DoorEvidence] = {}
        for f in faces:
            if not (f.known and f.allowed and f.person):
                continue
            face = f.face.face
            ear = svc.ear(image, face) if svc.ear else None
            wants_score = o.mode is DoorMode.STRICT and o.passive_threshold is not None
            passive = svc.passive(image, face) if svc.passive and wants_score else None
            signals = FaceSignals(now, face.landmarks.as_array(), ear, passive)
            evidence[f.person] = self.door.update(f.person, signals)
        ev = evidence.get(decision.person or "")
        if ev is None:
            return decision
        if not decision.granted or ev.live:
            return replace(decision, liveness=ev)
        reason = "not_live" if ev.expired else "checking_liveness"
        return replace(decision, status=DENIED, reason=reason, liveness=ev)
