"""The locker kiosk page in real Chromium: webcam → liveness challenge → key → key pad → OPEN.

Reuses the browser/server fixtures of ``test_browser_web`` (Chromium's fake camera plays
``webcam_blink_turns.webm``; the server runs with the challenge order fixed by the test-only
setting). The customer is registered with the CLI from the same video; the page does the rest.
Screenshot: ``$FACEGATE_E2E_ARTIFACTS/kiosk_key.png``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_browser_web import (  # noqa: F401  (fixtures)
    CHALLENGE_TIMEOUT_MS,
    Server,
    artifacts,
    audit_rows,
    browser,
    camera_file,
    facegate_cli,
    page,
    server,
)

pytestmark = pytest.mark.slow


def test_kiosk_page_grants_a_key_that_opens_the_locker(
    page: Any, server: Server, data_dir: Path, artifacts: Path  # noqa: F811
) -> None:
    video = data_dir / "video" / "webcam_blink_turns.webm"
    facegate_cli(server, "locker", "add", "12", "--location", "Hall A")
    out = facegate_cli(server, "locker", "register", "--customer", "C1", "--name", "Alice",
                       "--locker", "12", "--camera", str(video))
    assert "registered customer C1" in out

    page.goto(f"{server.url}/kiosk/lockers/access")
    page.click("#start")
    page.wait_for_selector("#step-key:not([hidden]), #message.error", timeout=CHALLENGE_TIMEOUT_MS)
    page.screenshot(path=str(artifacts / "kiosk_key.png"), full_page=True)
    key = page.inner_text("#key").strip()
    assert len(key) == 6 and key.isdigit(), (page.inner_text("#message"), page.failed_responses)
    assert page.input_value("#open-locker") == "12"

    page.fill("#open-key", "000000" if key != "000000" else "111111")
    page.click("#open-form button")
    page.wait_for_selector("#message.error")
    assert "attempts left" in page.inner_text("#message")

    page.fill("#open-key", key)
    page.click("#open-form button")
    page.wait_for_function("document.querySelector('#message').textContent.includes('is open')")
    assert page.inner_text("#message") == "Locker 12 is open."

    page.fill("#open-key", key)
    page.click("#open-form button")
    page.wait_for_function("document.querySelector('#message').textContent.includes('used')")

    access = audit_rows(server, "locker.access")
    assert [d for d, _, _ in access] == ["granted"]
    details = json.loads(access[0][2])
    assert details["liveness_status"] == "passed" and details["match_score"] > 0.3
    assert [d for d, _, _ in audit_rows(server, "locker.wrong_key")] == ["refused"]
    assert [d for d, _, _ in audit_rows(server, "locker.open")] == ["opened", "refused"]
