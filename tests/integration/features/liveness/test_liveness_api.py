"""The liveness HTTP API end to end (TestClient, real models, SQLite in a temp dir)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient

from facegate.app.bootstrap import Container
from facegate.app.http import create_app
from facegate.core.settings import Settings
from facegate.research.eval.reactive import ReactiveSource, ReplaySource, StillSource
from tests.auth_helpers import bearer, make_key
from tests.reactive import clip_of, feed, index_of, jpegs_of, rng


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


@pytest.fixture
def paced_client(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(
        data_dir=tmp_path / "data", testing=True, liveness_fixed_steps="turn_left,turn_right",
        liveness_reveal_delay_ms=(300, 900),
    )
    container = Container(settings)
    key = make_key(container, "liveness", "liveness-client")
    with TestClient(create_app(container=container), headers=bearer(key)) as c:
        warm = c.post("/v1/liveness/sessions").json()  # load the models before timing matters
        img = cv2.imencode(".jpg", np.zeros((64, 64, 3), np.uint8))[1].tobytes()
        post_frames(c, warm["id"], warm["nonce"], [(img, 0)])
        yield c


def run_source(client: TestClient, source_of: Any, path: Path) -> dict[str, Any]:
    r = client.post("/v1/liveness/sessions")
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["steps"] == [] and body["steps_total"] == 2 and body["mode"] == "paced"
    sid, nonce = body["id"], body["nonce"]

    def post(jpegs: list[bytes], stamps: list[int]) -> dict[str, Any]:
        res = post_frames(client, sid, nonce, list(zip(jpegs, stamps, strict=True)))
        assert res.status_code == 200, res.text
        return dict(res.json())

    return feed(jpegs_of(path), source_of(path), post, lambda a: a["steps"],
                lambda a: a["status"] != "pending")


def test_reactive_source_passes_over_http_and_a_replay_or_photo_does_not(
    paced_client: TestClient, data_dir: Path
) -> None:
    path = data_dir / "video" / "webcam_blink_turns.webm"
    got = run_source(paced_client, lambda p: ReactiveSource(index_of(p), rng(1)), path)
    assert got["status"] == "passed", got["reason"]
    assert [e["step"] for e in got["evidence"]] == ["turn_left", "turn_right"]
    assert all(150 <= e["reaction_ms"] <= 1500 for e in got["evidence"])
    got = run_source(paced_client, lambda p: ReplaySource(clip_of(p), 0.0), path)
    assert got["status"] == "failed", got
    got = run_source(paced_client, lambda p: StillSource(index_of(p).idle[0]), path)
    assert got["status"] == "failed" and "not begun" in got["reason"], got["reason"]


def test_offline_sessions_are_not_offered_over_http(blink_client: TestClient) -> None:
    body = blink_client.post("/v1/liveness/sessions").json()
    assert body["mode"] == "paced" and body["steps"] == []


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
