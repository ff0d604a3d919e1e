"""Web login with the real models and the real liveness service, over HTTP (no browser).

Frames of ../shared/data/video/webcam_blink_turns.webm are posted as the browser would (JPEG +
ms timestamps at 15 fps); the step order is fixed (test-only setting) to the video's order.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import cv2
import httpx
import pytest
from fastapi.testclient import TestClient

from facegate.app.bootstrap import Container
from facegate.core.settings import Settings
from facegate.core.store.audit import AuditQuery

PASSWORD = "integration pw 1"
FPS = 15.0
VIDEO_STEPS = "blink,turn_left,turn_right"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def video_frames(data_dir: Path) -> list[bytes]:
    """The video's frames at 15 fps as JPEG bytes (what the page's canvas.toBlob sends)."""
    path = data_dir / "video" / "webcam_blink_turns.webm"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    cap = cv2.VideoCapture(str(path))
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    out: list[bytes] = []
    i = 0
    while True:
        ok, img = cap.read()
        if not ok:
            break
        if i * FPS / fps >= len(out):
            out.append(cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 85])[1].tobytes())
        i += 1
    cap.release()
    assert len(out) > 60
    return out


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Container]]:
    from facegate.app.http import create_app

    settings = Settings(
        data_dir=tmp_path_factory.mktemp("web-int"), testing=True,
        liveness_fixed_steps=VIDEO_STEPS, web_cookie_secure=False,
    )
    container = Container(settings)
    with TestClient(create_app(settings, container)) as client:
        yield client, container


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf-token" content="([^"]+)"', html)
    assert m
    return m.group(1)


def register(
    client: TestClient, username: str, files: list[tuple[str, bytes]], source: str
) -> httpx.Response:
    client.cookies.clear()
    token = csrf_of(client.get("/register").text)
    return client.post(
        "/register",
        data={"csrf_token": token, "username": username, "display_name": username.title(),
              "password": PASSWORD, "password_again": PASSWORD, "source": source},
        files=[("photos", (n, d, "image/jpeg")) for n, d in files],
    )


def face_login(
    client: TestClient, username: str, frames: list[bytes], spacing_ms: float
) -> httpx.Response:
    """Password step, then frames in batches of 8 until the challenge is decided, then finish."""
    client.cookies.clear()
    token = csrf_of(client.get("/login").text)
    data = {"csrf_token": token, "username": username, "password": PASSWORD}
    r = client.post("/login", data=data, follow_redirects=False)
    assert r.status_code == 303, r.text
    h = {"X-CSRF-Token": csrf_of(client.get("/login/face").text)}
    start = client.post("/login/face/start", headers=h)
    assert start.status_code == 200 and start.json()["steps"] == VIDEO_STEPS.split(",")
    for k in range(0, len(frames), 8):
        batch = frames[k:k + 8]
        times = [round((k + i) * spacing_ms) for i in range(len(batch))]
        r = client.post("/login/face/frames", headers=h, data={"timestamps": json.dumps(times)},
                        files=[("frames", (f"f{i}.jpg", b, "image/jpeg")) for i, b in enumerate(batch)])
        assert r.status_code == 200, r.text
        assert set(r.json()) >= {"state", "steps_done", "steps_total", "instruction"}
        assert "reason" not in r.json()  # the page never learns which check failed
        if r.json()["state"] == "done":
            break
    return client.post("/login/face/finish", headers=h)


def test_live_video_logs_in_and_a_replayed_photo_does_not(
    site: tuple[TestClient, Container], video_frames: list[bytes]
) -> None:
    client, container = site
    # register by "camera": three frontal frames from the start of the video
    r = register(client, "erin", [(f"cam{i}.jpg", video_frames[i]) for i in (0, 3, 6)], "camera")
    assert r.status_code == 201, r.text

    # 1. the live video: liveness passes and the face is erin's → logged in
    r = face_login(client, "erin", video_frames, 1000 / FPS)
    assert r.status_code == 200, r.text
    assert client.get("/dashboard").status_code == 200
    granted = container.audit.query(AuditQuery(action="login", decision="granted"))
    assert granted[0].subject == "erin" and granted[0].score is not None
    assert granted[0].score >= container.match_threshold

    # the liveness session that logged in is spent: it cannot be consumed again
    sid = container.audit.query(AuditQuery(action="liveness.consume"))[0].details["session"]
    again = container.face_login.finish("erin", str(sid))
    assert not again.passed and "already used" in again.reason

    # 2. a still photo replayed as frames (one a second, for longer than a step may take):
    #    never passes, so a photo can enrol but cannot log in
    r = face_login(client, "erin", [video_frames[0]] * 8, 999.0)
    assert r.status_code == 401
    assert "live face check did not succeed" in r.json()["error"]["message"]  # no score, no reason
    assert client.get("/dashboard", follow_redirects=False).status_code == 303
    denied = container.audit.query(AuditQuery(action="login", decision="denied", subject="erin"))
    assert "has not passed (failed)" in str(denied[0].details["reason"])
    # (right password + live person + another person's enrolled face: tests/e2e/test_browser_web.py)
