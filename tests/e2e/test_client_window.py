"""``facegate client`` in window mode, on a real X server (Xvfb), driven with xdotool.

* the real client (a subprocess, not ``--headless``) streams a video to a real FaceGate server
  (uvicorn subprocess, a registered device, an enrolled person); the "FaceGate" window appears
  on the Xvfb display and shows the server's decision banner (read from Xvfb's frame buffer;
  screenshot ``$FACEGATE_E2E_ARTIFACTS/client_window.png``); pressing ``q`` in it (xdotool) makes
  the client exit by itself, status 0, long before the video ends;
* without a display (no ``DISPLAY``/``WAYLAND_DISPLAY``) the client fails with one line and
  status 2 instead of being aborted by Qt.

Needs ``apt-get install xvfb xdotool`` (plus the shared test data); fails, never skips, when the
tools are missing.
"""

from __future__ import annotations

import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest

from facegate.app.bootstrap import Container
from facegate.core.domain import ImageArray
from facegate.core.settings import Settings
from facegate.core.vision.images import read_image_file
from facegate.features.access.client import NO_WINDOW, display_available
from tests.auth_helpers import make_device

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
WINDOW_TIMEOUT_S = 30  # the window appears within this many seconds of the client's start
BANNER_TIMEOUT_S = 30  # ... and shows the server's decision within this many more
VIDEO_FPS = 5.0
VIDEO_SECONDS = 75  # longer than the test can take: the client must not stop on its own before `q`
SCREEN = (1024, 768)


# --- helpers ------------------------------------------------------------------------------------


def require_tools() -> tuple[str, str]:
    """Paths of Xvfb and xdotool; the test FAILS (not skips) when one is missing."""
    xvfb = shutil.which("Xvfb") or ("/usr/bin/Xvfb" if Path("/usr/bin/Xvfb").exists() else None)
    xdotool = shutil.which("xdotool") or ("/usr/bin/xdotool" if Path("/usr/bin/xdotool").exists() else None)
    missing = [name for name, path in (("Xvfb", xvfb), ("xdotool", xdotool)) if path is None]
    if missing or xvfb is None or xdotool is None:
        pytest.fail(
            f"{' and '.join(missing)} not found: the window test needs a virtual X server and "
            "xdotool; install the apt packages: apt-get install xvfb xdotool",
            pytrace=False,
        )
    return xvfb, xdotool


def kill(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is not None and proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class XDisplay:
    name: str  # ":N", the value for DISPLAY
    fbdir: Path  # Xvfb keeps its screen here as an XWD file (Xvfb_screen0)
    xdotool: str

    def xdo(self, *args: str, timeout: float = 10) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.xdotool, *args], env={**os.environ, "DISPLAY": self.name},
            capture_output=True, text=True, timeout=timeout, check=False,
        )

    def screen(self) -> ImageArray:
        """The whole screen (BGR), read from Xvfb's XWD frame buffer file."""
        data = (self.fbdir / "Xvfb_screen0").read_bytes()
        h = np.frombuffer(data, ">u4", 25)
        header_size, width, height = int(h[0]), int(h[4]), int(h[5])
        byte_order, bits_per_pixel, bytes_per_line, ncolors = int(h[7]), int(h[11]), int(h[12]), int(h[19])
        assert bits_per_pixel == 32, f"unexpected XWD frame buffer: {bits_per_pixel} bits per pixel"
        start = header_size + 12 * ncolors
        rows = np.frombuffer(data, np.uint8, height * bytes_per_line, start).reshape(height, bytes_per_line)
        pixels = rows[:, : width * 4].reshape(height, width, 4)
        return np.ascontiguousarray(pixels[..., :3] if byte_order == 0 else pixels[..., 3:0:-1])


