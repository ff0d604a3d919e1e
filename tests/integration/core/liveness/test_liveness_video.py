"""The challenge on the shared videos, through the real service (YuNet, Face Mesh, SFace, SQLite).

Frames are subsampled (every 2nd) to keep the suite quick; timestamps come from the videos.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import pytest

from facegate.app.bootstrap import Container
from facegate.core.errors import PermissionDeniedError
from facegate.core.liveness.challenge import FrameTimingError, Step
from facegate.core.liveness.service import LivenessService, LivenessSession, TimedFrame
from facegate.core.settings import Settings


def video_frames(path: Path, every: int = 2, start_ms: int = 0, limit: int | None = None) -> list[TimedFrame]:
    cap = cv2.VideoCapture(str(path))
    out: list[TimedFrame] = []
    index, last = 0, -1
    try:
        while limit is None or len(out) < limit:
            ok, img = cap.read()
            if not ok:
                break
            t = round(cap.get(cv2.CAP_PROP_POS_MSEC))
            t = max(t, last + 1)
            if index % every == 0:
                out.append(TimedFrame(img, start_ms + t))
                last = t
            index += 1
    finally:
        cap.release()
    return out


def run_challenge(
    service: LivenessService, frames: list[TimedFrame], steps: tuple[Step, ...]
) -> LivenessSession:
    return service.check_recording(frames, steps=steps, actor="test", batch_size=30)


@pytest.fixture(scope="module")
def video_dir(data_dir: Path) -> Path:
    d = data_dir / "video"
    if not (d / "webcam_blink_turns.webm").is_file():
        pytest.skip(f"shared videos not found in {d}")
    return d


@pytest.fixture(scope="module")
def container(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Container]:
    c = Container(Settings(data_dir=tmp_path_factory.mktemp("liveness"), testing=True))
    yield c
    c.shutdown()


@pytest.fixture(scope="module")
def webcam(video_dir: Path) -> list[TimedFrame]:
    return video_frames(video_dir / "webcam_blink_turns.webm")


def test_webcam_passes_blink_left_right(container: Container, webcam: list[TimedFrame]) -> None:
    s = run_challenge(container.liveness, webcam, (Step.BLINK, Step.TURN_LEFT, Step.TURN_RIGHT))
    assert s.status == "passed", s.reason
    blink, left, right = s.evidence
    assert blink.value is not None and blink.threshold is not None and blink.value < blink.threshold
    assert left.value is not None and left.value >= 25.0  # subject's left = positive yaw
    assert right.value is not None and right.value <= -25.0
    assert s.min_similarity is not None and s.min_similarity >= container.match_threshold
    assert s.mode == "offline"  # a recording: never accepted to authenticate
    with pytest.raises(PermissionDeniedError, match="offline"):
        container.liveness.consume_passed(s.id)


def test_webcam_fails_an_order_it_does_not_contain(container: Container, webcam: list[TimedFrame]) -> None:
    s = run_challenge(container.liveness, webcam, (Step.TURN_RIGHT, Step.TURN_LEFT, Step.BLINK))
    assert s.status == "failed"
    assert s.reason is not None and "step 1 (turn_right)" in s.reason


@pytest.mark.parametrize("name", ["talking_blinks_1.mp4", "talking_blinks_2.mp4"])
def test_talking_heads_pass_a_blink(container: Container, video_dir: Path, name: str) -> None:
    frames = video_frames(video_dir / name, limit=60)  # the first ~5 s
    s = run_challenge(container.liveness, frames, (Step.BLINK,))
    assert s.status == "passed", s.reason
    assert s.evidence[0].value is not None and s.evidence[0].value < 0.2


@pytest.mark.parametrize("step", list(Step))
def test_a_still_photo_fails_every_challenge(container: Container, faces_dir: Path, step: Step) -> None:
    photo = next(p for p in sorted((faces_dir / "people").rglob("*")) if p.suffix in (".jpg", ".png"))
    img = cv2.imread(str(photo))
    assert img is not None
    frames = [TimedFrame(img, i * 500) for i in range(15)]  # 7 s of the same picture
    s = run_challenge(container.liveness, frames, (step,))
    assert s.status == "failed", s.reason
    assert s.reason is not None and "not performed within" in s.reason


def test_swapping_to_another_person_mid_session_fails(
    container: Container, webcam: list[TimedFrame], video_dir: Path
) -> None:
    first = webcam[:20]
    other = video_frames(video_dir / "talking_blinks_1.mp4", start_ms=first[-1].timestamp_ms + 66, limit=40)
    s = run_challenge(container.liveness, first + other, (Step.BLINK, Step.TURN_LEFT, Step.TURN_RIGHT))
    assert s.status == "failed"
    assert s.reason is not None and "face changed" in s.reason


def test_reversed_and_duplicated_timestamps_are_refused(
    container: Container, webcam: list[TimedFrame]
) -> None:
    service = container.liveness
    session = service.create_session(steps=(Step.BLINK,))
    a, b = webcam[0], webcam[1]
    with pytest.raises(FrameTimingError):
        service.add_frames(session.id, [b, a])
    with pytest.raises(FrameTimingError):
        service.add_frames(session.id, [a, TimedFrame(b.image, a.timestamp_ms)])
    assert service.get_session(session.id).frame_count == 0
