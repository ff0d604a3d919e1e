"""Who may call the compatible APIs: API keys resolved to a ``Principal`` by a pluggable resolver.

The resolver is the app's ``container.credentials`` (anything with ``resolve(raw_key, client)``);
without one every key is refused (secure by default). CompreFace clients send the key in the
``x-api-key`` header and CompreFace keys are UUIDs; DeepStack clients send the form field
``api_key``. Every refusal is audited with the client address (never the key).
"""

from __future__ import annotations

import uuid
from typing import Any, Protocol

from sqlalchemy.orm import Session

from facegate.core.auth.principal import Principal
from facegate.core.domain import AuditEvent


class CredentialResolver(Protocol):
    """Turns a raw API key into the ``Principal`` it stands for, or None when it is not valid."""

    def resolve(self, raw_key: str, client: str) -> Principal | None: ...


class PersonGroups(Protocol):
    """Which people a caller limited to ``groups`` sees, and where its enrolments go.

    ``groups`` is the Principal's: None means every group (every person)."""

    def visible_person_ids(self, groups: frozenset[str] | None) -> frozenset[int] | None:
        """The ids of the people the caller may see; None: everyone."""
        ...

    def assign(self, s: Session, person_id: int, groups: frozenset[str] | None) -> None:
        """Put a person the caller just created into the caller's group(s), in its transaction."""
        ...

    def threshold(self, groups: frozenset[str] | None) -> float | None:
        """The 1:N threshold of the caller's group; None: FaceGate's identify threshold."""
        ...


class EveryPerson:
    """``PersonGroups`` of a FaceGate without person groups: every key sees every person."""

    def visible_person_ids(self, groups: frozenset[str] | None) -> frozenset[int] | None:
        return None

    def assign(self, s: Session, person_id: int, groups: frozenset[str] | None) -> None:
        return None

    def threshold(self, groups: frozenset[str] | None) -> float | None:
        return None


class KeyProblem(Exception):
    """Why a key was refused: ``missing`` | ``malformed`` | ``unknown`` | ``scope``."""

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(kind)
        self.kind = kind
        self.detail = detail


def is_uuid(raw: str) -> bool:
    try:
        return str(uuid.UUID(raw)) == raw.lower()
    except ValueError:
        return False


class Gatekeeper:
    """Checks a raw key and a scope; audits refusals as ``api_key``/``refused`` with the client."""

    def __init__(self, container: Any) -> None:
        self.container = container

    @property
    def resolver(self) -> CredentialResolver | None:
        return getattr(self.container, "credentials", None)

    def check(self, raw: str | None, client: str, scope: str, api: str, uuid_only: bool) -> Principal:
        if not raw:
            self._refuse("missing", client, api, scope)
        assert raw is not None
        if uuid_only and not is_uuid(raw):
            self._refuse("malformed", client, api, scope)
        resolver = self.resolver
        principal = resolver.resolve(raw, client) if resolver is not None else None
        if principal is None:
            self._refuse("unknown", client, api, scope)
        assert principal is not None
        if not principal.has_scope(scope):
            self._refuse("scope", client, api, scope, actor=principal.name)
        return principal

    def _refuse(self, kind: str, client: str, api: str, scope: str, actor: str | None = None) -> None:
        self.container.audit.record(AuditEvent(
            "api_key", "refused", actor=actor, client=client or None,
            details={"reason": kind, "api": api, "scope": scope},
        ))
        raise KeyProblem(kind, scope)