@pytest.fixture
def xvfb(tmp_path: Path) -> Iterator[XDisplay]:
    """A fresh Xvfb on a free display number (Xvfb picks it: -displayfd); killed afterwards."""
    xvfb_bin, xdotool = require_tools()
    fbdir = tmp_path / "xvfb"
    fbdir.mkdir()
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen(
        [xvfb_bin, "-displayfd", str(write_fd), "-screen", "0", f"{SCREEN[0]}x{SCREEN[1]}x24",
         "-nolisten", "tcp", "-fbdir", str(fbdir)],
        pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    os.close(write_fd)
    try:
        number = b""
        deadline = time.monotonic() + 15
        while not number.endswith(b"\n") and time.monotonic() < deadline:
            ready, _, _ = select.select([read_fd], [], [], 0.2)
            if ready:
                chunk = os.read(read_fd, 16)
                if not chunk:
                    break
                number += chunk
        if not number.strip().isdigit():
            kill(proc)
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            raise AssertionError(f"Xvfb did not start (exit {proc.poll()}): {err[-2000:]}")
        yield XDisplay(f":{int(number)}", fbdir, xdotool)
    finally:
        os.close(read_fd)
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                kill(proc)
        if proc.stderr:
            proc.stderr.close()


def looping_video(source: Path, out: Path, seconds: int, fps: float) -> int:
    """The first 4 s of ``source`` (every 6th frame) over and over for ``seconds``; returns the frame
    count. The client has no loop option: it stops at the end of a file."""
    cap = cv2.VideoCapture(str(source))
    frames: list[ImageArray] = []
    for i in range(120):
        ok, frame = cap.read()
        if not ok:
            break
        if i % 6 == 0:
            frames.append(frame)
    cap.release()
    assert frames, f"cannot read {source}"
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter.fourcc(*"mp4v"), fps, (w, h))
    assert writer.isOpened(), f"cannot write {out}"
    total = int(seconds * fps)
    for k in range(total):
        writer.write(frames[k % len(frames)])
    writer.release()
    return total


@pytest.fixture
def camera_video(data_dir: Path, tmp_path: Path) -> Iterator[Future[int]]:
    """The client's camera: ``gate_camera.mp4`` (``looping_video``), written in a thread while the
    server starts; the future gives its frame count."""
    with ThreadPoolExecutor(1) as pool:
        yield pool.submit(
            looping_video, data_dir / "video" / "webcam_blink_turns.webm", tmp_path / "gate_camera.mp4",
            VIDEO_SECONDS, VIDEO_FPS,
        )


@dataclass
class Gate:
    url: str
    token: str
    proc: subprocess.Popen[bytes]
    log: Path

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited ({self.proc.returncode}): {output_of(self.log)[-2000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"server not ready within {timeout} s: {output_of(self.log)[-2000:]}")
            time.sleep(0.2)


@pytest.fixture
def gate_server(tmp_path: Path, faces_dir: Path) -> Iterator[Gate]:
    """A real FaceGate server (uvicorn subprocess) with a device token and one enrolled person.

    Started, not yet ready: call ``wait_ready()`` (the test prepares its video meanwhile)."""
    data = tmp_path / "data"
    c = Container(Settings(data_dir=data))
    c.prepare_store()
    c.enrollment.enroll(
        "obama", [read_image_file(faces_dir / "people" / "obama" / "obama.jpg")], "Barack Obama"
    )
    token = make_device(c, "front-door", frozenset({"default"}))  # obama's group
    c.shutdown()
    port = free_port()
    env = {**os.environ, "FACEGATE_DATA_DIR": str(data), "FACEGATE_STREAM_DOOR_LIVENESS": "off"}
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "facegate.app.main:app", "--host", "127.0.0.1",
             "--port", str(port), "--log-level", "warning"],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )
    try:
        yield Gate(f"http://127.0.0.1:{port}", token, proc, log_path)
    finally:
        kill(proc)


@pytest.fixture
def artifacts() -> Path:
    d = Path(os.environ.get("FACEGATE_E2E_ARTIFACTS", REPO / "artifacts" / "e2e"))
    d.mkdir(parents=True, exist_ok=True)
    return d


def banner_pixels(image: ImageArray) -> int:
    """Pixels of the decision banner's colours (ACCESS DENIED red / ACCESS GRANTED green)."""
    b, g, r = (image[..., k].astype(int) for k in range(3))
    red = (abs(b - 40) < 25) & (abs(g - 40) < 25) & (abs(r - 230) < 25)
    green = (abs(b - 60) < 25) & (abs(g - 200) < 25) & (abs(r - 60) < 25)
    return int(np.count_nonzero(red | green))


def window_geometry(x: XDisplay, window: str) -> tuple[int, int, int, int]:
    out = x.xdo("getwindowgeometry", "--shell", window).stdout
    g = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    try:
        return int(g["X"]), int(g["Y"]), int(g["WIDTH"]), int(g["HEIGHT"])
    except (KeyError, ValueError):
        return 0, 0, SCREEN[0], SCREEN[1]


