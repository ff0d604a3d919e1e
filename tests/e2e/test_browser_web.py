"""End-to-end in real Chromium (Debian's /usr/bin/chromium driven by Playwright for Python).

The login's liveness challenge is server-paced (steps revealed one at a time at random moments),
which a recording cannot follow, so the webcam is the test hook of tests/e2e/reactive_camera.py:
a fake ``getUserMedia`` stream that plays ../shared/data/video/webcam_blink_turns.webm's segment
of each step only after the page shows it. The server is a separate ``uvicorn`` process on a
fresh data dir; its challenges are drawn (5 steps) from the video's head turns.
Screenshots of register, login mid-challenge, dashboard, ballot and results go to
``$FACEGATE_E2E_ARTIFACTS`` (default ``artifacts/e2e`` in the repository).

Needs: ``apt-get install chromium ffmpeg`` and ``pip install playwright`` (never
``playwright install``). Skips with the reason when one is missing.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("FACEGATE_CHROMIUM", "/usr/bin/chromium"))
# Head turns only by default: a blink lasts 3-4 frames, and on the loaded test machine the page's
# thinned batches (the server keeps up with only a few frames a second) can miss it; with
# FACEGATE_E2E_ACTIONS=blink,turn_left,turn_right it passed once and failed once (2026-11-29).
VIDEO_ACTIONS = os.environ.get("FACEGATE_E2E_ACTIONS", "turn_left,turn_right")
PASSWORD = "e2e password 123"
CHALLENGE_TIMEOUT_MS = 90_000

pytestmark = pytest.mark.slow


@dataclass
class Server:
    url: str
    data_dir: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    log: Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def artifacts() -> Path:
    d = Path(os.environ.get("FACEGATE_E2E_ARTIFACTS", REPO / "artifacts" / "e2e"))
    d.mkdir(parents=True, exist_ok=True)
    return d


@pytest.fixture(scope="module")
def camera_file(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not CHROMIUM.exists():
        pytest.skip(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg not found (apt-get install ffmpeg)")
    pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    video = data_dir / "video" / "webcam_blink_turns.webm"
    if not video.is_file():
        pytest.skip(f"{video} not found")
    out = tmp_path_factory.mktemp("camera") / "cam.y4m"
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-y", "-i", str(video), "-pix_fmt", "yuv420p", "-r", "15",
         str(out)],
        check=True,
    )
    return out


@pytest.fixture(scope="module")
def server(
    camera_file: Path, artifacts: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    data = tmp_path_factory.mktemp("e2e-data")
    port = _free_port()
    env = {
        **os.environ,
        "FACEGATE_DATA_DIR": str(data),
        "FACEGATE_TESTING": "1",
        "FACEGATE_LIVENESS_PACED_CHOICES": VIDEO_ACTIONS,
        "FACEGATE_WEB_COOKIE_SECURE": "1",  # http://localhost counts as a secure context
        "OMP_NUM_THREADS": "1",
    }
    log = artifacts / "server.log"
    subprocess.run([sys.executable, "-m", "facegate", "db", "upgrade"], env=env, check=True,
                   capture_output=True)
    with log.open("wb") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "facegate.app.main:app", "--host", "127.0.0.1",
             "--port", str(port), "--log-level", "warning"],
            env=env, stdout=fh, stderr=subprocess.STDOUT,
        )
    url = f"http://localhost:{port}"
    deadline = time.monotonic() + 60
    import httpx

    while True:
        try:
            if httpx.get(f"{url}/login", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"server did not start: {log.read_text(errors='replace')[-2000:]}")
        time.sleep(0.3)
    try:
        yield Server(url, data, env, proc, log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def browser(camera_file: Path) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    args = [
        "--no-sandbox", "--disable-gpu", "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream", f"--use-file-for-fake-video-capture={camera_file}",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run",
    ]
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=args)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Any, server: Server, data_dir: Path) -> Iterator[Any]:
    from tests.e2e.reactive_camera import install

    context = browser.new_context(viewport={"width": 1000, "height": 800})
    install(context, data_dir / "video" / "webcam_blink_turns.webm")
    context.set_default_timeout(30_000)
    pg = context.new_page()
    pg.failed_responses = []  # (status, url, body) of every 4xx/5xx, for failure messages

    def keep_failure(response: Any) -> None:
        if response.status >= 400:
            try:
                body = response.text()[:300]
            except Exception:  # the body may be gone after a navigation
                body = ""
            pg.failed_responses.append((response.status, response.url, body))

    pg.on("response", keep_failure)
    try:
        yield pg
    finally:
        context.close()


def facegate_cli(server: Server, *args: str) -> str:
    r = subprocess.run([sys.executable, "-m", "facegate", *args], env=server.env,
                       capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr
    return r.stdout


def audit_rows(server: Server, action: str) -> list[tuple[str, str | None, str]]:
    """(decision, subject, details JSON) of the server's audit lines for ``action``, oldest first."""
    import sqlite3

    with sqlite3.connect(server.data_dir / "facegate.db") as db:
        return list(db.execute(
            "SELECT decision, subject, details FROM audit_log WHERE action = ? ORDER BY id", (action,)
        ))


