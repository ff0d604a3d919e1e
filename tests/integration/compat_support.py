"""Test-only pieces for the compatible APIs: a key resolver and a live server on a loopback port.

``StaticKeys`` stands in for the API-key store (``container.credentials``): a fixed map of raw key →
Principal, compared in constant time. ``LiveServer`` runs the real app under uvicorn in a thread.
"""

from __future__ import annotations

import hmac
import socket
import threading
import time
from typing import Any

import uvicorn

from facegate.core.auth.principal import (
    SCOPE_PEOPLE_READ,
    SCOPE_PEOPLE_WRITE,
    SCOPE_RECOGNIZE,
    Principal,
)

COMPAT_SCOPES = frozenset({SCOPE_RECOGNIZE, SCOPE_PEOPLE_WRITE, SCOPE_PEOPLE_READ})


class StaticKeys:
    def __init__(self, keys: dict[str, Principal]) -> None:
        self.keys = dict(keys)
        self.calls: list[tuple[str, str]] = []  # (principal name or "-", client)

    @classmethod
    def for_tests(cls, key: str, groups: frozenset[str] | None = frozenset({"compat-test"}),
                  scopes: frozenset[str] = COMPAT_SCOPES) -> StaticKeys:
        return cls({key: Principal(name="key:compat-test", kind="api_key", scopes=scopes, groups=groups)})

    def resolve(self, raw_key: str, client: str) -> Principal | None:
        found = None
        for known, principal in self.keys.items():
            if hmac.compare_digest(known.encode(), raw_key.encode()):
                found = principal
        self.calls.append((found.name if found else "-", client))
        return None if found is None else Principal(found.name, found.kind, found.scopes,
                                                    found.groups, client)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer:
    """``with LiveServer(app) as url:`` serves ``app`` on 127.0.0.1:<free port> until the block ends."""

    def __init__(self, app: Any) -> None:
        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port,
                                                    log_level="warning", lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.05)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
