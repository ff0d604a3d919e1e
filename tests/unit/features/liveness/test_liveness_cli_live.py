"""``facegate liveness check CAMERA``'s loop (``run_paced``) with a scripted camera and fake models.

The "camera" shows an open-eyed face and blinks ~0.4 s after the loop printed the step — what a
person in front of it does. Real time (the paced challenge is judged on the server clock).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from facegate.core.domain import ImageArray
from facegate.core.liveness.service import LivenessService, LivenessSession
from facegate.core.store.db import Database
from facegate.features.liveness.cli import run_paced
from tests.unit.core.liveness.test_liveness_service import frame, make_service


@pytest.fixture
def db(tmp_path: Path) -> Database:
    database = Database(f"sqlite:///{tmp_path / 'fg.db'}")
    database.upgrade()
    return database


def test_camera_loop_shows_each_step_and_passes_a_person_who_follows(db: Database) -> None:
    service, _ = make_service(db, None, clock=lambda: datetime.now(UTC))  # type: ignore[arg-type]
    printed: list[str] = []
    shown: list[float] = []

    def echo(line: str) -> None:
        printed.append(line)
        if ">>>" in line:
            shown.append(time.monotonic())

    def camera() -> ImageArray:
        if shown and 0.35 < time.monotonic() - shown[-1] < 0.5:
            return frame(0.08)  # eyes closed: the blink, after a human reaction time
        return frame(0.30)

    s: LivenessSession = run_paced(service, camera, fps=20, echo=echo, batch_ms=150)
    assert s.status == "passed", s.reason
    assert any(">>> Blink (1/1)" in line for line in printed), printed
    assert s.mode == "paced" and s.evidence[0].reaction_ms is not None


def test_camera_loop_fails_a_still_face(db: Database) -> None:
    service: LivenessService
    service, _ = make_service(db, None, clock=lambda: datetime.now(UTC))  # type: ignore[arg-type]
    s = run_paced(service, lambda: frame(0.30), fps=20, echo=None, batch_ms=150)
    assert s.status == "failed" and "not begun" in (s.reason or "")