def register_with_camera(page: Any, server: Server, username: str, artifacts: Path | None) -> None:
    page.goto(f"{server.url}/register")
    page.fill("#username", username)
    page.fill("#display_name", "Erin Example")
    page.fill("#password", PASSWORD)
    page.fill("#password_again", PASSWORD)
    page.click("#capture")
    page.wait_for_selector("#capture-status[data-ready='1']")
    if artifacts is not None:
        page.screenshot(path=str(artifacts / "register.png"), full_page=True)
    page.click("#submit")
    page.wait_for_selector("#registered")


def login_password(page: Any, server: Server, username: str, password: str = PASSWORD) -> None:
    page.goto(f"{server.url}/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#submit")


def wait_for_login_outcome(page: Any) -> str:
    """Wait until the face step ends: "/dashboard", or the error message shown on the page.

    (Polled from Python: the pages' Content-Security-Policy forbids the string evaluation that
    ``wait_for_function`` would use.)
    """
    deadline = time.monotonic() + CHALLENGE_TIMEOUT_MS / 1000
    while time.monotonic() < deadline:
        if page.url.endswith("/dashboard"):
            page.wait_for_selector("#welcome")
            return "/dashboard"
        if page.is_visible("#face-error"):
            return str(page.inner_text("#face-error"))
        page.wait_for_timeout(250)
    raise AssertionError(f"the face step did not end in {CHALLENGE_TIMEOUT_MS} ms")


