"""The stream loop (newest frame only, bounded backlog) and WS /v1/stream with fakes (no models)."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from facegate.core.auth.credentials import KIND_DEVICE
from facegate.core.auth.principal import CLI_PRINCIPAL
from facegate.core.domain import AuditEvent, Identification, ImageArray
from facegate.core.store.audit import AuditQuery
from facegate.features.access.decisions import AccessOptions, AccessService
from facegate.features.access.protocol import (
    CLOSE_FORBIDDEN,
    CLOSE_UNAUTHORIZED,
    FrameHeader,
    StreamFrame,
    encode_frame,
)
from facegate.features.access.server import LatestFrame, StreamLoop
from tests.auth_helpers import make_key
from tests.unit.features.access.test_access_decisions import ident


class FakeAudit:
    def __init__(self) -> None:
        self.events: list[AuditEvent] = []
        self.lock = threading.Lock()

    def record(self, event: AuditEvent) -> None:
        with self.lock:
            self.events.append(event)


def identify_by_brightness(
    image: ImageArray, groups: frozenset[str] | None = None
) -> list[Identification]:
    """Dark frame: nobody; grey: obama (of group 'staff'); bright: a stranger."""
    mean = float(image.mean())
    if mean < 60:
        return []
    if mean < 160 and (groups is None or "staff" in groups):
        return [ident("obama")]
    return [ident(None, 0.1)]


def jpeg(level: int) -> bytes:
    ok, buf = cv2.imencode(".jpg", np.full((48, 64, 3), level, np.uint8))
    assert ok
    return bytes(buf)


def frame_msg(n: int, body: bytes) -> bytes:
    return encode_frame(FrameHeader(frame=n, ts=time.time(), camera="lobby"), body)


def test_latest_frame_keeps_only_the_newest() -> None:
    async def scenario() -> tuple[int | None, int, StreamFrame | None]:
        slot = LatestFrame()
        for i in range(3):
            slot.put(StreamFrame(FrameHeader(i, 0.0), b"x", 0.0))
        first = await slot.take()
        slot.close()
        return (first.header.frame if first else None), slot.dropped, await slot.take()

    assert asyncio.run(scenario()) == (2, 2, None)



def test_closing_discards_the_waiting_frame() -> None:
    async def scenario() -> tuple[bool, int]:
        slot = LatestFrame()
        slot.put(StreamFrame(FrameHeader(0, 0.0), b"x", 0.0))
        slot.close()
        return await slot.wait(), slot.dropped

    assert asyncio.run(scenario()) == (False, 1)


class SlowSession:
    """Processes a frame in 50 ms and records how many frames waited at most."""

    def __init__(self) -> None:
        self.frames: list[int] = []

    def process_jpeg(self, data: bytes, camera: str | None, frame: int | None) -> Any:
        time.sleep(0.05)
        self.frames.append(frame or 0)
        service = AccessService(lambda img, groups: [], FakeAudit())
        return service.open_session("t").process_image(np.zeros((4, 4, 3), np.uint8))


class QueueSocket:
    """Delivers ``count`` frames every 5 ms (10x faster than processing), then closes."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.sent: list[dict[str, Any]] = []
        self.i = 0

    async def receive_message(self) -> bytes | str | None:
        if self.i >= self.count:
            await asyncio.sleep(0.2)
            return None
        await asyncio.sleep(0.005)
        self.i += 1
        return frame_msg(self.i - 1, jpeg(100))

    async def send_json(self, data: dict[str, Any]) -> None:
        self.sent.append(data)


def test_loop_drops_stale_frames_instead_of_queueing() -> None:
    socket, session = QueueSocket(60), SlowSession()
    loop = StreamLoop(socket, session, 10_000)  # type: ignore[arg-type]
    asyncio.run(loop.run())
    results = [m for m in socket.sent if m["type"] == "result"]
    frames = [m["frame"] for m in results]
    assert frames == sorted(frames) and len(set(frames)) == len(frames)
    # frames arrive ~10x faster than they are processed: each one is answered or dropped, never
    # queued, and the answers are for the newest frames
    assert len(results) + loop.slot.dropped == 60
    assert 3 <= len(results) < 30
    assert sum(m["dropped"] for m in results) <= loop.slot.dropped
    assert frames[-1] >= 50


