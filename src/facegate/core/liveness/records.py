"""Pure helpers of the liveness service over its stored rows: the public view of a session
(paced sessions show only the steps revealed so far), its audit event, the sampled embeddings
(encrypted with the template cipher when the store has one; bound to the session by AAD) and the
small reductions the decision uses."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

import numpy as np

from facegate.core.domain import AuditEvent, FloatArray
from facegate.core.errors import ConflictError
from facegate.core.liveness.challenge import ChallengeResult, ChallengeStatus, Step
from facegate.core.liveness.types import (
    EXPIRED,
    FAILED,
    PACED,
    PASSED,
    PENDING,
    LivenessSession,
    evidence_from_json,
)
from facegate.core.matching.similarity import cosine_similarity
from facegate.core.store.liveness_models import LivenessSessionRecord


class Cipher(Protocol):
    """The part of ``facegate.core.store.crypto.TemplateCipher`` used here."""

    @property
    def current_key_id(self) -> str: ...

    def encrypt(self, vector: FloatArray, aad: bytes) -> tuple[str, bytes]: ...

    def decrypt(self, key_id: str, blob: bytes, aad: bytes) -> FloatArray: ...


def session_view(row: LivenessSessionRecord, now: datetime) -> LivenessSession:
    status = row.status
    reason = row.reason
    if status == PENDING and now > row.expires_at:
        status, reason = EXPIRED, "session expired"
    ev = row.evidence or {}
    steps = tuple(Step(s) for s in row.steps)
    evidence = tuple(evidence_from_json(e) for e in ev.get("steps", []))
    if row.mode == PACED:  # only what was revealed: the rest is the server's secret
        shown = len((row.pacing or {}).get("reveals", []))
        steps, evidence = steps[:shown], evidence[:shown]
    return LivenessSession(
        id=row.id,
        nonce=row.nonce,
        steps=steps,
        mode=row.mode,
        steps_total=len(row.steps),
        status=status,
        reason=reason,
        limits=dict(row.limits),
        created_at=row.created_at,
        expires_at=row.expires_at,
        frame_count=row.frame_count,
        person_id=row.person_id,
        evidence=evidence,
        min_similarity=ev.get("min_similarity"),
        passive_score=ev.get("passive_score"),
        decided_at=row.decided_at,
    )


def decision_event(row: LivenessSessionRecord) -> AuditEvent:
    ev = row.evidence or {}
    return AuditEvent(
        action="liveness",
        decision=row.status,
        actor=row.actor,
        subject=None if row.person_id is None else str(row.person_id),
        score=ev.get("min_similarity"),
        details={
            "session": row.id,
            "steps": row.steps,
            "reason": row.reason,
            "frames": row.frame_count,
            "passive_score": ev.get("passive_score"),
        },
    )


def lowest_similarity(
    vectors: FloatArray, samples: list[dict[str, Any]]
) -> tuple[float | None, int | None]:
    """Lowest similarity of any sample with the first one, and that sample's frame."""
    if len(vectors) < 2:
        return None, None
    sims = [cosine_similarity(vectors[0], v) for v in vectors[1:]]
    k = int(np.argmin(sims))
    return float(sims[k]), int(samples[k + 1]["i"])


def encrypt_vectors(cipher: Cipher | None, data: FloatArray, aad: bytes) -> tuple[str | None, bytes]:
    if cipher is None:
        return None, np.asarray(data, dtype="<f4").tobytes()
    return cipher.encrypt(np.asarray(data, dtype=np.float32).reshape(-1), aad)


def decrypt_vectors(cipher: Cipher | None, key_id: str | None, blob: bytes, aad: bytes) -> FloatArray:
    if key_id is None:
        return np.frombuffer(blob, dtype="<f4").astype(np.float32)
    if cipher is None:
        raise ConflictError("this session's embeddings are encrypted but no cipher is configured")
    return cipher.decrypt(key_id, blob, aad)


def status_of(result: ChallengeResult) -> tuple[str, str | None]:
    if result.status is ChallengeStatus.PASSED:
        return PASSED, None
    if result.status is ChallengeStatus.FAILED:
        return FAILED, result.reason
    return PENDING, None


def mean_passive(samples: list[dict[str, Any]]) -> float | None:
    scores = [s["passive"] for s in samples if s.get("passive") is not None]
    return float(np.mean(scores)) if scores else None


def samples_aad(session_id: str) -> bytes:
    return f"facegate-liveness-samples:v1:{session_id}".encode()


def mean_aad(session_id: str, person_id: int | None) -> bytes:
    return f"facegate-liveness-mean:v1:{session_id}:{person_id}".encode()
