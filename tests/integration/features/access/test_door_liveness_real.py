"""Door liveness with the real models on the shared videos, in each door mode (off/passive/strict).

Frames go through the stream's access session (what ``/v1/stream`` runs per frame, see
tests/integration/features/access/test_stream_real.py for the WebSocket itself); the server
clock is the video's own time, so "granted within N seconds" is in seconds of the person standing at the door.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from facegate.app.bootstrap import Container
from facegate.core.domain import ImageArray
from facegate.core.settings import Settings
from facegate.core.store.audit import AuditQuery
from facegate.core.vision.images import read_image_file
from facegate.research.eval.clips import read_video

pytestmark = pytest.mark.slow
Video = tuple[list[ImageArray], list[int]]
EVERY = 2  # every 2nd frame: ~9 fps of the webcam video, a door camera's pace


class VideoClock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture(scope="module")
def video(data_dir: Path) -> Video:
    path = data_dir / "video" / "webcam_blink_turns.webm"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    return read_video(path)


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory, video: Video) -> Iterator[Path]:
    """A data dir with the person of the video enrolled from three near-frontal frames."""
    d = tmp_path_factory.mktemp("door")
    c = Container(Settings(data_dir=d, stream_door_liveness="off"))
    c.prepare_store()
    from facegate.core.vision.quality import estimate_yaw_pitch

    frontal = []
    for img in video[0][::6]:
        faces = c.detector.detect(img)
        if len(faces) == 1 and abs(estimate_yaw_pitch(faces[0])[0]) < 8:
            frontal.append(img)
    assert len(frontal) >= 3
    c.enrollment.enroll("dana", frontal[:3], "Dana Door")
    c.shutdown()
    yield d


def door(base: Path, mode: str) -> tuple[Container, VideoClock]:
    c = Container(Settings(data_dir=base, stream_door_liveness=mode))
    clock = VideoClock()
    c.access.clock = clock
    return c, clock


def run(c: Container, clock: VideoClock, frames: list[ImageArray], stamps: list[int]) -> float | None:
    """Seconds of video until the first grant, or None."""
    session = c.access.open_session("device:front")
    for img, t in zip(frames, stamps, strict=True):
        clock.t = t / 1000.0
        out = session.process_image(img)
        if out.decision.granted:
            return clock.t - stamps[0] / 1000.0
    return None


def still(video: Video, seconds: float = 10.0) -> Video:
    """A looped still photo: the video's first frame, ~9 fps for ``seconds``."""
    n = round(seconds * 9)
    return [video[0][0]] * n, [round(k * 1000 / 9) for k in range(n)]


def test_door_off_grants_a_still_photo(base: Path, video: Video) -> None:
    c, clock = door(base, "off")
    assert run(c, clock, *still(video, 2.0)) is not None  # why doors need liveness


@pytest.mark.parametrize("mode", ["passive", "strict"])
def test_door_liveness_refuses_a_still_photo_and_grants_the_live_person(
    base: Path, video: Video, mode: str
) -> None:
    c, clock = door(base, mode)
    assert run(c, clock, *still(video, 10.0)) is None
    denied = c.audit.query(AuditQuery(action="access", decision="denied"))
    assert denied and denied[0].details["reason"] == "not_live"
    assert denied[0].details["liveness"]["parallax"] < 0.05
    frames, stamps = video[0][::EVERY], video[1][::EVERY]
    took = run(c, clock, frames, stamps)
    assert took is not None and took <= 5.0, took
    granted = c.audit.query(AuditQuery(action="access", decision="granted"))[0]
    assert granted.subject == "dana" and granted.details["liveness"]["live"] is True
    if mode == "strict":
        assert granted.details["liveness"]["blink"] is True


def test_per_door_modes(base: Path, video: Video) -> None:
    c = Container(Settings(data_dir=base, stream_door_liveness="strict",
                           stream_door_liveness_doors="lobby=off"))
    assert c.access.door_mode("device:lobby").value == "off"
    assert c.access.door_mode("device:front").value == "strict"
    assert np.asarray(video[0][0]).ndim == 3


def test_a_photo_over_the_websocket_is_checked_not_granted(base: Path, faces_dir: Path) -> None:
    """The wire: a passive door answers ``checking_liveness`` with the evidence so far."""
    import time

    from fastapi.testclient import TestClient

    from facegate.app.http import create_app
    from facegate.features.access.protocol import FrameHeader, encode_frame
    from tests.auth_helpers import make_device
    from tests.integration.features.access.test_stream_real import scene_jpeg

    c = Container(Settings(data_dir=base, stream_door_liveness="passive"))
    c.enrollment.enroll("obama", [read_image_file(faces_dir / "people" / "obama" / "obama.jpg")],
                        "Barack Obama")
    token = make_device(c, "front-door")
    photo = scene_jpeg(faces_dir / "scenes" / "obama1.jpg")
    with TestClient(create_app(container=c)) as client, client.websocket_connect(
        "/v1/stream", headers={"Authorization": f"Bearer {token}"}
    ) as ws:
        ws.receive_json()
        answers = []
        for i in range(6):
            ws.send_bytes(encode_frame(FrameHeader(frame=i, ts=time.time(), camera="g"), photo))
            answers.append(ws.receive_json()["decision"])
    assert all(a["status"] == "denied" for a in answers)
    assert answers[-1]["reason"] == "checking_liveness" and answers[-1]["person"] == "obama"
    assert answers[-1]["liveness"]["live"] is False and answers[-1]["liveness"]["parallax"] < 0.05