class Devices:
    """Registers stream devices on the app's store (credentials of kind device, scope stream)."""

    def __init__(self, container: Any) -> None:
        self.c = container

        self.store = self  # the groups a door admits live on its credential

    def create(self, name: str) -> tuple[Any, str]:
        """A new door admits no group, as ``facegate devices add`` without ``--groups``."""
        return self.c.credentials.create(  # type: ignore[no-any-return]
            name, frozenset({"stream"}), CLI_PRINCIPAL, groups=frozenset(), kind=KIND_DEVICE
        )

    def set_groups(self, name: str, groups: frozenset[str]) -> Any:
        return self.c.credentials.set_groups(name, groups, CLI_PRINCIPAL, KIND_DEVICE)


@pytest.fixture
def app_and_audit(tmp_path: Path):  # type: ignore[no-untyped-def]
    from facegate.app.http import create_app
    from facegate.core.settings import Settings

    app = create_app(Settings(data_dir=tmp_path / "data", stream_max_frame_bytes=20_000))
    audit = FakeAudit()
    c = app.state.container
    c.prepare_store()
    c.access = AccessService(identify_by_brightness, audit, AccessOptions(required_frames=3))
    return app, audit, Devices(c)


def test_unauthenticated_connection_gets_an_error_and_4401(app_and_audit) -> None:  # type: ignore[no-untyped-def]
    app, _, _ = app_and_audit
    client = TestClient(app)
    for headers in ({}, {"Authorization": "Bearer fgd_wrong"}, {"X-API-Key": "nope"}):
        with client.websocket_connect("/v1/stream", headers=headers) as ws:
            msg = ws.receive_json()
            assert msg["type"] == "error" and msg["error"]["code"] == "unauthorized"
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_json()
            assert closed.value.code == CLOSE_UNAUTHORIZED
    denied = app.state.container.audit.query(AuditQuery(action="auth"))
    assert [(e.decision, e.subject, e.client) for e in denied] == [
        ("denied", "WS /v1/stream", "testclient")] * 3


def test_a_key_without_the_stream_scope_gets_4403(app_and_audit) -> None:  # type: ignore[no-untyped-def]
    app, _, _ = app_and_audit
    key = make_key(app.state.container, "recognize", "matcher")
    with TestClient(app).websocket_connect("/v1/stream", headers={"X-API-Key": key}) as ws:
        assert ws.receive_json()["error"]["code"] == "insufficient_scope"
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert closed.value.code == CLOSE_FORBIDDEN


def test_a_new_door_admits_nobody_until_its_groups_are_set(app_and_audit) -> None:  # type: ignore[no-untyped-def]
    app, audit, registry = app_and_audit
    _, token = registry.create("front-door")
    headers = {"Authorization": f"Bearer {token}"}
    with TestClient(app).websocket_connect("/v1/stream", headers=headers) as ws:
        assert ws.receive_json()["groups"] == []
        for i in range(4):  # obama is enrolled (staff), but this door admits no group yet
            ws.send_bytes(frame_msg(i, jpeg(110)))
            r = ws.receive_json()
            assert (r["decision"]["status"], r["decision"]["reason"]) == ("denied", "no_groups")
            assert r["faces"][0]["person"] is None
    registry.store.set_groups("front-door", frozenset({"web"}))  # the web sign-ups: not obama
    with TestClient(app).websocket_connect("/v1/stream", headers=headers) as ws:
        assert ws.receive_json()["groups"] == ["web"]
        for i in range(4):
            ws.send_bytes(frame_msg(i, jpeg(110)))
            r = ws.receive_json()
        assert (r["decision"]["status"], r["decision"]["reason"]) == ("denied", "unknown")
    access = [(e.decision, e.details["reason"]) for e in audit.events if e.action == "access"]
    assert access == [("denied", "no_groups"), ("denied", "unknown")]


