"""The resilient stream client behind ``facegate client``.

* captures from a camera index or a video file (played at its own frame rate), scales frames to
  ``width`` pixels and JPEG-compresses them (``jpeg_quality``);
* a connection task connects to ``/v1/stream`` with a device token, sends the newest encoded frame
  (a frame not sent before the next one is ready is replaced, never queued) and reads results;
  when the connection fails it reconnects by itself with exponential backoff (``backoff_initial_s``
  doubling up to ``backoff_max_s``, with jitter) and resumes with the next frame; bad credentials
  (close code 4401) stop the client instead;
* every displayed frame is annotated: with the server's faces and names when its latest answer is
  about a frame sent at most ``late_ms`` ago; otherwise with boxes from a **local YuNet detector**
  (so boxes keep following faces when the server is slow or away), plus the last decision banner
  "ACCESS GRANTED: name" / "ACCESS DENIED" (a settled denial only) / a neutral "CHECKING..." while
  a recognised face is still being confirmed / "LOOK AT THE CAMERA" when no face is in view;
* a server it cannot reach is reported on stderr after ``warn_after_s`` (the client keeps retrying,
  drawing local boxes); a run that ends without ever reaching it (end of the video, ``q``, or
  ``give_up_after_s``) is an error (``ServerUnreachableError``: ``facegate client`` exits 2 with
  the URL and the reason); Ctrl-C still exits 130 with the summary;
* shows an OpenCV window (``q`` quits) or, headless, writes the annotated video to ``out``;
  Ctrl-C stops capture, closes the socket and finalises the output file.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from facegate.core.domain import Box, DetectedFace, ImageArray, Landmarks
from facegate.core.errors import AuthError, FaceGateError, InvalidImageError
from facegate.core.vision.draw import GREEN, RED, YELLOW, draw_face
from facegate.features.access.protocol import (
    CLOSE_FORBIDDEN,
    CLOSE_UNAUTHORIZED,
    FrameHeader,
    encode_frame,
)

GREY = (160, 160, 160)
BLUE = (170, 120, 40)  # BGR: the neutral "checking" banner (not the local boxes' yellow)
NO_WINDOW = "cannot open a window (no display or OpenCV without GUI): use --headless --out FILE"


def display_available(environ: Mapping[str, str] | None = None, platform: str | None = None) -> bool:
    """False on Linux without ``DISPLAY``/``WAYLAND_DISPLAY``: OpenCV's Qt backend would abort the
    process ("could not connect to display") instead of raising ``cv2.error``."""
    env = os.environ if environ is None else environ
    if not (platform or sys.platform).startswith("linux"):
        return True
    return bool(env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))


@dataclass(frozen=True)
class ClientOptions:
    server: str
    token: str | None = None
    camera: str | None = None
    width: int = 640
    jpeg_quality: int = 80
    late_ms: float = 300.0
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 8.0
    give_up_after_s: float | None = None  # never connected this long: stop (None: keep trying)
    warn_after_s: float = 3.0  # never connected this long: say so on stderr (once)
    headless: bool = False
    out: Path | None = None
    max_frames: int | None = None


@dataclass
class ClientStats:
    captured: int = 0
    sent: int = 0
    results: int = 0
    errors: int = 0
    connects: int = 0
    server_drawn: int = 0  # displayed frames annotated from a fresh server answer
    local_drawn: int = 0  # displayed frames annotated by the local detector
    local_boxes: int = 0  # boxes the local detector drew
    granted: set[str] = field(default_factory=set)
    latencies_ms: list[float] = field(default_factory=list)
    server_dropped: int = 0  # frames the server replaced by newer ones (reported in results)
    answered_frames: list[int] = field(default_factory=list)
    last_error: str | None = None
    interrupted: bool = False
    banners: dict[str, int] = field(default_factory=dict)  # frames shown per banner state

    def summary(self) -> str:
        lat = np.percentile(self.latencies_ms, [50, 95]) if self.latencies_ms else [float("nan")] * 2
        return (
            f"frames {self.captured} captured, {self.sent} sent, {self.results} answered "
            f"(p50 {lat[0]:.0f} ms, p95 {lat[1]:.0f} ms), {self.errors} errors, "
            f"{self.connects} connection(s), {self.server_drawn} frames drawn from the server, "
            f"{self.local_drawn} from the local detector; granted: {', '.join(sorted(self.granted)) or '-'}"
        )


def stream_url(server: str) -> str:
    """``http://host:8000`` / ``ws://host:8000`` / full URL → the ``ws(s)://…/v1/stream`` URL."""
    url = server.rstrip("/")
    if url.startswith("http://"):
        url = "ws://" + url[len("http://") :]
    elif url.startswith("https://"):
        url = "wss://" + url[len("https://") :]
    elif not url.startswith(("ws://", "wss://")):
        url = "ws://" + url
    return url if url.endswith("/v1/stream") else url + "/v1/stream"


