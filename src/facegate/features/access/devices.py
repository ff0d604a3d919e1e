"""Device tokens for cameras and door controllers, and authentication of stream connections.

``facegate devices add NAME`` creates a token ``fgd_<43 url-safe chars>`` (256 random bits) and prints
it once; only its SHA-256 is stored (a slow password hash is not needed for 256-bit random secrets,
and the lookup must be cheap on every connection). A presented token is hashed, the row is found by
the hash and the hashes are compared with ``hmac.compare_digest``. The optional API key
(``FACEGATE_STREAM_API_KEY`` or a key file) is compared in constant time as well. Failed attempts are
audited (action ``stream.auth``).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from typing import Protocol

from facegate.core.domain import AuditEvent
from facegate.core.errors import AuthError, FaceGateError
from facegate.features.access.decisions import AuditSink
from facegate.features.access.models import Device

TOKEN_PREFIX = "fgd_"
DEVICE_ACTOR_PREFIX = "device:"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")


class DeviceStore(Protocol):
    """Persistence of devices (``facegate.features.access.models.SqlDeviceStore``)."""

    def add(self, name: str, token_hash: str) -> Device:
        """Insert; ``ConflictError`` if the name exists."""
        ...

    def find_by_hash(self, token_hash: str) -> tuple[Device, str] | None:
        """The device and its stored hash, or None."""
        ...

    def touch(self, device_id: int) -> None:
        """Record that the device connected now."""
        ...

    def list_devices(self) -> list[Device]: ...

    def remove(self, name: str) -> None:
        """Delete; ``NotFoundError`` if there is no such device."""
        ...

    def groups_of(self, name: str) -> frozenset[str]:
        """The groups of people the device admits (empty: nobody)."""
        ...

    def set_groups(self, name: str, groups: frozenset[str]) -> Device: ...


class InvalidDeviceNameError(FaceGateError):
    code = "invalid_device_name"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


class DeviceRegistry:
    def __init__(self, store: DeviceStore) -> None:
        self.store = store

    def create(self, name: str) -> tuple[Device, str]:
        """Register a device; returns it and its token (shown once, never stored)."""
        if not _NAME.match(name):
            raise InvalidDeviceNameError(
                f"invalid device name {name!r}: use 1-64 letters, digits, '_', '-' or '.'"
            )
        token = new_token()
        return self.store.add(name, hash_token(token)), token

    def admitted_groups(self, actor: str) -> frozenset[str] | None:
        """The groups a stream of ``actor`` admits: a device's own (empty until an administrator
        sets them); the operator's API key admits every group (None)."""
        if actor.startswith(DEVICE_ACTOR_PREFIX):
            return self.store.groups_of(actor[len(DEVICE_ACTOR_PREFIX):])
        return None

    def authenticate(self, token: str) -> Device:
        digest = hash_token(token)
        found = self.store.find_by_hash(digest)
        if found is None or not hmac.compare_digest(found[1], digest):
            raise AuthError("invalid device token")
        self.store.touch(found[0].id)
        return found[0]


class StreamAuthenticator:
    """Turns the credentials of a connection into an actor name, or raises ``AuthError``."""

    def __init__(self, devices: DeviceRegistry, api_key: str | None, audit: AuditSink) -> None:
        self.devices = devices
        self._api_key = api_key.encode() if api_key else None
        self.audit = audit

    def authenticate(self, bearer: str | None, api_key: str | None) -> str:
        try:
            return self._check(bearer, api_key)
        except AuthError as exc:
            self.audit.record(
                AuditEvent(action="stream.auth", decision="denied", details={"reason": exc.message})
            )
            raise

    def _check(self, bearer: str | None, api_key: str | None) -> str:
        if api_key:
            if self._api_key is None or not hmac.compare_digest(api_key.encode(), self._api_key):
                raise AuthError("invalid API key")
            return "api-key"
        if bearer:
            if bearer.startswith(TOKEN_PREFIX):
                return DEVICE_ACTOR_PREFIX + self.devices.authenticate(bearer).name
            if self._api_key is not None and hmac.compare_digest(bearer.encode(), self._api_key):
                return "api-key"
            raise AuthError("invalid device token")
        raise AuthError("missing credentials: send 'Authorization: Bearer <device token>'")


def bearer_of(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None
