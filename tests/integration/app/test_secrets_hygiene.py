"""Secrets hygiene on a real server process: the data dir is 0700; the database, its WAL/SHM
files and the key files are 0600; the database URL is never printed with its password; no secret
(API key, password, template key, locker secret) appears in any line of the server log."""

from __future__ import annotations

import base64
import os
import secrets
import stat
import subprocess
import sys
from pathlib import Path

import httpx

from facegate.core.settings import Settings
from tests.live_server import live_server


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_file_modes_and_no_secret_in_the_server_log(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)  # an existing, too open data dir is tightened at start
    os.chmod(data, 0o755)
    locker_secret = "L" + secrets.token_urlsafe(40)
    api_key = "K" + secrets.token_urlsafe(24)
    password = "P" + secrets.token_urlsafe(12)
    env = {"FACEGATE_LOCKER_SECRET": locker_secret, "FACEGATE_STREAM_API_KEY": api_key}
    with live_server(data, tmp_path / "server.log", **env) as server:
        c = httpx.Client(base_url=server.url, timeout=30)
        c.post("/v1/identify", headers={"X-API-Key": api_key}, files={"image": ("x.png", b"nope")})
        c.post("/v1/verify", headers={"Authorization": f"Bearer {api_key}"},
               data={"external_id": "x"}, files={"image": ("x.png", b"nope")})
        page = c.get("/login")
        token = page.text.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]
        c.post("/login", data={"csrf_token": token, "username": "alice", "password": password})
        c.post("/v1/lockers/12/open", json={"key": "123456"})
        c.get(f"/v1/people?secret={api_key[:3]}")  # a query string shows up in the access log
        assert _mode(data) == 0o700
        db_files = [data / "facegate.db", data / "facegate.db-wal", data / "facegate.db-shm"]
        for p in db_files:
            assert p.exists(), p
            assert _mode(p) == 0o600, f"{p.name}: {oct(_mode(p))}"
        key_files = [p for p in (data / "keys").glob("*") if p.is_file()]
        assert key_files  # the template key made at start
        for p in key_files:
            assert _mode(p) == 0o600, f"{p}: {oct(_mode(p))}"
        template_keys = [p.read_bytes().strip() for p in (data / "keys").glob("*") if p.is_file()]
    log = server.log_text()
    assert "FaceGate serving on" in log and "POST /v1/identify" in log  # the log is real
    for secret in (api_key, password, locker_secret, *[k.decode() for k in template_keys]):
        assert secret not in log
    for k in template_keys:  # nor the raw key bytes in another encoding
        raw = base64.b64decode(k + b"=" * (-len(k) % 4), validate=False)
        assert raw.hex() not in log


def test_database_url_is_masked_in_the_serve_banner(tmp_path: Path) -> None:
    password = "Pw" + secrets.token_hex(8)
    url = f"postgresql+psycopg://facegate:{password}@127.0.0.1:9/facegate"
    env = {**os.environ, "FACEGATE_DATA_DIR": str(tmp_path / "d"), "FACEGATE_DATABASE_URL": url,
           "FACEGATE_PORT": "1"}
    # port 9 refuses at once: the server prints its banner, then fails to migrate and exits
    r = subprocess.run([sys.executable, "-m", "facegate", "serve"], env=env, capture_output=True,
                       text=True, timeout=120)
    out = r.stdout + r.stderr
    assert "database: postgresql+psycopg://facegate:***@127.0.0.1:9/facegate" in out
    assert password not in out
    s = Settings(database_url=url)
    assert password not in repr(s) and password not in str(s.model_dump())
    assert s.resolved_database_url() == url
