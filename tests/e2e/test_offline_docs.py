"""/docs (Swagger UI) and /redoc (ReDoc) render the API's operations in real Chromium with every
non-loopback request blocked: their scripts and styles are files inside the installed package,
and a Content-Security-Policy of 'self' keeps ReDoc from even trying its CDN logo."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from tests.live_server import LiveServer, live_server

CHROMIUM = Path(os.environ.get("FACEGATE_CHROMIUM", "/usr/bin/chromium"))
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    if not CHROMIUM.exists():
        pytest.skip(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    root = tmp_path_factory.mktemp("docs")
    with live_server(root / "data", root / "server.log") as s:
        yield s


@pytest.fixture
def offline_page(server: LiveServer) -> Iterator[tuple[Any, list[str]]]:
    from playwright.sync_api import sync_playwright

    blocked: list[str] = []

    def only_loopback(route: Any) -> None:
        url = route.request.url
        host = urlparse(url).hostname or ""
        if url.startswith(("data:", "blob:")) or host in LOOPBACK:
            route.continue_()
        else:
            blocked.append(url)
            route.abort()

    args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=args)
        try:
            context = browser.new_context()
            context.route("**/*", only_loopback)
            yield context.new_page(), blocked
        finally:
            browser.close()


def test_swagger_ui_renders_operations_offline(server: LiveServer, offline_page: Any) -> None:
    page, blocked = offline_page
    page.goto(f"{server.url}/docs")
    page.wait_for_selector(".opblock", timeout=30_000)
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert len(paths) >= 20
    assert any("/v1/identify" in p for p in paths) and any("/v1/people" in p for p in paths)
    assert blocked == []


def test_redoc_renders_operations_offline(server: LiveServer, offline_page: Any) -> None:
    page, blocked = offline_page
    page.goto(f"{server.url}/redoc")
    page.wait_for_selector("[data-section-id^='operation/']", timeout=60_000)
    assert page.locator("[data-section-id^='operation/']").count() >= 20
    assert "/v1/identify" in page.content()
    assert blocked == []
