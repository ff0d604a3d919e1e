"""Real-time access control end to end with the real models and the shared photos/videos.

* in-process (TestClient WebSocket): an enrolled person is granted with the right name, a stranger
  is denied, both decisions are in the audit table, ``facegate log tail`` and access_log.txt;
* subprocess servers on a free port: the client reconnects after the server is killed and started
  again; with a slow server (test hook) the client's local detector keeps boxes on the output
  video and the server answers only the newest frames (no backlog).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from facegate.app.bootstrap import Container
from facegate.core.domain import ImageArray
from facegate.core.settings import Settings
from facegate.core.store.audit import AuditQuery
from facegate.core.vision.images import read_image_file
from facegate.features.access.client import ClientOptions, ClientStats, StreamClient, encode_jpeg
from facegate.features.access.protocol import FrameHeader, encode_frame
from tests.auth_helpers import make_device

pytestmark = pytest.mark.slow


def scene_jpeg(path: Path) -> bytes:
    """A photo scaled to a 640-pixel-wide camera frame, JPEG like the client sends."""
    return encode_jpeg(cv2.imread(str(path)), 640, 80)[1]


@pytest.fixture
def enrolled(tmp_path: Path, faces_dir: Path) -> Container:
    # still photos stand in for people here: the door's liveness is tested in
    # tests/integration/features/access/test_door_liveness_real.py
    settings = Settings(data_dir=tmp_path / "data", stream_access_log_file=tmp_path / "access_log.txt",
                        stream_door_liveness="off")
    c = Container(settings)
    c.prepare_store()
    c.enrollment.enroll(
        "obama", [read_image_file(faces_dir / "people" / "obama" / "obama.jpg")], "Barack Obama"
    )
    return c


def test_enrolled_person_granted_stranger_denied_and_logged(
    enrolled: Container, faces_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from facegate.app.http import create_app

    token = make_device(enrolled, "front-door", frozenset({"default"}))  # obama's group
    known = scene_jpeg(faces_dir / "scenes" / "obama1.jpg")  # not the enrolment photo
    stranger = scene_jpeg(faces_dir / "people" / "biden" / "biden2.jpg")
    with TestClient(create_app(container=enrolled)) as client, client.websocket_connect(
        "/v1/stream", headers={"Authorization": f"Bearer {token}"}
    ) as ws:
        assert ws.receive_json()["required_frames"] == 3
        answers = []
        for i, body in enumerate([known] * 4 + [stranger] * 3):
            ws.send_bytes(encode_frame(FrameHeader(frame=i, ts=time.time(), camera="gate-1"), body))
            answers.append(ws.receive_json())
    decisions = [(a["decision"]["status"], a["decision"]["reason"]) for a in answers]
    assert decisions[:4] == [("denied", "confirming")] * 2 + [("granted", "recognised")] * 2
    assert decisions[4:] == [("denied", "confirming")] * 2 + [("denied", "unknown")]
    face = answers[3]["faces"][0]
    assert (face["name"], face["person"]) == ("Barack Obama", "obama")
    assert face["similarity"] >= enrolled.match_threshold
    assert answers[6]["faces"][0]["name"] == "unknown"

    logged = enrolled.audit.query(AuditQuery(action="access"))
    assert [(e.decision, e.subject, e.actor) for e in reversed(logged)] == [
        ("granted", "obama", "device:front-door"),
        ("denied", None, "device:front-door"),
    ]
    assert logged[1].details["camera"] == "gate-1" and logged[1].score is not None
    assert {e.client for e in logged} == {"testclient"}  # where the device connected from
    lines = (tmp_path / "access_log.txt").read_text().splitlines()
    assert [line.split(",", 1)[1] for line in lines] == ["Barack Obama,GRANTED", "unknown,DENIED"]

    from typer.testing import CliRunner

    from facegate.app.cli import app
    from facegate.core.cli import container

    monkeypatch.setenv("FACEGATE_DATA_DIR", str(enrolled.settings.data_dir))
    container.cache_clear()
    try:
        out = CliRunner().invoke(app, ["log", "tail", "-n", "5"])
    finally:
        container.cache_clear()
    assert out.exit_code == 0, out.output
    rows = out.output.strip().splitlines()
    assert "GRANTED" in rows[0] and "Barack Obama" in rows[0] and "device:front-door" in rows[0]
    assert "DENIED" in rows[1] and "unknown" in rows[1] and "camera=gate-1" in rows[1]


# --- subprocess servers ---------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, data_dir: Path, port: int, env: dict[str, str] | None = None) -> None:
        self.data_dir, self.port, self.env = data_dir, port, env or {}
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {**os.environ, "FACEGATE_DATA_DIR": str(self.data_dir),
               "FACEGATE_STREAM_DOOR_LIVENESS": "off", **self.env}
        cmd = [sys.executable, "-m", "uvicorn", "facegate.app.main:app", "--host", "127.0.0.1",
               "--port", str(self.port), "--log-level", "warning"]
        self.proc = subprocess.Popen(cmd, env=env)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise AssertionError("server did not start within 60 s")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)


class LoopingFrames:
    """A video's first frames in memory, played in a loop at ``fps`` (a camera that never ends)."""

    is_camera = False

    def __init__(self, video: Path, count: int, fps: float) -> None:
        cap = cv2.VideoCapture(str(video))
        self.frames: list[ImageArray] = []
        while len(self.frames) < count:
            ok, frame = cap.read()
            if not ok:
                break
            self.frames.append(frame)
        cap.release()
        assert self.frames, f"cannot read {video}"
        self.fps, self.i = fps, 0

    def read(self) -> ImageArray:
        frame = self.frames[self.i % len(self.frames)]
        self.i += 1
        return frame

    def close(self) -> None:
        pass


