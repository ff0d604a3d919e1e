"""Web login with the real models and the real liveness service, over HTTP (no browser).

Frames of ../shared/data/video/webcam_blink_turns.webm are streamed in real time as the browser
would (JPEG + ms timestamps, a batch every 0.3 s) by the reactive source (tests/reactive.py): it
plays the clip's segment of each step only after the server revealed it. Steps are fixed to
turns (test-only setting) to keep it short; they still appear one at a time at random moments.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from facegate.app.bootstrap import Container
from facegate.core.settings import Settings
from facegate.core.store.audit import AuditQuery
from facegate.research.eval.reactive import ReactiveSource, ReplaySource, Source, StillSource
from tests.reactive import clip_of, feed, index_of, jpegs_of, rng

PASSWORD = "integration pw 1"
FPS = 15.0
VIDEO_STEPS = "turn_right,turn_left"

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
        liveness_reveal_delay_ms=(300, 900),
    )
    container = Container(settings)
    container.liveness.measurer.measure(np.zeros((480, 640, 3), np.uint8), 0, 0)  # load models now
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


def face_login(client: TestClient, username: str, source: Source, path: Path) -> httpx.Response:
    """Password step, then frames streamed until the challenge is decided, then finish."""
    client.cookies.clear()
    token = csrf_of(client.get("/login").text)
    data = {"csrf_token": token, "username": username, "password": PASSWORD}
    r = client.post("/login", data=data, follow_redirects=False)
    assert r.status_code == 303, r.text
    h = {"X-CSRF-Token": csrf_of(client.get("/login/face").text)}
    start = client.post("/login/face/start", headers=h)
    assert start.status_code == 200 and start.json()["steps"] == []  # nothing revealed yet
    assert start.json()["steps_total"] == 2

    def post(jpegs: list[bytes], times: list[int]) -> dict[str, Any]:
        r = client.post("/login/face/frames", headers=h, data={"timestamps": json.dumps(times)},
                        files=[("frames", (f"f{i}.jpg", b, "image/jpeg")) for i, b in enumerate(jpegs)])
        assert r.status_code == 200, r.text
        assert set(r.json()) >= {"state", "steps_done", "steps_total", "instruction"}
        assert "reason" not in r.json()  # the page never learns which check failed
        return dict(r.json())

    feed(jpegs_of(path), source, post, lambda a: a["steps"], lambda a: a["state"] == "done")
    return client.post("/login/face/finish", headers=h)


def test_live_video_logs_in_and_a_replayed_photo_does_not(
    site: tuple[TestClient, Container], video_frames: list[bytes], data_dir: Path
) -> None:
    client, container = site
    video = data_dir / "video" / "webcam_blink_turns.webm"
    # register by "camera": three frontal frames from the start of the video
    r = register(client, "erin", [(f"cam{i}.jpg", video_frames[i]) for i in (0, 3, 6)], "camera")
    assert r.status_code == 201, r.text

    # 1. the reactive source (a live person): liveness passes and the face is erin's → logged in
    r = face_login(client, "erin", ReactiveSource(index_of(video), rng(3)), video)
    assert r.status_code == 200, container.audit.query(AuditQuery(action="liveness"))[0].details
    assert client.get("/dashboard").status_code == 200
    granted = container.audit.query(AuditQuery(action="login", decision="granted"))
    assert granted[0].subject == "erin" and granted[0].score is not None
    assert granted[0].score >= container.match_threshold

    # the liveness session that logged in is spent: it cannot be consumed again
    sid = container.audit.query(AuditQuery(action="liveness.consume"))[0].details["session"]
    again = container.face_login.finish("erin", str(sid))
    assert not again.passed and "already used" in again.reason

    # 2. a still photo streamed as a camera would: never passes, so a photo can enrol but cannot
    #    log in; 3. the same video replayed (it cannot react to the steps): does not pass either
    r = face_login(client, "erin", StillSource(0), video)
    assert r.status_code == 401
    assert "live face check did not succeed" in r.json()["error"]["message"]  # no score, no reason
    assert client.get("/dashboard", follow_redirects=False).status_code == 303
    denied = container.audit.query(AuditQuery(action="login", decision="denied", subject="erin"))
    assert "has not passed (failed)" in str(denied[0].details["reason"])
    r = face_login(client, "erin", ReplaySource(clip_of(video), 0.0), video)
    assert r.status_code == 401
    # (right password + live person + another person's enrolled face: tests/e2e/test_browser_web.py)
