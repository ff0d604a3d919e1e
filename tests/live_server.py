"""A real FaceGate server in a subprocess (``facegate serve``) on a fresh data dir, for tests that
need a separate process: memory under hostile uploads, file modes, what the server log shows."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx


@dataclass
class LiveServer:
    url: str
    data_dir: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def live_server(data_dir: Path, log: Path, **env_overrides: str) -> Iterator[LiveServer]:
    """``python -m facegate serve`` on a free loopback port; stopped (SIGTERM) on exit."""
    port = free_port()
    env = {
        **os.environ,
        "FACEGATE_DATA_DIR": str(data_dir),
        "FACEGATE_PORT": str(port),
        "FACEGATE_HOST": "127.0.0.1",
        "OMP_NUM_THREADS": "1",
        **env_overrides,
    }
    with log.open("wb") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "facegate", "serve"], env=env, stdout=fh,
                                stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"server did not start: {log.read_text(errors='replace')[-2000:]}")
        time.sleep(0.3)
    try:
        yield LiveServer(url, data_dir, env, proc, log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def create_api_key(data_dir: Path, name: str, scopes: str) -> str:
    """``facegate apikeys create NAME --scopes SCOPES --quiet`` on ``data_dir``: the secret."""
    env = {**os.environ, "FACEGATE_DATA_DIR": str(data_dir)}
    r = subprocess.run([sys.executable, "-m", "facegate", "apikeys", "create", name, "--scopes", scopes,
                        "--quiet"], env=env, capture_output=True, text=True, check=True, timeout=120)
    return r.stdout.strip()
