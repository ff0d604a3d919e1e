"""The server side of one stream connection: receive everything, process only the newest frame.

A receive task reads every message as soon as it arrives and puts valid frames into a one-slot
``LatestFrame`` (a newer frame replaces a waiting one, which counts as dropped); a worker task takes
the newest frame, processes it in a thread and answers. The server therefore holds at most one
waiting frame per connection, whatever the client's frame rate, and latency stays bounded by about
two processing times. Bad frames get an ``error`` message; the connection stays open.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Protocol

import anyio.to_thread

from facegate.core.errors import FaceGateError
from facegate.features.access.decisions import AccessSession
from facegate.features.access.messages import result_message
from facegate.features.access.protocol import (
    StreamFrame,
    decode_frame,
    error_message,
    frame_number_of,
)

log = logging.getLogger("facegate.stream")


class FrameSocket(Protocol):
    """What the loop needs from a WebSocket (the route adapts Starlette's)."""

    async def receive_message(self) -> bytes | str | None:
        """The next message; None once the peer has gone."""
        ...

    async def send_json(self, data: dict[str, Any]) -> None: ...


class LatestFrame:
    """A one-frame mailbox: ``put`` replaces what is waiting; ``take`` waits for the newest."""

    def __init__(self) -> None:
        self._frame: StreamFrame | None = None
        self._ready = asyncio.Event()
        self._closed = False
        self.dropped = 0
        self.received = 0

    def put(self, frame: StreamFrame) -> None:
        if self._frame is not None:
            self.dropped += 1
        self._frame = frame
        self.received += 1
        self._ready.set()

    def close(self) -> None:
        """The client has gone: a waiting frame is discarded, ``wait`` returns False."""
        if self._frame is not None:
            self.dropped += 1
            self._frame = None
        self._closed = True
        self._ready.set()

    async def wait(self) -> bool:
        """Wait until a frame is waiting (True) or the slot is closed and empty (False)."""
        while self._frame is None:
            if self._closed:
                return False
            self._ready.clear()
            await self._ready.wait()
        return True

    def take_nowait(self) -> StreamFrame | None:
        frame, self._frame = self._frame, None
        return frame

    async def take(self) -> StreamFrame | None:
        return self.take_nowait() if await self.wait() else None


class StreamLoop:
    """Runs one connection until the client goes away."""

    def __init__(
        self,
        socket: FrameSocket,
        session: AccessSession,
        max_frame_bytes: int,
        workers: anyio.CapacityLimiter | None = None,
    ) -> None:
        self.socket = socket
        self.session = session
        self.max_frame_bytes = max_frame_bytes
        self.workers = workers or anyio.CapacityLimiter(1)
        self.slot = LatestFrame()
        self._send_lock = asyncio.Lock()
        self._dropped_reported = 0
        self.processed = 0

    async def run(self) -> None:
        worker = asyncio.create_task(self._work())
        try:
            await self._receive()
        finally:
            self.slot.close()
            await worker

    async def send(self, data: dict[str, Any]) -> bool:
        """Send a message; False when the peer is gone."""
        try:
            async with self._send_lock:
                await self.socket.send_json(data)
            return True
        except Exception:  # the socket closed under us: nothing left to tell
            return False

    async def _receive(self) -> None:
        while True:
            message = await self.socket.receive_message()
            if message is None:
                return
            if isinstance(message, str):
                await self.send(
                    error_message("bad_frame", "frames must be binary messages (see the wire format)")
                )
                continue
            try:
                header, jpeg = decode_frame(message, self.max_frame_bytes)
            except FaceGateError as exc:
                await self.send(error_message(exc.code, exc.message, frame_number_of(message)))
                continue
            self.slot.put(StreamFrame(header, jpeg, time.monotonic()))

    async def _work(self) -> None:
        while await self.slot.wait():
            # the frame is taken only once a processing slot (shared by all connections) is ours,
            # so a frame that went stale while waiting for the slot has been replaced by then
            async with self.workers:
                frame = self.slot.take_nowait()
                if frame is None:
                    continue
                h = frame.header
                try:
                    outcome = await anyio.to_thread.run_sync(
                        self.session.process_jpeg, frame.jpeg, h.camera, h.frame
                    )
                except Exception as exc:
                    reply = self._error_reply(exc, h.frame)
                else:
                    self.processed += 1
                    dropped = self.slot.dropped - self._dropped_reported
                    self._dropped_reported = self.slot.dropped
                    reply = result_message(h, outcome, dropped)
            if not await self.send(reply):
                return

    @staticmethod
    def _error_reply(exc: Exception, frame: int) -> dict[str, Any]:
        if isinstance(exc, FaceGateError):
            message = exc.message if exc.message.startswith("frame") else f"frame {frame}: {exc.message}"
            return error_message(exc.code, message, frame)
        log.error("stream frame %s failed", frame, exc_info=exc)
        return error_message("internal_error", "internal server error", frame)
