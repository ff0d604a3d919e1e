"""``facegate locker …`` through the real entry point on the shared videos (exit codes, one line).

Register from ``webcam_blink_turns.webm``, refuse a taken locker, pass the access challenge from
the same person streamed by the reactive source (a video file is denied), open once with the key, refuse the
key the second time; list/history; bad input → one line on stderr and exit status 2.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow


def run(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(
        os.environ,
        FACEGATE_DATA_DIR=str(data),
        FACEGATE_TESTING="1",
        FACEGATE_LIVENESS_FIXED_STEPS="blink,turn_left,turn_right",
    )
    env.pop("FACEGATE_LOCKER_SECRET", None)
    return subprocess.run(
        [sys.executable, "-m", "facegate", "locker", *args],
        capture_output=True, text=True, env=env, timeout=300,
    )


def one_error_line(p: subprocess.CompletedProcess[str]) -> str:
    assert p.returncode == 2, (p.stdout, p.stderr)
    lines = [x for x in p.stderr.strip().splitlines() if x.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in p.stderr, p.stderr
    return lines[0]


def live_key(data: Path, video: Path) -> str:
    """The kiosk page's flow in-process on the CLI's data dir: stream, then access → the key."""
    from facegate.app.bootstrap import Container
    from facegate.core.settings import Settings
    from facegate.research.eval.clips import read_video
    from facegate.research.eval.reactive import ReactiveSource
    from tests.reactive import feed, index_of, rng

    c = Container(Settings(data_dir=data, testing=True, liveness_fixed_steps="turn_left,turn_right",
                           liveness_reveal_delay_ms=(300, 900)))
    try:
        c.liveness.measurer.measure(read_video(video)[0][0], 0, 0)  # models loaded before timing
        images = tuple(read_video(video)[0])
        ch = c.lockers.start_challenge()

        def post(items: list[Any], stamps: list[int]) -> dict[str, Any]:
            st = c.lockers.add_challenge_frames(ch.id, items, stamps)
            return {"steps": list(st.steps), "status": st.status}

        feed(images, ReactiveSource(index_of(video), rng(4)), post, lambda a: a["steps"],
             lambda a: a["status"] != "pending")
        ident = list(images[:30:2])
        r = c.lockers.access(ident, actor="kiosk", timestamps_ms=[k * 66.0 for k in range(len(ident))],
                             challenge_id=ch.id)
        assert r.granted and r.key is not None, r.reason
        return r.key.key
    finally:
        c.shutdown()


def test_locker_cli_end_to_end(tmp_path: Path, data_dir: Path) -> None:
    data = tmp_path / "data"
    video = str(data_dir / "video" / "webcam_blink_turns.webm")
    other = str(data_dir / "video" / "talking_blinks_2.mp4")

    p = run(data, "add", "12", "--location", "Hall A")
    assert p.returncode == 0 and "added locker 12" in p.stdout, p.stderr
    p = run(data, "register", "--customer", "C1", "--name", "Alice", "--locker", "12",
            "--camera", video)
    assert p.returncode == 0, p.stderr
    assert re.search(r"registered customer C1 \(Alice\) on locker 12: \d+ face samples", p.stdout)
    secret = data / "locker_secret.key"
    assert secret.is_file() and secret.stat().st_mode & 0o077 == 0

    line = one_error_line(run(data, "register", "--customer", "C2", "--name", "Bob",
                              "--locker", "12", "--camera", other))
    assert "locker 12 is already assigned (held by customer C1)" in line

    # a video file cannot follow the server-paced challenge: denied
    p = run(data, "access", "--camera", video)
    assert "liveness check failed" in one_error_line(p)
    assert p.stderr.strip().count("\n") == 0, p.stderr  # no MediaPipe / TFLite / absl warnings
    # a live customer at the kiosk (the reactive source streaming the same person) gets a key
    key = live_key(data, Path(video))
    assert key not in (data / "facegate.db").read_bytes().decode("latin-1")

    p = run(data, "open", "--locker", "12", "--key", key)
    assert p.returncode == 0, p.stderr
    assert "OPEN locker 12 (Hall A)" in p.stdout and "opened locker 12 for customer C1" in p.stdout
    line = one_error_line(run(data, "open", "--locker", "12", "--key", key))
    assert "already been used" in line

    p = run(data, "list", "--json")
    assert [(x["number"], x["status"], x["holder"]) for x in json.loads(p.stdout)] == [
        (12, "assigned", "C1")
    ]
    p = run(data, "history", "--locker", "12", "--json")
    kinds = [e["kind"] for e in json.loads(p.stdout)]
    assert kinds[:4] == ["open", "open", "key_use", "key_issue"] and "register" in kinds

    assert "exactly 6 digits" in one_error_line(run(data, "open", "--locker", "12", "--key", "12a"))
    assert "video file not found" in one_error_line(
        run(data, "access", "--camera", str(tmp_path / "missing.mp4"))
    )