@pytest.fixture
def device(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    c = Container(Settings(data_dir=tmp_path / "data", stream_door_liveness="off"))
    c.prepare_store()
    token = make_device(c, "cam", frozenset({"default"}))
    yield c.settings.data_dir, token
    c.shutdown()


def run_in_thread(client: StreamClient) -> tuple[threading.Thread, dict[str, ClientStats]]:
    import asyncio

    box: dict[str, ClientStats] = {}
    thread = threading.Thread(target=lambda: box.update(stats=asyncio.run(client.run())), daemon=True)
    thread.start()
    return thread, box


def wait_for(cond, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_client_reconnects_after_the_server_is_killed(device: tuple[Path, str], data_dir: Path) -> None:
    data, token = device
    server = Server(data, free_port())
    server.start()
    source = LoopingFrames(data_dir / "video" / "webcam_blink_turns.webm", 20, fps=10)
    options = ClientOptions(
        server=f"http://127.0.0.1:{server.port}", token=token, headless=True,
        backoff_initial_s=0.2, backoff_max_s=1.0, max_frames=2000,
    )
    client = StreamClient(options, source)
    thread, box = run_in_thread(client)
    try:
        wait_for(lambda: client.stats.results >= 2, 60, "first answers")
        server.kill()
        wait_for(lambda: not client._connected, 10, "the client to notice")
        before = client.stats.results
        time.sleep(1.0)  # a few reconnect attempts fail while the server is down
        assert client.stats.results == before
        server.start()
        wait_for(lambda: client.stats.results >= before + 2, 60, "answers after the restart")
    finally:
        client.stop()
        thread.join(30)
        server.kill()
    stats = box["stats"]
    assert stats.connects >= 2
    assert stats.results >= before + 2
    assert stats.captured > stats.results


def yellow_pixels(frame: ImageArray) -> int:
    """Pixels of the local detector's box colour (facegate.core.vision.draw.YELLOW), after mp4 coding."""
    b, g, r = (frame[..., k].astype(int) for k in range(3))
    return int(np.count_nonzero((b < 90) & (g > 160) & (r > 200)))


def test_slow_server_local_boxes_and_no_backlog(
    device: tuple[Path, str], data_dir: Path, tmp_path: Path
) -> None:
    data, token = device
    delay_s = 0.5
    server = Server(
        data, free_port(),
        {"FACEGATE_STREAM_TEST_MODE": "1", "FACEGATE_STREAM_TEST_DELAY_MS": str(int(delay_s * 1000))},
    )
    server.start()
    out = tmp_path / "annotated.mp4"
    source = LoopingFrames(data_dir / "video" / "webcam_blink_turns.webm", 60, fps=15)
    options = ClientOptions(
        server=f"http://127.0.0.1:{server.port}", token=token, headless=True, out=out,
        late_ms=200, max_frames=75,
    )
    try:
        import asyncio

        stats = asyncio.run(StreamClient(options, source).run())
    finally:
        server.kill()
    # the server is slower than the camera: most frames are drawn from the local detector
    assert stats.results >= 3
    assert stats.local_drawn >= stats.captured * 0.7 and stats.local_boxes >= stats.local_drawn * 0.8
    # no backlog: the server answers the newest frame each time and drops the ones in between,
    # so the answered frame numbers jump and reach the end of the stream (a queue would answer
    # frames 0, 1, 2, ... with growing latency). The first answer includes loading the models.
    frames = stats.answered_frames
    assert frames == sorted(frames) and stats.server_dropped > 0
    assert np.mean(np.diff(frames)) >= 3
    assert frames[-1] >= stats.captured - 1 - 15 * 2.0
    assert float(np.median(stats.latencies_ms[1:])) < 5 * delay_s * 1000
    # the output video has every frame, with yellow (local detector) boxes on most of them
    assert not any(yellow_pixels(f) > 200 for f in source.frames)  # the video itself has none
    cap = cv2.VideoCapture(str(out))
    frames_with_boxes = total = 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        total += 1
        frames_with_boxes += int(yellow_pixels(frame) > 200)
    cap.release()
    assert total == stats.captured == 75
    assert frames_with_boxes >= total * 0.6


def test_client_without_server_keeps_local_boxes_and_stops_cleanly_on_ctrl_c(
    data_dir: Path, tmp_path: Path
) -> None:
    """No server at all: the client keeps retrying, draws local boxes; SIGINT → exit 130, file ok."""
    out = tmp_path / "offline.mp4"
    cmd = [sys.executable, "-c", "from facegate.app.cli import main; main()", "client",
           "--server", f"http://127.0.0.1:{free_port()}", "--source",
           str(data_dir / "video" / "talking_blinks_1.mp4"), "--headless", "--out", str(out)]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        wait_for(lambda: out.is_file() and out.stat().st_size > 20_000, 60, "frames in the output")
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr.decode()
    assert stdout.decode().startswith("interrupted: frames")
    assert "0 answered" in stdout.decode() and "Traceback" not in stderr.decode()
    cap = cv2.VideoCapture(str(out))  # finalised: readable, every written frame has a box
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    assert frames and sum(yellow_pixels(f) > 200 for f in frames) >= 0.8 * len(frames)
