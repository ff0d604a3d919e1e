"""Who is calling: the one credential model every route, page and device is checked against.

A ``Principal`` is what authentication yields for an API key, a stream device or a kiosk: its name
(recorded in the audit log), its scopes, and the groups of people it may see (None: all groups).
Routes ask for scopes; services filter people by ``groups``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

# The scopes a credential can hold. ``admin`` implies every other scope.
SCOPE_PEOPLE_READ = "people:read"
SCOPE_PEOPLE_WRITE = "people:write"
SCOPE_RECOGNIZE = "recognize"
SCOPE_LIVENESS = "liveness"
SCOPE_STREAM = "stream"
SCOPE_KIOSK = "kiosk"
SCOPE_ADMIN = "admin"
ALL_SCOPES: frozenset[str] = frozenset({
    SCOPE_PEOPLE_READ, SCOPE_PEOPLE_WRITE, SCOPE_RECOGNIZE, SCOPE_LIVENESS, SCOPE_STREAM,
    SCOPE_KIOSK, SCOPE_ADMIN,
})


@dataclass(frozen=True)
class Principal:
    """An authenticated caller."""

    name: str  # recorded as the audit actor, e.g. "key:ci-bot", "device:door-1", "cli"
    kind: str  # "api_key" | "device" | "kiosk" | "cli" | "web"
    scopes: frozenset[str]
    groups: frozenset[str] | None = None  # None: every group
    client: str = ""  # the client address, for the audit log
    credential_id: int | None = None  # the stored credential (API key or device), if any
    expires_at: datetime | None = None  # when the credential stops working (None: never)

    def has_scope(self, scope: str) -> bool:
        return SCOPE_ADMIN in self.scopes or scope in self.scopes

    def may_see_group(self, group: str) -> bool:
        return self.groups is None or group in self.groups


# The operator on the server host (CLI): every scope, every group.
CLI_PRINCIPAL = Principal(name="cli", kind="cli", scopes=ALL_SCOPES)
