"""The hostile upload of issue "Hardening", against a real server process: twenty 36-megapixel
PNGs (a flat colour: 120 kB each, 2.4 MB in all) in one POST /v1/people. The server must answer
4xx quickly without decoding them, and its resident memory must not grow by 300 MB (before the
bound it went from 856 MB to 3 GB)."""

from __future__ import annotations

import io
import threading
import time
from pathlib import Path

import httpx
import psutil
import pytest
from PIL import Image

from tests.live_server import create_api_key, live_server

MB = 1024 * 1024


@pytest.fixture(scope="module")
def big_png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (6000, 6000), (120, 130, 140)).save(buf, "PNG", compress_level=9)
    return buf.getvalue()


class PeakRss:
    """Samples a process's RSS every few milliseconds in a thread."""

    def __init__(self, pid: int) -> None:
        self.proc = psutil.Process(pid)
        self.peak = self.proc.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(0.005)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def test_twenty_36_megapixel_pngs_are_refused_without_memory_growth(
    big_png: bytes, tmp_path: Path
) -> None:
    # preload: the models are in memory before the baseline (growth = the request alone)
    key = create_api_key(tmp_path / "data", "uploader", "people:write,people:read")
    with live_server(tmp_path / "data", tmp_path / "server.log", FACEGATE_PRELOAD="true") as server:
        client = httpx.Client(base_url=server.url, timeout=60, headers={"X-API-Key": key})
        client.get("/healthz")
        before = psutil.Process(server.process.pid).memory_info().rss
        for count in (20, 12):  # 20: above the image count; 12: within it, above the pixel budget
            files = [("images", (f"bomb{i}.png", big_png, "image/png")) for i in range(count)]
            with PeakRss(server.process.pid) as rss:
                started = time.perf_counter()
                r = client.post("/v1/people", data={"external_id": f"victim{count}"}, files=files)
                elapsed = time.perf_counter() - started
            assert r.status_code == 413, r.text
            code = r.json()["error"]["code"]
            assert code == ("too_many_images" if count == 20 else "image_too_large")
            growth = (rss.peak - before) / MB
            print(f"{count} x 36 MP: {r.status_code} {code} in {elapsed:.2f} s, "
                  f"peak RSS growth {growth:.0f} MB")
            assert growth < 300, f"peak RSS grew by {growth:.0f} MB"
            assert elapsed < 10  # answered without decoding (the unbounded server took 31 s)
        assert client.get("/v1/people").json()["count"] == 0  # nothing half-written
