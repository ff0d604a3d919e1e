"""The Redis rate-limit storage (``FACEGATE_RATE_LIMIT_STORAGE_URL=redis://…``) against a real
``redis-server`` (Debian's package; scripts/test.sh installs it): counts shared by two workers,
429 + Retry-After over HTTP, nothing counted in the database, and a Redis outage refusing
requests (503) instead of letting them through unthrottled."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from facegate.app.bootstrap import Container
from facegate.app.http import create_app
from facegate.core.errors import RateLimitedError
from facegate.core.ratelimit.models import RateLimitCounter
from facegate.core.settings import Settings
from tests.auth_helpers import admin_headers


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (scripts/test.sh installs Debian's package)")
    port = _free_port()
    work = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(work)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + 20
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError("redis-server did not start") from None
            time.sleep(0.05)
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def flushed(redis_url: str) -> str:
    redis.Redis.from_url(redis_url).flushdb()
    return redis_url


def _settings(tmp_path: Path, url: str, **kw: object) -> Settings:
    return Settings(data_dir=tmp_path / "data", rate_limit_storage_url=url, **kw)  # type: ignore[arg-type]


def test_two_workers_share_the_counts_in_redis(tmp_path: Path, flushed: str) -> None:
    # two containers = two worker processes' views: each sees the other's hits
    a = Container(_settings(tmp_path / "a", flushed, rate_limit_recognition="3/minute"))
    b = Container(_settings(tmp_path / "b", flushed, rate_limit_recognition="3/minute"))
    a.rate_limits.hit("recognition", ["addr:10.0.0.9"])
    b.rate_limits.hit("recognition", ["addr:10.0.0.9"])
    a.rate_limits.hit("recognition", ["addr:10.0.0.9"])
    with pytest.raises(RateLimitedError) as refused:
        b.rate_limits.hit("recognition", ["addr:10.0.0.9"])
    assert 1 <= refused.value.retry_after_s <= 60
    b.rate_limits.hit("recognition", ["addr:10.0.0.10"])  # another caller has its own count
    assert redis.Redis.from_url(flushed).keys("LIMITS*")  # the counters live in Redis


def test_http_429_with_retry_after_and_nothing_counted_in_the_database(
    tmp_path: Path, flushed: str
) -> None:
    app = create_app(_settings(tmp_path, flushed, rate_limit_recognition="2/minute"))
    with TestClient(app) as c:
        container = c.app.state.container
        c.headers.update(admin_headers(container))
        codes = [c.post("/v1/identify").status_code for _ in range(3)]
        assert codes == [422, 422, 429]  # counted before the (missing) image is looked at
        r = c.post("/v1/identify")
        assert r.status_code == 429
        assert 1 <= int(r.headers["Retry-After"]) <= 60
        assert r.json()["error"]["code"] == "rate_limited"
        with container.database.session() as s:
            assert s.scalar(select(func.count()).select_from(RateLimitCounter)) == 0


def test_a_redis_outage_refuses_limited_routes_with_503(tmp_path: Path) -> None:
    dead = f"redis://127.0.0.1:{_free_port()}/0"  # nothing listens there
    app = create_app(_settings(tmp_path, dead, rate_limit_recognition="100/minute"))
    with TestClient(app) as c:
        c.headers.update(admin_headers(c.app.state.container))
        r = c.post("/v1/identify")
        assert r.status_code == 503, r.text  # fail closed: no unthrottled recognition
        assert r.json()["error"]["code"] == "rate_limit_unavailable"
        assert c.get("/healthz").status_code == 200  # unlimited routes still answer
