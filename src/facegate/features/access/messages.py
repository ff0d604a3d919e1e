"""JSON messages the server sends for processed frames (see ``facegate.features.access.protocol``)."""

from __future__ import annotations

from typing import Any

from facegate.features.access.decisions import AccessDecision, FaceVerdict, FrameOutcome
from facegate.features.access.protocol import PROTOCOL_VERSION, FrameHeader


def face_json(v: FaceVerdict) -> dict[str, Any]:
    f = v.face.face
    return {
        "box": f.box.as_list(),
        "score": round(f.score, 4),
        "landmarks": f.landmarks.as_list(),
        "person": v.person,
        "name": v.name,
        "similarity": None if v.similarity is None else round(v.similarity, 4),
        "allowed": v.allowed,
    }


def decision_json(d: AccessDecision) -> dict[str, Any]:
    return {
        "status": d.status,
        "reason": d.reason,
        "person": d.person,
        "name": d.name,
        "similarity": None if d.similarity is None else round(d.similarity, 4),
        "streak": d.streak,
        "required": d.required,
        "liveness": d.liveness.to_json() if d.liveness else None,
    }


def result_message(header: FrameHeader, outcome: FrameOutcome, dropped: int) -> dict[str, Any]:
    return {
        "type": "result",
        "frame": header.frame,
        "ts": header.ts,
        "camera": header.camera,
        "faces": [face_json(v) for v in outcome.faces],
        "decision": decision_json(outcome.decision),
        "logged": outcome.logged,
        "processing_ms": round(outcome.processing_ms, 2),
        "dropped": dropped,
    }


def hello_message(
    actor: str, required_frames: int, groups: frozenset[str] | None = None
) -> dict[str, Any]:
    """``groups``: the groups of people this stream admits (null: every group; []: nobody yet)."""
    return {
        "type": "hello",
        "protocol": PROTOCOL_VERSION,
        "device": actor,
        "required_frames": required_frames,
        "groups": None if groups is None else sorted(groups),
    }
