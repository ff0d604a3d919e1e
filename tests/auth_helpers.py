"""API keys for tests: every /v1 route needs one (``facegate.core.http.require_scope``)."""

from __future__ import annotations

from typing import Any

from facegate.core.auth.principal import CLI_PRINCIPAL


def make_key(container: Any, scopes: str = "admin", name: str = "test-admin", **kw: Any) -> str:
    """Create an API key on ``container``'s store (migrated first) and return its secret."""
    from facegate.core.auth.credentials import parse_scopes

    container.prepare_store()
    _, secret = container.credentials.create(name, parse_scopes(scopes), CLI_PRINCIPAL, **kw)
    return str(secret)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def admin_headers(container: Any, name: str = "test-admin") -> dict[str, str]:
    """Headers carrying a fresh admin key (every scope, every group)."""
    return bearer(make_key(container, name=name))


def make_device(container: Any, name: str, groups: frozenset[str] | None = None) -> str:
    """Register a stream device (a credential with the ``stream`` scope); its token."""
    from facegate.core.auth.credentials import KIND_DEVICE

    container.prepare_store()
    _, token = container.credentials.create(
        name, frozenset({"stream"}), CLI_PRINCIPAL, groups=groups, kind=KIND_DEVICE
    )
    return str(token)
