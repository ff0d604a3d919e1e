"""The locker kiosk page in real Chromium: webcam → liveness challenge → key → key pad → OPEN.

Reuses the browser/server fixtures of ``test_browser_web`` (the webcam is the reactive fake
camera of tests/e2e/reactive_camera.py playing ``webcam_blink_turns.webm``'s segment of each
step only after the page shows it; the server draws server-paced challenges from the actions
that video shows). The customer is registered with the CLI from the same video; the page does the rest.
The registration page is driven too: a staff member (web admin, logged in with password and
live face) registers a customer from the webcam, who then gets a key at the access page.
Screenshots: ``$FACEGATE_E2E_ARTIFACTS/kiosk_access.png`` (before Start), ``kiosk_key.png``,
``kiosk_register.png``.
"""

from __future__ import annotations

import json
import sqlite3
import time
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
    login_password,
    page,
    register_with_camera,
    server,
    wait_for_login_outcome,
)

pytestmark = pytest.mark.slow


def make_kiosk(pg: Any, srv: Server, name: str) -> None:
    """Turn the browser into a kiosk: the operator creates a kiosk-only key on the server host
    and pastes it into the setup page, which keeps it in an HttpOnly cookie."""
    key = facegate_cli(srv, "apikeys", "create", name, "--scopes", "kiosk", "--quiet").strip()
    pg.goto(f"{srv.url}/kiosk/lockers/access")
    assert pg.url.endswith("/kiosk/lockers/setup")  # not a kiosk yet
    pg.fill("#kiosk-key", key)
    pg.click("#setup-form button[type=submit]")
    pg.wait_for_url("**/kiosk/lockers/access")
    assert key not in pg.content()  # the page never holds the key


def test_kiosk_page_grants_a_key_that_opens_the_locker(
    page: Any, server: Server, data_dir: Path, artifacts: Path  # noqa: F811
) -> None:
    video = data_dir / "video" / "webcam_blink_turns.webm"
    facegate_cli(server, "locker", "add", "12", "--location", "Hall A")
    out = facegate_cli(server, "locker", "register", "--customer", "C1", "--name", "Alice",
                       "--locker", "12", "--camera", str(video))
    assert "registered customer C1" in out

    make_kiosk(page, server, "hall-a-kiosk")
    assert page.is_visible("#camera-placeholder")  # a dark camera frame with a hint, not a gap
    page.screenshot(path=str(artifacts / "kiosk_access.png"), full_page=True)
    page.click("#start")
    page.wait_for_selector("#step-key:not([hidden]), #message.error", timeout=CHALLENGE_TIMEOUT_MS)
    page.screenshot(path=str(artifacts / "kiosk_key.png"), full_page=True)
    assert not page.is_visible("#camera-placeholder")
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
    assert "hall-a-kiosk" in facegate_cli(server, "apikeys", "list")
    assert "audit log intact" in facegate_cli(server, "audit", "verify")


def _wait_for_kiosk_message(pg: Any, done: str, timeout_ms: int = CHALLENGE_TIMEOUT_MS) -> str:
    """Poll ``#message`` until it starts with ``done`` or shows an error; its text."""
    deadline = time.monotonic() + timeout_ms / 1000
    while time.monotonic() < deadline:
        text = str(pg.inner_text("#message")).strip()
        if text.startswith(done) or pg.get_attribute("#message", "class") == "error":
            return text
        pg.wait_for_timeout(250)
    raise AssertionError(f"no outcome in {timeout_ms} ms: {pg.inner_text('#message')!r}")


def _mean_template_samples(srv: Server, person: str) -> list[int]:
    """``sample_count`` of the person's mean template(s) in the server's database."""
    with sqlite3.connect(srv.data_dir / "facegate.db") as db:
        return [n for (n,) in db.execute(
            "SELECT t.sample_count FROM face_templates t JOIN people p ON p.id = t.person_id "
            "WHERE p.external_id = ? AND t.is_mean = 1", (person,)
        )]


def test_kiosk_registration_page_registers_a_customer_who_can_then_open(
    page: Any, server: Server, artifacts: Path  # noqa: F811
) -> None:
    # the video's person may already be a customer (the test above): erase that face, so the
    # access page can only identify the customer registered here
    for c in json.loads(facegate_cli(server, "locker", "customers", "--json")):
        if c["has_face"]:
            facegate_cli(server, "locker", "revoke", "--customer", c["customer_id"])
    facegate_cli(server, "locker", "add", "14", "--location", "Hall B")

    # staff: a web account with the video's face, made admin, logged in with password + live face
    page.goto(f"{server.url}/kiosk/lockers/register")
    assert page.url.endswith("/login")  # staff only
    register_with_camera(page, server, "kiosk-staff", None)
    assert "is an administrator" in facegate_cli(server, "admin", "create", "kiosk-staff")
    login_password(page, server, "kiosk-staff")
    page.wait_for_url("**/login/face")
    outcome = wait_for_login_outcome(page)
    assert outcome == "/dashboard", (outcome, page.failed_responses)

    page.goto(f"{server.url}/kiosk/lockers/register")
    assert "Staff: kiosk-staff" in page.inner_text("main")
    page.wait_for_function(  # the camera plays (the page starts it on load)
        "document.querySelector('#video').readyState >= 2", timeout=30_000
    )
    page.fill("input[name=customer_id]", "C2")
    page.fill("input[name=name]", "Bob Builder")
    page.fill("input[name=contact]", "bob@example.org")
    page.fill("input[name=locker]", "14")
    page.click("#register-form button[type=submit]")
    message = _wait_for_kiosk_message(page, "Registered")
    page.screenshot(path=str(artifacts / "kiosk_register.png"), full_page=True)
    assert message.startswith("Registered C2 on locker 14 ("), (message, page.failed_responses)
    samples = int(message.split("(")[1].split()[0])
    assert samples >= 3, message

    customers = {c["customer_id"]: c for c in
                 json.loads(facegate_cli(server, "locker", "customers", "--json"))}
    c2 = customers["C2"]
    assert (c2["name"], c2["contact"], c2["has_face"], c2["lockers"]) == (
        "Bob Builder", "bob@example.org", True, [14])
    ok = [r for r in audit_rows(server, "locker.register") if r[0] == "ok" and r[1] == "locker:14"]
    assert len(ok) == 1, audit_rows(server, "locker.register")
    person = json.loads(ok[0][2])["person"]
    assert _mean_template_samples(server, person) == [samples]  # one template averaged from them

    # the staff web account carries the same (video's) face; the kiosk identifies among its
    # customers only, so that other identity of the face must not get in the way
    assert "kiosk-staff" in facegate_cli(server, "people", "list")

    # the new customer gets a key at the access page, and it opens locker 14
    make_kiosk(page, server, "hall-b-kiosk")
    page.click("#start")
    page.wait_for_selector("#step-key:not([hidden]), #message.error", timeout=CHALLENGE_TIMEOUT_MS)
    key = page.inner_text("#key").strip()
    assert len(key) == 6 and key.isdigit(), (
        page.inner_text("#message"), page.failed_responses, audit_rows(server, "locker.access"))
    assert "customer C2" in page.inner_text("#granted")
    assert page.input_value("#open-locker") == "14"
    page.fill("#open-key", key)
    page.click("#open-form button")
    page.wait_for_function("document.querySelector('#message').textContent.includes('is open')")
    assert page.inner_text("#message") == "Locker 14 is open."
    granted = [r for r in audit_rows(server, "locker.access") if r[0] == "granted"]
    assert granted[-1][1] in ("locker:14", "customer:C2"), granted
