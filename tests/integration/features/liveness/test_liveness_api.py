"""The liveness HTTP API end to end (TestClient, real models, SQLite in a temp dir)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import pytest
from fastapi.testclient import TestClient

from facegate.app.bootstrap import Container
from facegate.app.http import create_app
from facegate.core.settings import Settings
from tests.auth_helpers import bearer, make_key


@pytest.fixture
def blink_client(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path / "data", testing=True, liveness_fixed_steps="blink")
    container = Container(settings)
    key = make_key(container, "liveness", "liveness-client")
    with TestClient(create_app(container=container), headers=bearer(key)) as c:
        yield c


def jpeg_frames(path: Path, every: int, limit: int) -> list[tuple[bytes, int]]:
    cap = cv2.VideoCapture(str(path))
    out: list[tuple[bytes, int]] = []
    i = 0
    while len(out) < limit:
        ok, img = cap.read()
        if not ok:
            break
        if i % every == 0:
            ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 85])
            assert ok
            out.append((bytes(buf), round(cap.get(cv2.CAP_PROP_POS_MSEC))))
        i += 1
    cap.release()
    return out


def post_frames(
    client: TestClient, sid: str, nonce: str, frames: list[tuple[bytes, int]], final: bool = False
) -> Any:
    files = [("frames", (f"f{i}.jpg", data, "image/jpeg")) for i, (data, _) in enumerate(frames)]
    form = {"timestamps": json.dumps([t for _, t in frames]), "nonce": nonce, "final": str(final).lower()}
    return client.post(f"/v1/liveness/sessions/{sid}/frames", files=files, data=form)


def test_session_frames_and_result_over_http(blink_client: TestClient, data_dir: Path) -> None:
    video = data_dir / "video" / "talking_blinks_1.mp4"
    r = blink_client.post("/v1/liveness/sessions")
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["steps"] == ["blink"] and body["status"] == "pending" and len(body["nonce"]) >= 24
    assert body["limits"]["step_time_limit_ms"] == 6000
    sid, nonce = body["id"], body["nonce"]

    frames = jpeg_frames(video, every=2, limit=40)
    wrong = post_frames(blink_client, sid, "not-the-nonce", frames[:2])
    assert wrong.status_code == 403 and wrong.json()["error"]["code"] == "forbidden"
    status = "pending"
    for i in range(0, len(frames), 20):
        r = post_frames(blink_client, sid, nonce, frames[i : i + 20])
        assert r.status_code == 200, r.text
        status = r.json()["status"]
        if status != "pending":
            break
    assert status == "passed"
    got = blink_client.get(f"/v1/liveness/sessions/{sid}").json()
    assert got["status"] == "passed" and got["evidence"][0]["done"] is True
    assert "person_id" not in got and got["nonce"] is None

    again = post_frames(blink_client, sid, nonce, frames[:1])
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"


def test_bad_frame_batches_get_clear_errors(blink_client: TestClient, data_dir: Path) -> None:
    frames = jpeg_frames(data_dir / "video" / "talking_blinks_1.mp4", every=2, limit=3)
    created = blink_client.post("/v1/liveness/sessions").json()
    sid, nonce = created["id"], created["nonce"]
    reversed_ = [frames[1], frames[0]]
    r = post_frames(blink_client, sid, nonce, reversed_)
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_frames"
    dup = [frames[0], (frames[1][0], frames[0][1])]
    assert post_frames(blink_client, sid, nonce, dup).status_code == 422
    files = [("frames", ("a.jpg", frames[0][0], "image/jpeg"))]
    form = {"timestamps": "[1, 2]", "nonce": nonce}
    r = blink_client.post(f"/v1/liveness/sessions/{sid}/frames", files=files, data=form)
    assert r.status_code == 422 and "2 values for 1 frames" in r.json()["error"]["message"]
    r = blink_client.post(
        f"/v1/liveness/sessions/{sid}/frames",
        files=[("frames", ("x.jpg", b"not an image", "image/jpeg"))],
        data={"timestamps": "[0]", "nonce": nonce},
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_image"
    assert blink_client.get(f"/v1/liveness/sessions/{sid}").json()["frame_count"] == 0
    assert blink_client.get("/v1/liveness/sessions/nope").status_code == 404