def test_device_token_streams_to_a_granted_decision(app_and_audit) -> None:  # type: ignore[no-untyped-def]
    app, audit, registry = app_and_audit
    _, token = registry.create("front-door")
    registry.store.set_groups("front-door", frozenset({"staff"}))
    with TestClient(app).websocket_connect(
        "/v1/stream", headers={"Authorization": f"Bearer {token}"}
    ) as ws:
        hello = ws.receive_json()
        assert hello == {"type": "hello", "protocol": 1, "device": "device:front-door",
                         "required_frames": 3, "groups": ["staff"]}
        statuses = []
        for i in range(4):
            ws.send_bytes(frame_msg(i, jpeg(110)))
            r = ws.receive_json()
            assert r["type"] == "result" and r["frame"] == i and r["camera"] == "lobby"
            statuses.append(r["decision"]["status"])
        assert statuses == ["denied", "denied", "granted", "granted"]
        assert r["faces"][0]["name"] == "Obama" and r["faces"][0]["person"] == "obama"
        assert len(r["faces"][0]["box"]) == 4 and len(r["faces"][0]["landmarks"]) == 5
        assert r["processing_ms"] >= 0
        for i in range(4, 7):
            ws.send_bytes(frame_msg(i, jpeg(230)))
            r = ws.receive_json()
        assert (r["decision"]["status"], r["decision"]["reason"]) == ("denied", "unknown")
    access = [e for e in audit.events if e.action == "access"]
    assert [(e.decision, e.subject, e.actor) for e in access] == [
        ("granted", "obama", "device:front-door"),
        ("denied", None, "device:front-door"),
    ]


def test_bad_frames_get_errors_and_the_connection_stays_up(app_and_audit) -> None:  # type: ignore[no-untyped-def]
    app, _, _ = app_and_audit
    key = make_key(app.state.container, "stream", "camera-rig")
    with TestClient(app).websocket_connect("/v1/stream", headers={"X-API-Key": key}) as ws:
        assert ws.receive_json()["device"] == "key:camera-rig"
        bad = [
            (frame_msg(1, b"GIF89a not a jpeg"), "invalid_image", 1),
            (frame_msg(2, b""), "invalid_image", 2),
            (frame_msg(3, b"\xff\xd8\xff" + b"\0" * 30_000), "image_too_large", 3),
            (b"\x00\x01", "bad_frame", None),
            (frame_msg(5, b"\xff\xd8\xff\xe0 truncated garbage"), "invalid_image", 5),
        ]
        for message, code, frame in bad:
            ws.send_bytes(message)
            err = ws.receive_json()
            assert err["type"] == "error" and err["error"]["code"] == code and err["frame"] == frame
            assert err["error"]["message"]
        ws.send_text("hello")
        assert ws.receive_json()["error"]["code"] == "bad_frame"
        ws.send_bytes(frame_msg(6, jpeg(20)))
        r = ws.receive_json()
        assert r["type"] == "result" and r["faces"] == [] and r["decision"]["reason"] == "no_face"


def test_two_cameras_at_once_keep_their_own_streaks(app_and_audit) -> None:  # type: ignore[no-untyped-def]
    app, audit, registry = app_and_audit
    _, t1 = registry.create("door-a")
    _, t2 = registry.create("door-b")
    for door in ("door-a", "door-b"):
        registry.store.set_groups(door, frozenset({"staff"}))
    client = TestClient(app)
    with client.websocket_connect("/v1/stream", headers={"Authorization": f"Bearer {t1}"}) as a, \
            client.websocket_connect("/v1/stream", headers={"Authorization": f"Bearer {t2}"}) as b:
        a.receive_json(), b.receive_json()
        for i in range(3):  # a sees obama, b sees nobody, interleaved
            a.send_bytes(frame_msg(i, jpeg(110)))
            b.send_bytes(frame_msg(i, jpeg(20)))
            ra, rb = a.receive_json(), b.receive_json()
        assert ra["decision"]["status"] == "granted" and rb["decision"]["reason"] == "no_face"
        b.send_bytes(frame_msg(3, jpeg(110)))
        assert b.receive_json()["decision"]["streak"] == 1  # b's streak starts from its own frames
    assert [(e.actor, e.decision) for e in audit.events if e.action == "access"] == [
        ("device:door-a", "granted")
    ]
