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

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, UploadFile
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from facegate.core.auth.principal import SCOPE_LIVENESS, Principal
from facegate.core.http import ContainerDep, read_upload, require_scope
from facegate.core.liveness.challenge import FrameTimingError
from facegate.core.liveness.service import LivenessSession, TimedFrame, TooManyFramesError
from facegate.core.liveness.timestamps import parse_timestamps
from facegate.core.ratelimit.deps import rate_limit
from facegate.core.vision.images import check_request_budget, decode_labeled

router = APIRouter(prefix="/v1/liveness", tags=["liveness"])
Caller = Annotated[Principal, require_scope(SCOPE_LIVENESS)]


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


@router.post(
    "/sessions", response_model=LivenessSessionOut, status_code=201,
    dependencies=[rate_limit("liveness")],
)
async def create_session(container: ContainerDep, caller: Caller) -> LivenessSessionOut:
    """Start a challenge: perform ``steps`` in order, each within the step time limit."""
    session = await run_in_threadpool(  # the first call builds the service (loads the models)
        lambda: container.liveness.create_session(None, caller.name)
    )
    return LivenessSessionOut.of(session, with_nonce=True)


@router.post("/sessions/{session_id}/frames", response_model=LivenessSessionOut)
async def add_frames(
    session_id: str,
    container: ContainerDep,
    caller: Caller,
    frames: list[UploadFile] = File(..., description="Frames (JPEG/PNG) in capture order"),
    timestamps: str = Form(..., description="JSON array of capture times in ms, one per frame"),
    nonce: str = Form(..., description="The nonce returned when the session was created"),
    final: bool = Form(False, description="True when no more frames will come"),
) -> LivenessSessionOut:
    """Add a batch of timestamped frames; the server measures them and decides."""
    service = await run_in_threadpool(lambda: container.liveness)  # first use loads the models
    if len(frames) > service.config.max_batch_frames:
        raise TooManyFramesError(
            f"{len(frames)} frames in one batch; at most {service.config.max_batch_frames}"
        )
    times = [round(t) for t in parse_timestamps(timestamps, len(frames), error=FrameTimingError)]
    limits = container.frame_limits
    blobs = [(f.filename or f"frame {i}", await read_upload(f, limits.max_bytes))
             for i, f in enumerate(frames)]

    def decode_and_add() -> LivenessSession:  # in the thread pool: decoding blocks
        check_request_budget(blobs, limits, "frames")  # headers only, before decoding
        batch = [TimedFrame(decode_labeled(d, limits, label), t)
                 for (label, d), t in zip(blobs, times, strict=True)]
        return service.add_frames(session_id, batch, final, nonce)

    return LivenessSessionOut.of(await run_in_threadpool(decode_and_add))


@router.get("/sessions/{session_id}", response_model=LivenessSessionOut)
async def get_session(session_id: str, container: ContainerDep, caller: Caller) -> LivenessSessionOut:
    session = await run_in_threadpool(lambda: container.liveness.get_session(session_id))
    return LivenessSessionOut.of(session)
