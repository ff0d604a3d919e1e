"""How a locker is physically opened: the ``LockerActuator`` interface and its adapters.

The service calls ``actuator.open_locker(request)`` only after the key has been consumed in the
database. An adapter raises ``ActuatorError`` when the hardware did not confirm; the service
audits that as ``locker.open`` / ``error`` (the key stays used: it was spent, the customer asks
for a new one). Adapters for real hardware (GPIO relay, networked relay board) implement the same
one-method protocol; see docs/lockers.md.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from facegate.core.errors import FaceGateError

log = logging.getLogger("facegate.lockers")


class ActuatorError(FaceGateError):
    """The actuator did not open the locker (hardware fault, relay unreachable)."""

    code = "actuator_error"


@dataclass(frozen=True)
class OpenRequest:
    """What an adapter needs to open one locker door."""

    locker_number: int
    location: str
    customer_id: str
    key_ref: str


class LockerActuator(Protocol):
    """Opens one locker door; returns when it is open, raises ``ActuatorError`` otherwise."""

    name: str

    def open_locker(self, request: OpenRequest) -> None: ...


class LoggingActuator:
    """The default adapter: logs the opening and writes ``OPEN locker <n>`` to ``echo``."""

    name = "log"

    def __init__(self, echo: Callable[[str], None] | None = None) -> None:
        self.echo = echo
        self.opened: list[OpenRequest] = []  # this process's openings (for tests and the CLI)

    def open_locker(self, request: OpenRequest) -> None:
        line = f"OPEN locker {request.locker_number}"
        if request.location:
            line += f" ({request.location})"
        log.info("%s for customer %s, key %s", line, request.customer_id, request.key_ref)
        if self.echo is not None:
            self.echo(line)
        self.opened.append(request)


class HttpRelayActuator:
    """A relay board reachable over HTTP: ``POST {base_url}/relays/{n}/pulse`` must return 2xx.

    ``channel_of`` maps a locker number to the relay channel (default: the same number).
    """

    name = "http-relay"

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        timeout_s: float = 3.0,
        pulse_ms: int = 800,
        channel_of: Callable[[int], int] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout_s = timeout_s
        self.pulse_ms = pulse_ms
        self.channel_of = channel_of or (lambda n: n)

    def open_locker(self, request: OpenRequest) -> None:
        import httpx

        channel = self.channel_of(request.locker_number)
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            r = httpx.post(
                f"{self.base_url}/relays/{channel}/pulse",
                json={"ms": self.pulse_ms},
                headers=headers,
                timeout=self.timeout_s,
            )
        except httpx.HTTPError as exc:
            raise ActuatorError(f"relay for locker {request.locker_number} unreachable: {exc}") from exc
        if not 200 <= r.status_code < 300:
            raise ActuatorError(
                f"relay for locker {request.locker_number} answered HTTP {r.status_code}"
            )


def build_actuator(
    kind: str, echo: Callable[[str], None] | None, relay_url: str | None, relay_token: str | None
) -> LockerActuator:
    """The adapter named by settings: ``log`` (default) or ``http-relay``."""
    if kind == "log":
        return LoggingActuator(echo)
    if kind == "http-relay":
        if not relay_url:
            raise ValueError("locker_actuator=http-relay needs FACEGATE_LOCKER_RELAY_URL")
        return HttpRelayActuator(relay_url, relay_token)
    raise ValueError(f"unknown locker actuator {kind!r} (known: log, http-relay)")