def test_register_login_with_live_face_vote_and_results(page: Any, server: Server, artifacts: Path) -> None:
    out = facegate_cli(server, "admin", "election", "Student council 2026", "--party", "Blue list",
                       "--party", "Green list", "--party", "Orange list",
                       "--opens", "2020-01-01T00:00", "--closes", "2099-01-01T00:00")
    assert "election 1" in out

    register_with_camera(page, server, "erin", artifacts)
    assert "face sample(s) enrolled" in page.inner_text("main")
    # registering does not log in: the dashboard still needs the live-face login
    page.goto(f"{server.url}/dashboard")
    assert page.url.endswith("/login")

    login_password(page, server, "erin")
    page.wait_for_url("**/login/face")
    page.wait_for_selector("#instruction[data-step]:not([data-step=''])", timeout=CHALLENGE_TIMEOUT_MS)
    page.screenshot(path=str(artifacts / "login_challenge.png"))
    outcome = wait_for_login_outcome(page)
    assert outcome == "/dashboard", (
        f"login denied: {outcome} {page.failed_responses} "
        f"{audit_rows(server, 'login')[-1:]} {audit_rows(server, 'liveness')}"
    )
    assert "Welcome, Erin Example" in page.inner_text("#welcome")
    assert "granted" in page.inner_text("#events")
    page.screenshot(path=str(artifacts / "dashboard.png"), full_page=True)
    granted = [r for r in audit_rows(server, "login") if r[0] == "granted"]
    assert len(granted) == 1 and granted[0][1] == "erin"

    # voter details, ballot, one vote, results
    page.click("#elections a >> nth=0")
    page.fill("#full_name", "Erin Example")
    page.fill("#date_of_birth", "1990-04-12")
    page.fill("#voter_number", "SC-0042")
    page.click("#voter-submit")
    page.wait_for_selector("#ballot-form")
    page.screenshot(path=str(artifacts / "ballot.png"), full_page=True)
    page.check("text=Green list")
    page.click("#vote")
    page.wait_for_selector("#vote-ok")
    assert page.inner_text("#total") == "1"
    counts = page.inner_text("#counts")
    assert "Green list\t1" in counts and "Blue list\t0" in counts
    page.screenshot(path=str(artifacts / "results.png"), full_page=True)

    # an election that has closed says so instead of showing a ballot with a greyed-out button
    out = facegate_cli(server, "admin", "election", "Board 2025", "--party", "Red", "--party",
                       "Green", "--opens", "2025-05-01T08:00", "--closes", "2025-05-01T20:00")
    assert "election 2" in out
    page.goto(f"{server.url}/elections/2")
    assert "voting has ended" in page.inner_text("#election-closed")
    assert not page.is_visible("#vote") and not page.is_visible("#voter-form")
    page.screenshot(path=str(artifacts / "ballot_closed.png"), full_page=True)

    # a second vote is refused by the server (the page no longer offers a ballot)
    page.goto(f"{server.url}/elections/1")
    assert page.is_visible("#already-voted")
    status = page.evaluate(
        """async () => {
            const csrf = document.querySelector('meta[name="csrf-token"]').content;
            const body = new URLSearchParams({csrf_token: csrf, party_id: "1"});
            const r = await fetch('/elections/1/vote', {method: 'POST', body});
            return r.status; }"""
    )
    assert status == 409
    assert [r[0] for r in audit_rows(server, "vote")] == ["ok", "refused"]

    # log out: the session is gone
    page.click("#logout")
    page.wait_for_url("**/login")
    page.goto(f"{server.url}/dashboard")
    assert page.url.endswith("/login")


def test_right_password_but_another_persons_face_is_denied(
    page: Any, server: Server, faces_dir: Path, artifacts: Path
) -> None:
    """The account's enrolled face is someone else's photos; the camera shows the video's person:
    liveness passes, the 1:1 check fails, the login is denied with the generic message."""
    photos = sorted((faces_dir / "people" / "obama").glob("*"))[:2]
    page.goto(f"{server.url}/register")
    page.fill("#username", "mallory")
    page.fill("#password", PASSWORD)
    page.fill("#password_again", PASSWORD)
    page.set_input_files("#photos", [str(p) for p in photos])
    page.click("#submit")
    page.wait_for_selector("#registered")

    login_password(page, server, "mallory")
    page.wait_for_url("**/login/face")
    message = wait_for_login_outcome(page)
    assert "The live face check did not succeed" in message and "redo the face check" in message
    page.screenshot(path=str(artifacts / "login_face_failed.png"), full_page=True)
    page.goto(f"{server.url}/dashboard")
    assert page.url.endswith("/login")
    denied = [r for r in audit_rows(server, "login") if r[1] == "mallory" and r[0] == "denied"]
    assert len(denied) == 1 and "not the account's person" in denied[0][2]


def test_five_wrong_passwords_lock_the_account(page: Any, server: Server) -> None:
    messages = []
    for _ in range(5):
        login_password(page, server, "erin", "not the password")
        messages.append(page.inner_text("#error"))
    # the first four are plain refusals; the fifth is one too, or already the lock when an earlier
    # test's failure from this same address (127.0.0.1) counts within the 60 s window
    assert all("wrong username or password" in m for m in messages[:4])
    assert "wrong username or password" in messages[4] or "too many failed logins" in messages[4]
    login_password(page, server, "erin")  # the right password, but locked
    assert "too many failed logins" in page.inner_text("#error")
    assert page.url.endswith("/login")