def output_of(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


# --- tests --------------------------------------------------------------------------------------


def test_display_available_needs_a_display_on_linux() -> None:
    assert not display_available({}, "linux")
    assert not display_available({"DISPLAY": ""}, "linux")
    assert display_available({"DISPLAY": ":0"}, "linux")
    assert display_available({"WAYLAND_DISPLAY": "wayland-0"}, "linux")
    assert display_available({}, "win32")
    assert display_available({}, "darwin")


def test_window_shows_the_stream_and_q_quits(
    xvfb: XDisplay, camera_video: Future[int], gate_server: Gate, tmp_path: Path, artifacts: Path
) -> None:
    t0 = time.monotonic()
    phases: dict[str, float] = {}  # seconds from the test's start, printed (shown when it fails)
    video = tmp_path / "gate_camera.mp4"
    total = camera_video.result(timeout=120)
    phases["video"] = time.monotonic() - t0
    gate_server.wait_ready()
    phases["server ready"] = time.monotonic() - t0
    env = {**os.environ, "DISPLAY": xvfb.name, "FACEGATE_DEVICE_TOKEN": gate_server.token}
    env.pop("WAYLAND_DISPLAY", None)
    out_path, err_path = tmp_path / "client.out", tmp_path / "client.err"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        client = subprocess.Popen(
            [sys.executable, "-m", "facegate", "client", "--server", gate_server.url,
             "--source", str(video), "--camera", "gate-1"],
            env=env, stdout=out, stderr=err,
        )
    started = time.monotonic()

    def logs() -> str:
        return f"\nstdout: {output_of(out_path)}\nstderr: {output_of(err_path)[-3000:]}"

    try:
        # 1. the window appears on the X display
        window = ""
        while not window:
            assert client.poll() is None, f"client exited early ({client.returncode}){logs()}"
            assert time.monotonic() - started < WINDOW_TIMEOUT_S, f"no FaceGate window{logs()}"
            found = xvfb.xdo("search", "--name", "FaceGate").stdout.split()
            window = found[0] if found else ""
            if not window:
                time.sleep(0.2)

        phases["window"] = time.monotonic() - t0

        # 2. it shows the annotated stream with the server's decision banner
        x0, y0, w, h = window_geometry(xvfb, window)
        shot = xvfb.screen()[max(0, y0) : y0 + h, max(0, x0) : x0 + w]
        deadline = time.monotonic() + BANNER_TIMEOUT_S
        while banner_pixels(shot) < 5000:
            assert client.poll() is None, f"client exited early ({client.returncode}){logs()}"
            assert time.monotonic() < deadline, f"no decision banner in the window{logs()}"
            time.sleep(0.3)
            shot = xvfb.screen()[max(0, y0) : y0 + h, max(0, x0) : x0 + w]
        phases["banner"] = time.monotonic() - t0
        cv2.imwrite(str(artifacts / "client_window.png"), shot)
        assert w >= 320 and h >= 240, (x0, y0, w, h)

        # 3. `q` in the window stops the client by itself, cleanly, long before the video ends
        assert client.poll() is None, f"client stopped before q{logs()}"
        xvfb.xdo("windowfocus", "--sync", window)
        pressed = time.monotonic()
        key = xvfb.xdo("key", "--window", window, "q")
        assert key.returncode == 0, key.stderr
        try:
            rc = client.wait(10)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the client did not exit within 10 s of q{logs()}") from None
        quit_s = time.monotonic() - pressed
        phases["exited"] = time.monotonic() - t0
    finally:
        kill(client)
        print("phases (s):", {k: round(v, 1) for k, v in phases.items()})

    stdout, stderr = output_of(out_path), output_of(err_path)
    assert rc == 0, f"exit status {rc}{logs()}"
    assert quit_s < 10, quit_s
    summary = stdout.strip().splitlines()[-1]
    assert not summary.startswith("interrupted"), summary
    m = re.search(r"frames (\d+) captured, (\d+) sent, (\d+) answered", summary)
    assert m, summary
    captured, sent, answered = (int(v) for v in m.groups())
    assert 0 < captured < total, (captured, total)  # stopped by q, not by the end of the video
    assert sent > 0 and answered > 0, summary
    assert re.search(r"[1-9]\d* connection\(s\)", summary), summary
    assert "error:" not in stderr, stderr


def test_no_display_fails_with_one_line(data_dir: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env["FACEGATE_DEVICE_TOKEN"] = "not-needed"  # the window fails on the first frame, before any answer
    proc = subprocess.Popen(
        [sys.executable, "-m", "facegate", "client", "--server", f"http://127.0.0.1:{free_port()}",
         "--source", str(data_dir / "video" / "webcam_blink_turns.webm")],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        stdout, stderr = proc.communicate(timeout=40)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
    assert proc.returncode == 2, (proc.returncode, stderr[-3000:])  # not a Qt abort (-6/134)
    assert stderr == f"error: {NO_WINDOW}\n", stderr[-3000:]
    assert stdout == ""
