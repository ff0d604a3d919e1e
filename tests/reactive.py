"""Test helper: stream a recorded clip to a server-paced challenge in real time, reacting or not.

``feed`` films a ``Source`` (``facegate.research.eval.reactive``): the reactive one plays the
clip's segment of an action only after the server revealed that step, 250–600 ms later, like a
person (or an attacker puppeting a recording of the victim doing every move); the replay and the
still photo ignore the steps. Frames are JPEGs of the clip's own frames, captured on the wall
clock at ``fps`` and posted every ``batch_ms`` — what the login page and the kiosk do.

The clip's per-frame measurements come from the cache (``facegate.research.eval.clips``); the
first run computes them with the real models.
"""

from __future__ import annotations

import random
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import cv2

from facegate.core.liveness.actions import Action
from facegate.core.liveness.paced import PacedOptions
from facegate.research.eval.clips import Clip, load_clip, read_video
from facegate.research.eval.reactive import ClipIndex, Source, index_clip, validated


@cache
def clip_of(path: Path) -> Clip:
    try:
        return load_clip(path)
    except FileNotFoundError:
        from facegate.app.bootstrap import Container
        from facegate.core.settings import Settings

        container = Container(Settings(data_dir=Path(tempfile.mkdtemp()), testing=True))
        try:
            return load_clip(path, container)
        finally:
            container.shutdown()


@cache
def index_of(path: Path) -> ClipIndex:
    return validated(index_clip(clip_of(path)), PacedOptions())


@cache
def jpegs_of(path: Path) -> tuple[bytes, ...]:
    images, _ = read_video(path)
    return tuple(cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 85])[1].tobytes() for img in images)


def feed(
    jpegs: Sequence[Any],
    source: Source,
    post: Callable[[list[Any], list[int]], dict[str, Any]],
    revealed: Callable[[dict[str, Any]], list[str]],
    finished: Callable[[dict[str, Any]], bool],
    fps: float = 8.0,
    batch_ms: int = 300,
    timeout_s: float = 45.0,
) -> dict[str, Any]:
    """Film ``source`` in real time (a capture thread, like a camera) and post what was captured
    every ``batch_ms`` until ``finished``; returns the last answer."""
    start = time.monotonic()
    captured: list[tuple[Any, int]] = []
    lock = threading.Lock()
    stop = threading.Event()

    def camera() -> None:
        while not stop.is_set():
            now = time.monotonic()
            t = (now - start) * 1000
            with lock:
                captured.append((jpegs[source.frame_at(t)], round(t)))
            time.sleep(max(0.0, 1 / fps - (time.monotonic() - now)))

    thread = threading.Thread(target=camera, daemon=True)
    thread.start()
    shown = 0
    answer: dict[str, Any] = {}
    try:
        posted = start
        while time.monotonic() - start < timeout_s:
            time.sleep(max(0.0, batch_ms / 1000 - (time.monotonic() - posted)))
            posted = time.monotonic()
            with lock:
                batch, captured[:] = thin(captured, 10), []
            if not batch:
                continue
            answer = post([b for b, _ in batch], [s for _, s in batch])
            if finished(answer):
                return answer
            steps = revealed(answer)
            for name in steps[shown:]:
                source.revealed(Action(name), (time.monotonic() - start) * 1000)
            shown = len(steps)
    finally:
        stop.set()
        thread.join()
    return answer


def thin(items: list[Any], most: int) -> list[Any]:
    """At most ``most`` items spread evenly, always the last one (what the pages send)."""
    if len(items) <= most:
        return list(items)
    return [items[round((len(items) - 1) * i / (most - 1))] for i in range(most)]


def rng(seed: int = 0) -> random.Random:
    return random.Random(seed)
