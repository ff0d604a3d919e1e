"""Liveness challenge sessions over HTTP (server-paced).

* ``POST /v1/liveness/sessions`` → id, nonce, ``steps_total``, limits, expiry; ``steps`` is
  empty: the server reveals one step at a time. The nonce is returned only here; it authorises
  the frame uploads of this session.
* Stream frames while filming (a batch every ~0.3 s); each answer carries ``current_step`` and
  ``instruction`` when a step is shown (at a random moment). Start it within the reaction limit
  (``limits.reaction_max_ms``), finish within ``limits.action_max_ms``. Timing is the server's:
  frames must arrive while they are captured (``limits.max_lag_ms``).
* ``POST /v1/liveness/sessions/{id}/frames`` (multipart): ``frames`` = JPEG/PNG files in capture
  order, ``timestamps`` = a JSON array of capture times in milliseconds (one per frame, strictly
  increasing, also across batches), ``nonce``, optional ``final=true`` when no more frames come.
  Returns the session state after the batch (``pending`` until decided).
* ``GET /v1/liveness/sessions/{id}`` → state, reason, per-step evidence.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, File, Form, UploadFile
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from facegate.core.http import ContainerDep, read_upload
from facegate.core.liveness.challenge import FrameTimingError
from facegate.core.liveness.service import LivenessSession, TimedFrame, TooManyFramesError
from facegate.core.vision.images import decode_labeled

router = APIRouter(prefix="/v1/liveness", tags=["liveness"])


class StepEvidenceOut(BaseModel):
    step: str
    done: bool
    start_frame: int | None
    peak_frame: int | None
    end_frame: int | None
    value: float | None
    reference: float | None
    threshold: float | None
    elapsed_ms: int | None
    revealed_ms: int | None = None
    reaction_ms: int | None = None


class LivenessSessionOut(BaseModel):
    id: str
    nonce: str | None = None  # only in the creation response
    steps: list[str]
    status: str
    reason: str | None
    limits: dict[str, Any]
    created_at: str
    expires_at: str
    frame_count: int
    evidence: list[StepEvidenceOut]
    min_similarity: float | None
    passive_score: float | None
    mode: str
    steps_total: int
    current_step: str | None
    instruction: str | None

    @classmethod
    def of(cls, s: LivenessSession, with_nonce: bool = False) -> LivenessSessionOut:
        d = s.to_json()
        d.pop("person_id", None)
        if not with_nonce:
            d["nonce"] = None
        return cls(**d)


def parse_timestamps(text: str, count: int) -> list[int]:
    """The ``timestamps`` field: a JSON array of ``count`` numbers (milliseconds)."""
    try:
        values = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FrameTimingError(f"timestamps: not a JSON array ({exc.msg})") from exc
    if not isinstance(values, list) or not all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in values
    ):
        raise FrameTimingError("timestamps: must be a JSON array of numbers (milliseconds)")
    if len(values) != count:
        raise FrameTimingError(f"timestamps: {len(values)} values for {count} frames")
    return [round(v) for v in values]


@router.post("/sessions", response_model=LivenessSessionOut, status_code=201)
async def create_session(container: ContainerDep) -> LivenessSessionOut:
    """Start a challenge: perform ``steps`` in order, each within the step time limit."""
    session = await run_in_threadpool(container.liveness.create_session, None, "api")
    return LivenessSessionOut.of(session, with_nonce=True)


@router.post("/sessions/{session_id}/frames", response_model=LivenessSessionOut)
async def add_frames(
    session_id: str,
    container: ContainerDep,
    frames: list[UploadFile] = File(..., description="Frames (JPEG/PNG) in capture order"),
    timestamps: str = Form(..., description="JSON array of capture times in ms, one per frame"),
    nonce: str = Form(..., description="The nonce returned when the session was created"),
    final: bool = Form(False, description="True when no more frames will come"),
) -> LivenessSessionOut:
    """Add a batch of timestamped frames; the server measures them and decides."""
    service = container.liveness
    if len(frames) > service.config.max_batch_frames:
        raise TooManyFramesError(
            f"{len(frames)} frames in one batch; at most {service.config.max_batch_frames}"
        )
    times = parse_timestamps(timestamps, len(frames))
    limit = container.settings.max_upload_bytes
    datas = [await read_upload(f, limit) for f in frames]
    labels = [f.filename or f"frame {i}" for i, f in enumerate(frames)]
    images = [
        decode_labeled(d, container.image_limits, label)
        for d, label in zip(datas, labels, strict=True)
    ]
    batch = [TimedFrame(img, t) for img, t in zip(images, times, strict=True)]
    session = await run_in_threadpool(service.add_frames, session_id, batch, final, nonce)
    return LivenessSessionOut.of(session)


@router.get("/sessions/{session_id}", response_model=LivenessSessionOut)
async def get_session(session_id: str, container: ContainerDep) -> LivenessSessionOut:
    session = await run_in_threadpool(container.liveness.get_session, session_id)
    return LivenessSessionOut.of(session)
