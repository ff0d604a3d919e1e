"""Client drawing logic: server boxes when the answer is fresh, local detector boxes when late."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import numpy as np
import pytest

from facegate.core.domain import Box, DetectedFace, ImageArray, Landmarks
from facegate.core.vision.draw import RED
from facegate.features.access.client import (
    BLUE,
    ClientOptions,
    ServerUnreachableError,
    StreamClient,
    banner_for,
    box_iou,
    encode_jpeg,
    faces_of_result,
)

FACE = DetectedFace(Box(20, 20, 40, 40), 0.9, Landmarks(((30.0, 30.0),) * 5))


class FakeDetector:
    def __init__(self) -> None:
        self.calls = 0

    def detect(self, image: ImageArray) -> list[DetectedFace]:
        self.calls += 1
        return [FACE]


class OneFrame:
    is_camera = False
    fps = 10.0

    def read(self) -> ImageArray | None:
        return np.zeros((100, 100, 3), np.uint8)

    def close(self) -> None:
        pass


def result(frame: int) -> dict[str, object]:
    return {
        "type": "result",
        "frame": frame,
        "faces": [
            {"box": [22, 22, 40, 40], "score": 0.9, "landmarks": [[30, 30]] * 5, "person": "obama",
             "name": "Barack Obama", "similarity": 0.71, "allowed": True}
        ],
        "decision": {"status": "granted", "name": "Barack Obama", "person": "obama"},
        "dropped": 2,
    }


@pytest.fixture
def client() -> tuple[StreamClient, FakeDetector]:
    detector = FakeDetector()
    c = StreamClient(ClientOptions(server="x", late_ms=300), OneFrame(), lambda: detector)
    c._connected = True
    return c, detector


def test_fresh_answer_is_drawn_without_the_local_detector(client) -> None:  # type: ignore[no-untyped-def]
    c, detector = client
    c._sent_at[5] = time.monotonic()
    c._on_message(result(5))
    fresh = c._fresh_result()
    assert fresh is not None
    out = c._annotate(np.zeros((100, 100, 3), np.uint8), fresh, None)
    assert detector.calls == 0 and c.stats.server_drawn == 1 and out.any()
    assert c.stats.granted == {"Barack Obama"} and c.stats.server_dropped == 2
    assert c.stats.answered_frames == [5] and len(c.stats.latencies_ms) == 1


def test_late_answer_falls_back_to_local_boxes(client) -> None:  # type: ignore[no-untyped-def]
    c, detector = client
    c._sent_at[5] = time.monotonic() - 1.0  # answered a frame sent 1 s ago: late
    c._on_message(result(5))
    assert c._fresh_result() is None
    frame = np.zeros((100, 100, 3), np.uint8)
    local = c._detect_locally(frame)
    out = c._annotate(frame, None, local)
    assert detector.calls == 1 and c.stats.local_drawn == 1 and c.stats.local_boxes == 1
    assert out[20, 20:60].any()  # the box's top edge is drawn


def test_disconnected_means_no_server_boxes(client) -> None:  # type: ignore[no-untyped-def]
    c, _ = client
    c._sent_at[1] = time.monotonic()
    c._on_message(result(1))
    c._connected = False
    assert c._fresh_result() is None


def test_unauthorized_error_is_fatal(client) -> None:  # type: ignore[no-untyped-def]
    c, _ = client
    c._on_message({"type": "error", "frame": None, "error": {"code": "unauthorized", "message": "no"}})
    assert c._fatal is not None and c.stats.errors == 1


def test_helpers() -> None:
    assert box_iou(Box(0, 0, 10, 10), Box(0, 0, 10, 10)) == pytest.approx(1.0)
    assert box_iou(Box(0, 0, 10, 10), Box(5, 0, 10, 10)) == pytest.approx(50 / 150)
    assert box_iou(Box(0, 0, 10, 10), Box(20, 20, 5, 5)) == 0.0
    (sf,) = faces_of_result(result(1))
    assert sf.label == "Barack Obama 0.71" and sf.allowed
    small, data = encode_jpeg(np.zeros((480, 1280, 3), np.uint8), 640, 80)
    assert small.shape == (240, 640, 3) and data[:3] == b"\xff\xd8\xff"


def _decision(status: str, reason: str | None = None, name: str | None = None) -> dict[str, object]:
    return {"status": status, "reason": reason, "name": name, "person": name}


def test_banner_is_neutral_while_a_face_is_being_confirmed() -> None:
    assert banner_for(False, None)[0] == "offline"
    assert banner_for(True, None)[0] == "waiting"
    assert banner_for(True, _decision("denied", "no_face"))[:2] == ("no_face", "LOOK AT THE CAMERA")
    state, text, color = banner_for(True, _decision("denied", "confirming", "Barack Obama"))
    assert (state, text) == ("checking", "CHECKING...") and color != RED
    assert banner_for(True, _decision("granted", None, "Barack Obama"))[1] == (
        "ACCESS GRANTED: Barack Obama")
    for settled in ("unknown", "not_allowed"):
        assert banner_for(True, _decision("denied", settled))[:3] == ("denied", "ACCESS DENIED", RED)


def test_confirming_frames_show_checking_not_denied(client) -> None:  # type: ignore[no-untyped-def]
    c, _ = client
    msg = result(3)
    msg["decision"] = _decision("denied", "confirming", "Barack Obama")
    c._sent_at[3] = time.monotonic()
    c._on_message(msg)
    out = c._annotate(np.zeros((100, 100, 3), np.uint8), c._fresh_result(), None)
    assert c.stats.banners == {"checking": 1}
    assert tuple(int(v) for v in out[98, 50]) == BLUE  # the neutral banner, not red


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens once the socket is closed


def test_unreachable_server_is_an_error_not_zero_connections(
    capsys: pytest.CaptureFixture[str],
) -> None:
    options = ClientOptions(server=f"http://127.0.0.1:{_closed_port()}", headless=True,
                            backoff_initial_s=0.01, backoff_max_s=0.02, give_up_after_s=0.05,
                            warn_after_s=0.0)
    client = StreamClient(options, OneFrame(), FakeDetector)
    with pytest.raises(ServerUnreachableError, match="cannot reach the FaceGate server") as exc:
        asyncio.run(client.run())
    assert "attempt" in exc.value.message and "--server" in exc.value.message
    assert client.stats.connects == 0
    warning = capsys.readouterr().err  # said while it keeps retrying (after warn_after_s)
    assert warning.startswith("warning: cannot reach the FaceGate server") and "(retrying)" in warning


def test_client_command_exits_2_when_the_server_cannot_be_reached(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import sys

    from facegate.app.cli import app
    from facegate.core.cli import run_app

    video = data_dir / "video" / "webcam_blink_turns.webm"
    monkeypatch.setattr(sys, "argv", [
        "facegate", "client", "--server", f"http://127.0.0.1:{_closed_port()}", "--source",
        str(video), "--headless", "--max-frames", "3"])
    code = run_app(app)
    out, err = capsys.readouterr()
    assert code == 2
    assert err.splitlines()[-1].startswith("error: cannot reach the FaceGate server at ws://")
    assert "connection(s)" not in out  # before: a summary with "0 connection(s)" and exit 0
