"""Server-side liveness challenge–response sessions, persisted in the database.

Flow (``paced`` mode, the default): ``create_session`` draws a random nonce, a random sequence of
actions and secret reveal delays → the client streams timestamped frames with ``add_frames`` in
short batches while it films; each answer says which step is shown now (revealed one at a time
at random moments, ``facegate.core.liveness.paced``, judged on the server's clock) → the server
measures every frame itself (face count, Face Mesh EAR and
yaw), samples embeddings of the face about once a second, and decides with
``evaluate_paced``. The client never reports a result. ``offline`` mode (``check_recording``)
checks a recording against steps known up front with ``evaluate_challenge``; it is never
accepted by ``consume_passed``.

A session fails when a step is not done in time, the head turns the wrong way, a second face
appears, the face is lost, or the face changes: every sampled embedding (near-frontal frames
only; at least one is required) must have cosine similarity ≥ the match threshold with the
first one. When ``passive_required`` is set, the mean
passive anti-spoof score of the sampled crops must also reach the model's threshold.

A passed session is single-use and bound to the face that passed (the mean of its sampled
embeddings, encrypted with the template cipher when the store has one) and to the person it was
created for, if any: other flows call ``consume_passed``.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

import numpy as np

from facegate.core.domain import AuditEvent, DetectedFace, Embedding, FloatArray
from facegate.core.errors import ConflictError, FaceGateError, PermissionDeniedError
from facegate.core.liveness.actions import Action
from facegate.core.liveness.antispoof import PassiveAntiSpoof
from facegate.core.liveness.challenge import (
    FrameTimingError,
    InvalidStepsError,
    Step,
    evaluate_challenge,
    validate_timestamps,
)
from facegate.core.liveness.landmarks import FrameMeasurement, FrameMeasurer
from facegate.core.liveness.paced import (
    ClockDisagreement,
    Pacing,
    draw_delays,
    evaluate_paced,
    map_batch,
)
from facegate.core.liveness.paced import draw_steps as draw_paced_steps
from facegate.core.liveness.records import (
    Cipher,
    decision_event,
    decrypt_vectors,
    encrypt_vectors,
    lowest_similarity,
    mean_aad,
    mean_passive,
    samples_aad,
    session_view,
    status_of,
)
from facegate.core.liveness.types import (
    CONSUMED,
    EXPIRED,
    FAILED,
    OFFLINE,
    PACED,
    PASSED,
    PENDING,
    LivenessConfig,
    LivenessProof,
    LivenessSession,
    SessionExpiredError,
    TimedFrame,
    TooManyFramesError,
    build_liveness_config,
    paced_evidence,
)
from facegate.core.store.db import utcnow
from facegate.core.store.liveness_models import LivenessSessionRecord, SqlLivenessStore
from facegate.core.vision.pipeline import FacePipeline


class AuditSink(Protocol):
    def record(self, event: AuditEvent) -> Any: ...


@dataclass
class _Batch:
    """Measurements and samples of one batch, computed before any write."""

    frames: list[dict[str, Any]] = field(default_factory=list)
    samples: list[dict[str, Any]] = field(default_factory=list)
    vectors: list[FloatArray] = field(default_factory=list)


class LivenessService:
    def __init__(
        self,
        store: SqlLivenessStore,
        measurer: FrameMeasurer,
        pipeline: FacePipeline,
        config: LivenessConfig,
        antispoof: PassiveAntiSpoof | None = None,
        audit: AuditSink | None = None,
        cipher: Callable[[], Cipher | None] | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.store = store
        self.measurer = measurer
        self.pipeline = pipeline
        self.config = config
        self.antispoof = antispoof
        self.audit = audit
        self._cipher = cipher or (lambda: None)
        self.clock = clock

    # ---- public API ------------------------------------------------------------------------------
    def draw_steps(self) -> tuple[Step, ...]:
        """A random order of steps (``fixed_steps`` only when configured for tests)."""
        c = self.config
        if c.fixed_steps:
            return c.fixed_steps
        rng = secrets.SystemRandom()
        choices = list(c.step_choices)
        if c.step_count <= len(choices):
            return tuple(rng.sample(choices, c.step_count))
        steps: list[Step] = []
        while len(steps) < c.step_count:
            s = rng.choice(choices)
            if not steps or s is not steps[-1]:
                steps.append(s)
        return tuple(steps)

    def draw_paced(self) -> tuple[Step, ...]:
        c = self.config
        return c.fixed_steps or draw_paced_steps(c.paced_choices, c.paced_steps)

    def create_session(
        self,
        person_id: int | None = None,
        actor: str | None = None,
        steps: Sequence[Step] | None = None,
        mode: str = PACED,
    ) -> LivenessSession:
        """Open a challenge. ``steps`` overrides the random draw (trusted local callers only:
        the CLI's ``--steps``); the HTTP API never passes it.

        ``paced`` (default): the steps are revealed one at a time at random moments while the
        client streams frames (``facegate.core.liveness.paced``); only such sessions can be
        consumed. ``offline``: all steps known up front, for checking a recording.
        """
        now = self.clock()
        if mode not in (PACED, OFFLINE):
            raise InvalidStepsError(f"unknown liveness mode {mode!r}")
        if mode == PACED:
            chosen = tuple(steps) if steps else self.draw_paced()
            pacing: dict[str, Any] | None = Pacing(
                delays=tuple(draw_delays(len(chosen), self.config.paced))
            ).to_json()
        else:
            chosen = tuple(steps) if steps else self.draw_steps()
            pacing = None
        row = LivenessSessionRecord(
            id=secrets.token_urlsafe(18),
            nonce=secrets.token_urlsafe(24),
            mode=mode,
            pacing=pacing,
            steps=[s.value for s in chosen],
            limits=self._limits(),
            status=PENDING,
            person_id=person_id,
            actor=actor,
            created_at=now,
            expires_at=now + timedelta(seconds=self.config.session_ttl_s),
            frame_count=0,
            frames=[],
            samples=[],
            embedding_model=self.pipeline.model_name,
            version=1,
        )
        self.store.insert(row)
        return self._view(row)

    def get_session(self, session_id: str) -> LivenessSession:
        return self._view(self.store.load(session_id))

    def add_frames(
        self,
        session_id: str,
        frames: Sequence[TimedFrame],
        final: bool = False,
        nonce: str | None = None,
    ) -> LivenessSession:
        """Measure a batch of frames and decide the session from every frame received so far.

        Refused (nothing written): a wrong ``nonce`` (403; the HTTP API always passes the one the
        client got at creation, in-process callers may pass None), a decided/consumed session
        (409), an expired one (410), an empty or oversized batch, timestamps that are not
        strictly increasing (also across batches) or at an implausible rate (422). ``final``: no
        more frames will come, so a challenge still pending fails.
        """
        row = self.store.load(session_id)
        if nonce is not None and not hmac.compare_digest(nonce.encode(), row.nonce.encode()):
            raise PermissionDeniedError(f"wrong nonce for liveness session '{session_id}'")
        self._check_open(row)
        c = self.config
        if len(frames) > c.max_batch_frames:
            raise TooManyFramesError(f"{len(frames)} frames in one batch; at most {c.max_batch_frames}")
        if row.frame_count + len(frames) > c.max_frames:
            raise TooManyFramesError(f"a session takes at most {c.max_frames} frames")
        if frames or not final:
            validate_timestamps([f.timestamp_ms for f in frames], c.challenge, row.last_timestamp_ms)
        pacing: Pacing | None = None
        times = [f.timestamp_ms for f in frames]
        if row.mode == PACED and row.pacing is not None and frames:
            try:
                pacing, times = map_batch(
                    Pacing.from_json(row.pacing), times, self._elapsed_ms(row), c.paced
                )
            except ClockDisagreement as exc:
                return self._fail(row, f"client clock disagrees with the server: {exc}")
        batch = self._measure(row, frames, times)
        decided: list[LivenessSessionRecord] = []

        def change(current: LivenessSessionRecord) -> dict[str, Any]:
            if current.version != row.version:
                raise ConflictError(f"liveness session '{session_id}' changed meanwhile; retry")
            values = self._apply(current, batch, final, pacing)
            if values["status"] != PENDING:
                decided.append(current)
            return values

        updated = self.store.modify(session_id, change)
        if decided:
            self._audit_decision(updated)
        return self._view(updated)

    def check_recording(
        self,
        frames: Iterable[TimedFrame],
        steps: Sequence[Step] | None = None,
        person_id: int | None = None,
        actor: str | None = None,
        batch_size: int = 30,
    ) -> LivenessSession:
        """OFFLINE mode: run a whole challenge over recorded frames (``facegate liveness
        check-offline``): open an offline session, add the frames in batches until it is
        decided, then finish it. ``steps`` as in ``create_session``. A recording cannot react,
        so such a session is never accepted by ``consume_passed`` (login, lockers).
        """
        session = self.create_session(person_id=person_id, actor=actor, steps=steps, mode=OFFLINE)
        batch: list[TimedFrame] = []
        for frame in frames:
            batch.append(frame)
            if len(batch) >= min(batch_size, self.config.max_batch_frames):
                session = self.add_frames(session.id, batch)
                batch = []
                if session.status != PENDING:
                    return session
        return self.add_frames(session.id, batch, final=True)

    def consume_passed(
        self, session_id: str, person_id: int | None = None, actor: str | None = None
    ) -> LivenessProof:
        """Use a passed session once; returns the mean embedding of the face that passed.

        Call this from any flow that needs a live face (web login, lockers): the session must be
        ``passed``, not yet consumed and consumed within ``pass_ttl_s`` of passing. When the
        session was created for a person and ``person_id`` is given, they must match. The
        session is marked consumed in the same transaction that checks it (single use even
        across server processes); a refused attempt on a passed session consumes it too.
        Compare ``proof.embedding`` with the claimed person's templates before granting access.
        """
        now = self.clock()
        refusal: list[FaceGateError] = []

        def change(row: LivenessSessionRecord) -> dict[str, Any] | None:
            if row.mode != PACED:
                raise PermissionDeniedError(
                    f"liveness session '{session_id}' checked a recording (offline mode): "
                    "it can never be used to authenticate"
                )
            if row.status == CONSUMED:
                raise ConflictError(f"liveness session '{session_id}' was already used")
            if row.status != PASSED:
                raise ConflictError(f"liveness session '{session_id}' has not passed ({row.status})")
            assert row.decided_at is not None
            if now > row.decided_at + timedelta(seconds=self.config.pass_ttl_s):
                refusal.append(SessionExpiredError(f"liveness session '{session_id}' pass expired"))
            elif person_id is not None and row.person_id is not None and row.person_id != person_id:
                refusal.append(
                    PermissionDeniedError(f"liveness session '{session_id}' is bound to another person")
                )
            return {"status": CONSUMED, "consumed_at": now}

        row = self.store.modify(session_id, change)
        decision = "refused" if refusal else "ok"
        self._record(
            AuditEvent(
                action="liveness.consume",
                decision=decision,
                actor=actor,
                subject=None if row.person_id is None else str(row.person_id),
                details={"session": session_id, "reason": refusal[0].message if refusal else None},
            )
        )
        if refusal:
            raise refusal[0]
        assert row.mean_blob is not None and row.decided_at is not None
        vector = self._decrypt(row.key_id, row.mean_blob, mean_aad(row.id, row.person_id))
        return LivenessProof(
            session_id=row.id,
            person_id=row.person_id,
            embedding=Embedding(vector, row.embedding_model or self.pipeline.model_name),
            passed_at=row.decided_at,
        )

    # ---- internals -------------------------------------------------------------------------------
    def _limits(self) -> dict[str, Any]:
        o, c = self.config.challenge, self.config
        return {
            "step_time_limit_ms": o.step_time_limit_ms,
            "total_time_limit_ms": o.total_time_limit_ms,
            "session_ttl_s": c.session_ttl_s,
            "max_fps": o.max_fps,
            "max_frame_gap_ms": o.max_frame_gap_ms,
            "max_batch_frames": c.max_batch_frames,
            "max_frames": c.max_frames,
            "turn_angle_deg": o.turn_angle_deg,
            "reaction_max_ms": c.paced.reaction_max_ms,
            "action_max_ms": c.paced.action_max_ms,
            "max_lag_ms": c.paced.max_lag_ms,
        }

    def _check_open(self, row: LivenessSessionRecord) -> None:
        if row.status != PENDING:
            raise ConflictError(f"liveness session '{row.id}' is already {row.status}")
        if self.clock() > row.expires_at:

            def expire(current: LivenessSessionRecord) -> dict[str, Any] | None:
                if current.status != PENDING:
                    return None
                return {"status": EXPIRED, "reason": "session expired", "decided_at": self.clock()}

            expired = self.store.modify(row.id, expire)
            if expired.version != row.version:
                self._audit_decision(expired)
            raise SessionExpiredError(f"liveness session '{row.id}' expired at {row.expires_at}")

    def _measure(
        self, row: LivenessSessionRecord, frames: Sequence[TimedFrame], times: Sequence[int]
    ) -> _Batch:
        """Measure every frame (at ``times``: server ms for paced sessions); embed (and
        passively score) about one near-frontal face per interval: the same-face check compares
        only near-frontal faces, so a genuine strong turn does not look like another person.
        """
        batch = _Batch()
        lim = self.config.frontal_max_deg
        last_sample_t = row.samples[-1]["t"] if row.samples else None
        chosen: list[tuple[int, TimedFrame, DetectedFace]] = []
        last_ok: tuple[int, TimedFrame, DetectedFace] | None = None
        for i, frame in enumerate(frames):
            m, face = self.measurer.measure(frame.image, row.frame_count + i, times[i])
            batch.frames.append({**m.to_json(), "c": frame.timestamp_ms})
            if face is None or not m.ok or abs(m.yaw) > lim or abs(m.pitch) > 1.25 * lim:
                continue
            last_ok = (m.index, frame, face)
            if last_sample_t is None or frame.timestamp_ms - last_sample_t >= self.config.embed_interval_ms:
                chosen.append(last_ok)
                last_sample_t = frame.timestamp_ms
        if last_ok is not None and (not chosen or chosen[-1][0] != last_ok[0]):
            chosen.append(last_ok)
        for index, frame, face in chosen:
            analyzed = self.pipeline.analyze_face(frame.image, face)
            assert analyzed.embedding is not None
            passive = (
                self.antispoof.score_face(frame.image, face).score if self.antispoof else None
            )
            batch.samples.append({"i": index, "t": frame.timestamp_ms, "passive": passive})
            batch.vectors.append(analyzed.embedding.vector)
        return batch

    def _apply(
        self, row: LivenessSessionRecord, batch: _Batch, final: bool, pacing: Pacing | None = None
    ) -> dict[str, Any]:
        frames = list(row.frames) + batch.frames
        samples = list(row.samples) + batch.samples
        parts = [self._samples_matrix(row), *(v.reshape(1, -1) for v in batch.vectors)]
        parts = [p for p in parts if len(p)]
        vectors = np.vstack(parts) if parts else np.zeros((0, 0), dtype=np.float32)
        status, reason, steps_json, pacing_json = self._decide(row, frames, final, pacing)
        min_sim, where = lowest_similarity(vectors, samples)
        passive = mean_passive(samples)
        if min_sim is not None and min_sim < self.config.match_threshold:
            status = FAILED
            reason = (
                f"the face changed: similarity {min_sim:.3f} below {self.config.match_threshold:.3f} "
                f"between frames {samples[0]['i']} and {where}"
            )
        elif (
            status == PASSED
            and self.config.passive_required
            and self.antispoof
            and (passive is None or passive < self.antispoof.model.threshold)
        ):
            status, reason = FAILED, f"passive anti-spoof score {passive} below threshold"
        elif status == PASSED and not samples:
            status, reason = FAILED, "no near-frontal frame of the face to check it is one person"
        values: dict[str, Any] = {
            "frames": frames,
            "samples": samples,
            "frame_count": len(frames),
            "last_timestamp_ms": frames[-1].get("c", frames[-1]["t"]) if frames else row.last_timestamp_ms,
            "status": status,
            "reason": reason,
            "pacing": pacing_json,
            "evidence": {
                "steps": steps_json,
                "min_similarity": None if min_sim is None else round(min_sim, 4),
                "passive_score": None if passive is None else round(passive, 4),
                "samples": len(samples),
            },
        }
        cipher = self._cipher()
        if len(vectors):
            key_id, blob = encrypt_vectors(cipher, vectors, samples_aad(row.id))
            values.update(key_id=key_id, sample_blob=blob)
            if status == PASSED:
                mean = vectors.mean(axis=0)
                mean = (mean / max(float(np.linalg.norm(mean)), 1e-12)).astype(np.float32)
                _, mean_blob = encrypt_vectors(cipher, mean, mean_aad(row.id, row.person_id))
                values["mean_blob"] = mean_blob
        if status != PENDING:
            values["decided_at"] = self.clock()
        return values

    def _decide(
        self, row: LivenessSessionRecord, frames: list[dict[str, Any]], final: bool, pacing: Pacing | None
    ) -> tuple[str, str | None, list[dict[str, Any]], dict[str, Any] | None]:
        """Status, reason, per-step evidence and (paced) the new pacing state."""
        measured = [FrameMeasurement.from_json(f) for f in frames]
        if row.mode == PACED and row.pacing is not None:
            state = pacing or Pacing.from_json(row.pacing)
            steps = tuple(Action(a) for a in row.steps)
            d = evaluate_paced(steps, measured, state, self.config.paced, self._elapsed_ms(row), final)
            status = {"passed": PASSED, "failed": FAILED}.get(d.status, PENDING)
            return status, d.reason, paced_evidence(d), d.pacing.to_json()
        result = evaluate_challenge(
            tuple(Step(s) for s in row.steps), measured, self.config.challenge, final
        )
        status, reason = status_of(result)
        return status, reason, [e.to_json() for e in result.steps], None

    def _elapsed_ms(self, row: LivenessSessionRecord) -> int:
        """Server milliseconds since the session was opened."""
        return round((self.clock() - row.created_at).total_seconds() * 1000)

    def _fail(self, row: LivenessSessionRecord, reason: str) -> LivenessSession:
        def change(current: LivenessSessionRecord) -> dict[str, Any]:
            if current.version != row.version:
                raise ConflictError(f"liveness session '{row.id}' changed meanwhile; retry")
            return {"status": FAILED, "reason": reason, "decided_at": self.clock()}

        updated = self.store.modify(row.id, change)
        self._audit_decision(updated)
        return self._view(updated)

    def _samples_matrix(self, row: LivenessSessionRecord) -> FloatArray:
        if row.sample_blob is None or not row.samples:
            return np.zeros((0, 0), dtype=np.float32)
        flat = self._decrypt(row.key_id, row.sample_blob, samples_aad(row.id))
        return flat.reshape(max(len(row.samples), 1), -1)

    def _decrypt(self, key_id: str | None, blob: bytes, aad: bytes) -> FloatArray:
        return decrypt_vectors(self._cipher() if key_id is not None else None, key_id, blob, aad)

    def _view(self, row: LivenessSessionRecord) -> LivenessSession:
        return session_view(row, self.clock())

    def _audit_decision(self, row: LivenessSessionRecord) -> None:
        self._record(decision_event(row))

    def _record(self, event: AuditEvent) -> None:
        if self.audit is not None:
            self.audit.record(event)


__all__ = [
    "CONSUMED",
    "EXPIRED",
    "FAILED",
    "OFFLINE",
    "PACED",
    "PASSED",
    "PENDING",
    "FrameTimingError",
    "LivenessConfig",
    "LivenessProof",
    "LivenessService",
    "LivenessSession",
    "SessionExpiredError",
    "TimedFrame",
    "TooManyFramesError",
    "build_liveness_config",
]