def encode_jpeg(image: ImageArray, width: int, quality: int) -> tuple[ImageArray, bytes]:
    """Scale to ``width`` (never up) and JPEG-encode; returns the scaled frame and its bytes."""
    h, w = image.shape[:2]
    if w > width:
        image = cv2.resize(image, (width, max(1, round(h * width / w))), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:  # pragma: no cover - cv2 fails only on invalid arrays
        raise InvalidImageError("could not encode the frame as JPEG")
    return image, bytes(buf)


@dataclass(frozen=True)
class ServerFace:
    face: DetectedFace
    name: str
    similarity: float | None
    allowed: bool

    @property
    def label(self) -> str:
        return self.name if self.similarity is None else f"{self.name} {self.similarity:.2f}"


def faces_of_result(result: dict[str, Any]) -> list[ServerFace]:
    """The faces of a server ``result`` message, for drawing."""
    out = []
    for f in result.get("faces", []):
        x, y, w, h = f["box"]
        pts = tuple((float(p[0]), float(p[1])) for p in f["landmarks"])
        face = DetectedFace(Box(x, y, w, h), float(f.get("score", 0.0)), Landmarks(pts))
        out.append(ServerFace(face, str(f["name"]), f.get("similarity"), bool(f.get("allowed"))))
    return out


def box_iou(a: Box, b: Box) -> float:
    ix = max(0.0, min(a.x + a.width, b.x + b.width) - max(a.x, b.x))
    iy = max(0.0, min(a.y + a.height, b.y + b.height) - max(a.y, b.y))
    inter = ix * iy
    union = a.area + b.area - inter
    return inter / union if union > 0 else 0.0


def draw_banner(image: ImageArray, text: str, color: tuple[int, int, int]) -> None:
    h, w = image.shape[:2]
    bar = max(24, h // 14)
    cv2.rectangle(image, (0, h - bar), (w, h), color, -1)
    scale = bar / 40.0
    cv2.putText(
        image, text, (8, h - bar // 4), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255),
        max(1, round(scale * 2)), cv2.LINE_AA,
    )


CHECKING_REASONS = frozenset({"confirming"})  # denied for now, but not settled: say so neutrally


def banner_for(connected: bool, decision: dict[str, Any] | None) -> tuple[str, str, tuple[int, int, int]]:
    """``(state, text, colour)`` of the banner: offline, waiting, no_face, checking, granted or
    denied. Red "ACCESS DENIED" only for a settled denial (unknown or not allowed), never while
    a recognised face is still being confirmed."""
    if not connected:
        return "offline", "OFFLINE - reconnecting", GREY
    if decision is None:
        return "waiting", "WAITING FOR SERVER", GREY
    if decision.get("status") == "granted":
        return "granted", f"ACCESS GRANTED: {decision.get('name') or decision.get('person')}", GREEN
    reason = decision.get("reason")
    if reason == "no_face":
        return "no_face", "LOOK AT THE CAMERA", GREY
    if reason in CHECKING_REASONS:
        return "checking", "CHECKING...", BLUE
    return "denied", "ACCESS DENIED", RED


class FrameReader(Protocol):
    """Where frames come from: ``FrameSource`` or anything alike (tests loop frames in memory)."""

    is_camera: bool
    fps: float

    def read(self) -> ImageArray | None: ...

    def close(self) -> None: ...


class FrameSource:
    """A camera index ("0") or a video file; files are paced at their own frame rate."""

    def __init__(self, source: str) -> None:
        self.is_camera = source.isdigit()
        if not self.is_camera and not Path(source).is_file():
            raise InvalidImageError(f"{source}: no such video file")
        self.cap = cv2.VideoCapture(int(source) if self.is_camera else source)
        if not self.cap.isOpened():
            raise InvalidImageError(f"{source}: cannot open the camera or video")
        fps = float(self.cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self.fps = fps if 1.0 <= fps <= 120.0 else 25.0

    def read(self) -> ImageArray | None:
        ok, frame = self.cap.read()
        return frame if ok else None

    def close(self) -> None:
        self.cap.release()


class StreamClient:
    """One client session; ``run()`` returns the stats when the source ends or ``q``/Ctrl-C."""

    def __init__(
        self,
        options: ClientOptions,
        source: FrameReader,
        detector_factory: Callable[[], Any] | None = None,
    ) -> None:
        self.o = options
        self.source = source
        self.stats = ClientStats()
        self._detector_factory = detector_factory or _default_detector
        self._detector: Any = None
        self._outbox: bytes | None = None
        self._outbox_ready = asyncio.Event()
        self._sent_at: dict[int, float] = {}
        self._result: dict[str, Any] | None = None
        self._decision: dict[str, Any] | None = None
        self._connected = False
        self._fatal: FaceGateError | None = None
        self._writer: cv2.VideoWriter | None = None
        self._stop = False

    def stop(self) -> None:
        """Ask ``run`` to finish after the current frame (safe from another thread)."""
        self._stop = True

    async def run(self) -> ClientStats:
        conn = asyncio.create_task(self._connection())
        try:
            await self._capture_loop()
        finally:
            self._stop = True
            conn.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await conn
            self._close_outputs()
        if self._fatal is not None:
            raise self._fatal
        if self.stats.connects == 0 and not self.stats.interrupted:
            raise unreachable(self.o.server, None, self.stats.last_error)
        return self.stats

    # --- capture, encode, annotate ---------------------------------------------------------
    async def _capture_loop(self) -> None:
        start = time.monotonic()
        index = 0
        while not self._stop and self._fatal is None:
            if self.o.max_frames is not None and index >= self.o.max_frames:
                return
            frame = await asyncio.to_thread(self.source.read)
            if frame is None:
                await self._drain()
                return
            if not self.source.is_camera:
                delay = start + index / self.source.fps - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            scaled, jpeg = encode_jpeg(frame, self.o.width, self.o.jpeg_quality)
            header = FrameHeader(frame=index, ts=time.time(), camera=self.o.camera)
            self._outbox = encode_frame(header, jpeg)
            self._outbox_ready.set()
            self._sent_at[index] = time.monotonic()
            self._sent_at.pop(index - 1000, None)
            self.stats.captured += 1
            fresh = self._fresh_result()
            local = None if fresh else await asyncio.to_thread(self._detect_locally, scaled)
            annotated = self._annotate(scaled, fresh, local)
            if not self._show(annotated):
                return
            index += 1
            await asyncio.sleep(0)

    async def _drain(self) -> None:
        """At the end of a file, give the server ``late_ms`` to answer the last frame sent."""
        deadline = time.monotonic() + self.o.late_ms / 1000.0
        last = max(self._sent_at, default=None)
        while time.monotonic() < deadline and self._connected:
            if self._result is not None and self._result.get("frame") == last:
                return
            await asyncio.sleep(0.01)

    def _fresh_result(self) -> dict[str, Any] | None:
        r = self._result
        if r is None or not self._connected:
            return None
        sent = self._sent_at.get(int(r.get("frame", -1)))
        if sent is None or (time.monotonic() - sent) * 1000.0 > self.o.late_ms:
            return None
        return r

    def _detect_locally(self, frame: ImageArray) -> list[DetectedFace]:
        if self._detector is None:
            self._detector = self._detector_factory()
        faces: list[DetectedFace] = self._detector.detect(frame)
        return faces

    def _annotate(
        self, frame: ImageArray, fresh: dict[str, Any] | None, local: list[DetectedFace] | None
    ) -> ImageArray:
        """Server faces when fresh; else local boxes labelled with the last server name they overlap."""
        out = frame.copy()
        if fresh is not None or local is None:
            self.stats.server_drawn += 1
            for sf in faces_of_result(fresh or {}):
                draw_face(out, sf.face, sf.label, GREEN if sf.allowed else RED)
        else:
            self.stats.local_drawn += 1
            self.stats.local_boxes += len(local)
            last = faces_of_result(self._result or {})
            for face in local:
                match = max(last, key=lambda f: box_iou(f.face.box, face.box), default=None)
                if match is not None and box_iou(match.face.box, face.box) >= 0.3:
                    draw_face(out, face, f"{match.name}?", YELLOW)
                else:
                    draw_face(out, face, "...", YELLOW)
        state, text, color = banner_for(self._connected, self._decision)
        self.stats.banners[state] = self.stats.banners.get(state, 0) + 1
        draw_banner(out, text, color)
        return out

    def _show(self, frame: ImageArray) -> bool:
        """Display or write one frame; False when the user pressed ``q``."""
        if self.o.headless:
            if self.o.out is not None:
                if self._writer is None:
                    h, w = frame.shape[:2]
                    fourcc = cv2.VideoWriter.fourcc(*"mp4v")
                    self._writer = cv2.VideoWriter(str(self.o.out), fourcc, self.source.fps, (w, h))
                    if not self._writer.isOpened():
                        raise InvalidImageError(f"{self.o.out}: cannot write the output video")
                self._writer.write(frame)
            return True
        if not display_available():
            raise FaceGateError(NO_WINDOW)
        try:
            cv2.imshow("FaceGate", frame)
            key = cv2.waitKey(1) & 0xFF
        except cv2.error as exc:
            raise FaceGateError(NO_WINDOW) from exc
        return key != ord("q")

    def _close_outputs(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None
        if not self.o.headless:
            with contextlib.suppress(cv2.error):
                cv2.destroyAllWindows()

    # --- network ----------------------------------------------------------------------------
    async def _connection(self) -> None:
        from websockets.asyncio.client import connect
        from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

        url = stream_url(self.o.server)
        headers = {"Authorization": f"Bearer {self.o.token}"} if self.o.token else {}
        backoff = self.o.backoff_initial_s
        failures = 0
        warned = False
        started = time.monotonic()
        while not self._stop:
            try:
                async with connect(url, additional_headers=headers, open_timeout=5, max_size=2**20) as ws:
                    self._connected = True
                    self.stats.connects += 1
                    backoff = self.o.backoff_initial_s
                    await self._talk(ws)
            except ConnectionClosed as exc:
                if exc.rcvd is not None and exc.rcvd.code in (CLOSE_UNAUTHORIZED, CLOSE_FORBIDDEN):
                    self._fatal = AuthError(f"server refused the credentials: {exc.rcvd.reason}")
                    return
                self.stats.last_error = f"connection closed ({exc})"
            except InvalidURI as exc:
                self._fatal = FaceGateError(f"invalid server URL {url}: {exc}")
                return
            except (OSError, InvalidHandshake, TimeoutError) as exc:
                self.stats.last_error = f"{type(exc).__name__}: {exc}"
            self._connected = False
            if self._fatal is not None:
                return
            failures += 1
            waited = time.monotonic() - started
            if self.stats.connects == 0 and not warned and waited >= self.o.warn_after_s:
                warned = True  # said while it runs, not only at the end
                print(f"warning: {unreachable(self.o.server, None, self.stats.last_error).message}"
                      " (retrying)", file=sys.stderr, flush=True)
            limit = self.o.give_up_after_s
            if self.stats.connects == 0 and limit is not None and waited >= limit:
                self._fatal = unreachable(self.o.server, failures, self.stats.last_error)
                return
            self._result = None
            await asyncio.sleep(backoff * (0.8 + 0.4 * random.random()))
            backoff = min(backoff * 2, self.o.backoff_max_s)

    async def _talk(self, ws: Any) -> None:
        sender = asyncio.create_task(self._send_loop(ws))
        try:
            async for raw in ws:
                if isinstance(raw, str):
                    self._on_message(json.loads(raw))
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await sender

    async def _send_loop(self, ws: Any) -> None:
        while True:
            await self._outbox_ready.wait()
            self._outbox_ready.clear()
            message, self._outbox = self._outbox, None
            if message is not None:
                await ws.send(message)
                self.stats.sent += 1

    def _on_message(self, msg: dict[str, Any]) -> None:
        kind = msg.get("type")
        if kind == "result":
            self.stats.results += 1
            self._result = msg
            self._decision = msg.get("decision")
            self.stats.server_dropped += int(msg.get("dropped", 0))
            self.stats.answered_frames.append(int(msg.get("frame", -1)))
            sent = self._sent_at.get(int(msg.get("frame", -1)))
            if sent is not None:
                self.stats.latencies_ms.append((time.monotonic() - sent) * 1000.0)
            if self._decision and self._decision.get("status") == "granted":
                self.stats.granted.add(str(self._decision.get("name") or self._decision.get("person")))
        elif kind == "error":
            self.stats.errors += 1
            err = msg.get("error", {})
            self.stats.last_error = f"{err.get('code')}: {err.get('message')}"
            if err.get("code") == "unauthorized":
                self._fatal = AuthError(str(err.get("message")))


class ServerUnreachableError(FaceGateError):
    """The client never reached the server (wrong URL, server not running, network)."""

    code = "server_unreachable"


def unreachable(server: str, attempts: int | None, last_error: str | None) -> ServerUnreachableError:
    tried = f" after {attempts} attempt{'s' if attempts != 1 else ''}" if attempts else ""
    why = f" ({last_error})" if last_error else ""
    return ServerUnreachableError(
        f"cannot reach the FaceGate server at {stream_url(server)}{tried}{why}; is "
        "`facegate serve` running there, and is --server right?"
    )


def _default_detector() -> Any:
    from facegate.core.vision.detector import YunetDetector

    return YunetDetector()


def run_client(options: ClientOptions, source: str) -> ClientStats:
    """Open the source and run the client until the source ends, ``q`` or Ctrl-C."""
    src = FrameSource(source)
    client = StreamClient(options, src)
    try:
        return asyncio.run(client.run())
    except KeyboardInterrupt:  # Ctrl-C: run() has already closed the socket and the output file
        client.stats.interrupted = True
        return client.stats
    finally:
        src.close()
