"""``WS /v1/stream``: authenticate the device, then run the stream loop (``facegate.features.access.server``).

Credentials: ``Authorization: Bearer <device token or API key>`` or ``X-API-Key: <key>``, holding
the ``stream`` scope (checked by ``facegate.core.http.authenticate``, like every /v1 route). A refused
connection gets an ``error`` message, then close code 4401 (no valid credential) or 4403 (no
``stream`` scope). The wire format is documented in ``facegate.features.access.protocol``.
"""

from __future__ import annotations

from contextlib import suppress
from typing import Any

import anyio
from fastapi import APIRouter, WebSocket
from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocketDisconnect

from facegate.core.auth.principal import SCOPE_STREAM
from facegate.core.errors import AuthError, PermissionDeniedError
from facegate.core.http import authenticate
from facegate.features.access.messages import hello_message
from facegate.features.access.protocol import CLOSE_FORBIDDEN, CLOSE_UNAUTHORIZED, error_message
from facegate.features.access.server import StreamLoop

router = APIRouter(prefix="/v1", tags=["stream"])


class _StarletteSocket:
    def __init__(self, ws: WebSocket) -> None:
        self.ws = ws

    async def receive_message(self) -> bytes | str | None:
        try:
            msg = await self.ws.receive()
        except (WebSocketDisconnect, RuntimeError):
            return None
        if msg["type"] == "websocket.disconnect":
            return None
        data: bytes | str | None = msg.get("bytes")
        return data if data is not None else msg.get("text") or ""

    async def send_json(self, data: dict[str, Any]) -> None:
        await self.ws.send_json(data)


@router.websocket("/stream")
async def stream(websocket: WebSocket) -> None:
    """Binary frames in (header + JPEG), one JSON result per processed frame out."""
    container: Any = websocket.app.state.container
    await websocket.accept()
    try:
        caller = await authenticate(websocket, SCOPE_STREAM)
        actor = caller.name
        groups = caller.groups  # the groups of people this door admits (None: every group)
        access = await run_in_threadpool(lambda: container.access)  # first use loads the models
        await websocket.send_json(hello_message(actor, access.options.required_frames, groups))
    except (AuthError, PermissionDeniedError) as exc:
        close = CLOSE_UNAUTHORIZED if isinstance(exc, AuthError) else CLOSE_FORBIDDEN
        with suppress(WebSocketDisconnect, RuntimeError):
            await websocket.send_json(error_message(exc.code, exc.message))
            await websocket.close(code=close, reason=exc.message)
        return
    except WebSocketDisconnect:
        return
    loop = StreamLoop(
        _StarletteSocket(websocket),
        access.open_session(actor, groups),
        container.settings.stream_max_frame_bytes,
        _workers(websocket, container.settings.stream_workers),
    )
    await loop.run()


def _workers(websocket: WebSocket, count: int) -> anyio.CapacityLimiter:
    """One limiter per app: at most ``count`` frames are processed at once, over all connections."""
    state = websocket.app.state
    if getattr(state, "stream_workers", None) is None:
        state.stream_workers = anyio.CapacityLimiter(count)
    limiter: anyio.CapacityLimiter = state.stream_workers
    return limiter
