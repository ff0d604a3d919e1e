"""Device tokens: shown once, stored as a hash, checked in constant time; stream authentication."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from facegate.core.domain import AuditEvent
from facegate.core.errors import AuthError, ConflictError, NotFoundError
from facegate.core.store.db import Base, Database
from facegate.core.store.models import Group
from facegate.features.access.devices import (
    DeviceRegistry,
    InvalidDeviceNameError,
    StreamAuthenticator,
    bearer_of,
    hash_token,
)
from facegate.features.access.models import DeviceGroupRecord, DeviceRecord, SqlDeviceStore


class FakeAudit:
    def __init__(self) -> None:
        self.events: list[AuditEvent] = []

    def record(self, event: AuditEvent) -> None:
        self.events.append(event)


@pytest.fixture
def db() -> Database:
    d = Database("sqlite://")
    tables = [DeviceRecord.__table__, Group.__table__, DeviceGroupRecord.__table__]
    Base.metadata.create_all(d.engine, tables=tables)  # type: ignore[arg-type]
    return d


def test_token_is_stored_only_as_a_hash(db: Database) -> None:
    registry = DeviceRegistry(SqlDeviceStore(db))
    device, token = registry.create("front-door")
    assert token.startswith("fgd_") and len(token) > 40
    with db.session() as s:
        row = s.scalars(select(DeviceRecord)).one()
        assert row.token_hash == hash_token(token) and token not in row.token_hash
    assert registry.authenticate(token).name == "front-door"
    assert registry.store.list_devices()[0].last_seen_at is not None
    assert device.last_seen_at is None


def test_tokens_differ_and_wrong_ones_fail(db: Database) -> None:
    registry = DeviceRegistry(SqlDeviceStore(db))
    _, t1 = registry.create("a")
    _, t2 = registry.create("b")
    assert t1 != t2
    for bad in (t1[:-1], t1 + "x", "fgd_" + "A" * 43, ""):
        with pytest.raises(AuthError):
            registry.authenticate(bad)


def test_duplicate_bad_and_unknown_names(db: Database) -> None:
    registry = DeviceRegistry(SqlDeviceStore(db))
    registry.create("gate")
    with pytest.raises(ConflictError):
        registry.create("gate")
    for bad in ("", "has space", "x" * 65, "../etc"):
        with pytest.raises(InvalidDeviceNameError):
            registry.create(bad)
    with pytest.raises(NotFoundError):
        registry.store.remove("nope")


def test_removed_device_can_no_longer_connect(db: Database) -> None:
    registry = DeviceRegistry(SqlDeviceStore(db))
    _, token = registry.create("gate")
    registry.store.remove("gate")
    with pytest.raises(AuthError):
        registry.authenticate(token)


def test_authenticator_accepts_device_tokens_and_the_api_key(db: Database) -> None:
    registry, audit = DeviceRegistry(SqlDeviceStore(db)), FakeAudit()
    _, token = registry.create("cam")
    auth = StreamAuthenticator(registry, "secret-api-key", audit)
    assert auth.authenticate(token, None) == "device:cam"
    assert auth.authenticate(None, "secret-api-key") == "api-key"
    assert auth.authenticate("secret-api-key", None) == "api-key"
    for bearer, key in ((None, None), ("wrong", None), (None, "wrong"), (token, "wrong")):
        with pytest.raises(AuthError):
            auth.authenticate(bearer, key)
    assert [(e.action, e.decision) for e in audit.events] == [("stream.auth", "denied")] * 4


def test_no_api_key_configured_means_api_keys_fail(db: Database) -> None:
    auth = StreamAuthenticator(DeviceRegistry(SqlDeviceStore(db)), None, FakeAudit())
    with pytest.raises(AuthError):
        auth.authenticate(None, "anything")


@pytest.mark.parametrize(
    ("header", "value"),
    [(None, None), ("", None), ("Bearer abc", "abc"), ("bearer  abc ", "abc"), ("Basic abc", None)],
)
def test_bearer_of(header: str | None, value: str | None) -> None:
    assert bearer_of(header) == value
