"""API keys and device tokens (``facegate.core.auth.credentials``) on SQLite and PostgreSQL:
stored as a hash, found without a scan (UUID keys too), refused when revoked/expired/malformed,
and never granting more than the creator holds."""

from __future__ import annotations

import contextlib
import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from facegate.core.auth.credentials import (
    KIND_DEVICE,
    Credentials,
    EscalationError,
    InsufficientScopeError,
    InvalidCredentialError,
    canonical_key,
    key_hash,
    parse_expiry,
    parse_groups,
    parse_scopes,
)
from facegate.core.auth.models import ApiKey
from facegate.core.auth.principal import ALL_SCOPES, CLI_PRINCIPAL, Principal
from facegate.core.errors import AuthError, ConflictError, NotFoundError
from facegate.core.http import presented_key
from facegate.core.store.audit import AuditLog, AuditQuery
from facegate.core.store.db import Database
from tests.store_backends import backend_url  # noqa: F401  (fixture)

NOW = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def creds(backend_url: str) -> tuple[Credentials, Clock, AuditLog]:  # noqa: F811
    db = Database(backend_url)
    db.upgrade()
    clock = Clock()
    audit = AuditLog(db)
    return Credentials(db, audit, clock), clock, audit


def test_secret_is_shown_once_and_stored_only_as_a_hash(creds) -> None:  # type: ignore[no-untyped-def]
    c, _, audit = creds
    info, key = c.create("ci-bot", parse_scopes("recognize,people:read"), CLI_PRINCIPAL)
    assert re.fullmatch(r"fgk_[A-Za-z0-9_\-]{43}", key)
    with c.db.session() as s:
        row = s.scalars(select(ApiKey)).one()
        assert row.secret_hash == key_hash(key) and row.lookup == key_hash(key)[:16]
        assert key not in repr(row.__dict__)
    p = c.authenticate(key, "10.0.0.7")
    assert (p.name, p.kind, p.scopes, p.groups, p.client) == (
        "key:ci-bot", "api_key", frozenset({"recognize", "people:read"}), None, "10.0.0.7")
    assert c.get("ci-bot").last_used_at == NOW
    created = audit.query(AuditQuery(action="apikey.create"))[0]
    assert created.actor == "cli" and created.subject == "key:ci-bot"
    assert key not in str(created.details) and info.name == "ci-bot"


def test_uuid_keys_are_found_by_lookup_and_case_insensitive(creds) -> None:  # type: ignore[no-untyped-def]
    c, _, _ = creds
    info, key = c.create("compreface", frozenset({"recognize"}), CLI_PRINCIPAL, uuid_shaped=True)
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}", key)
    assert info.shape == "uuid"
    assert c.authenticate(key).name == "key:compreface"
    assert c.authenticate(key.upper()).name == "key:compreface"
    _, rotated = c.rotate("compreface", CLI_PRINCIPAL)
    assert canonical_key(rotated) == rotated and rotated != key
    with pytest.raises(AuthError):
        c.authenticate(key)
    assert c.authenticate(rotated).scopes == frozenset({"recognize"})


def test_wrong_malformed_revoked_and_expired_keys_are_refused_and_audited(creds) -> None:  # type: ignore[no-untyped-def]
    c, clock, audit = creds
    _, key = c.create("a", frozenset({"recognize"}), CLI_PRINCIPAL)
    _, short = c.create("b", frozenset({"recognize"}), CLI_PRINCIPAL, expires_at=NOW + timedelta(hours=1))
    bad = [None, "", key[:-1], key + "x", "fgk_" + "A" * 43, "nope", "x" * 5000,
           "00000000-0000-0000-0000-000000000000", key.replace("fgk_", "fgd_")]
    for k in bad:
        with pytest.raises(AuthError):
            c.authenticate(k, "1.2.3.4")
    c.revoke("a", CLI_PRINCIPAL)
    with pytest.raises(AuthError, match="revoked"):
        c.authenticate(key)
    assert c.authenticate(short).name == "key:b"
    clock.now = NOW + timedelta(hours=1)
    with pytest.raises(AuthError, match="expired"):
        c.authenticate(short)
    denied = audit.query(AuditQuery(action="auth", limit=100))
    assert len(denied) == len(bad) + 2 and {e.decision for e in denied} == {"denied"}
    assert denied[0].actor == "key:b" and denied[1].actor == "key:a"
    assert any(e.client == "1.2.3.4" for e in denied)
    assert all(key not in str(e.details) for e in denied)
    assert [k.status(clock.now) for k in c.list()] == ["revoked", "expired"]


def test_scope_check_is_audited_and_admin_implies_every_scope(creds) -> None:  # type: ignore[no-untyped-def]
    c, _, audit = creds
    _, key = c.create("reader", frozenset({"people:read"}), CLI_PRINCIPAL)
    p = c.authenticate(key, "5.6.7.8")
    c.check_scope(p, "people:read")
    with pytest.raises(InsufficientScopeError):
        c.check_scope(p, "people:write", "POST /v1/people")
    e = audit.query(AuditQuery(action="auth"))[0]
    assert (e.decision, e.actor, e.subject, e.client) == (
        "forbidden", "key:reader", "POST /v1/people", "5.6.7.8")
    _, admin = c.create("root", frozenset({"admin"}), CLI_PRINCIPAL)
    for scope in ALL_SCOPES:
        c.check_scope(c.authenticate(admin), scope)


def test_a_key_cannot_grant_more_than_it_holds(creds) -> None:  # type: ignore[no-untyped-def]
    c, _, _ = creds
    _, k = c.create("staff-admin", frozenset({"admin"}), CLI_PRINCIPAL,
                    groups=frozenset({"staff"}), expires_at=NOW + timedelta(days=1))
    limited = c.authenticate(k)
    with pytest.raises(EscalationError, match="groups"):
        c.create("x", frozenset({"recognize"}), limited)  # every group
    with pytest.raises(EscalationError, match="groups"):
        c.create("x", frozenset({"recognize"}), limited, groups=frozenset({"staff", "web"}))
    with pytest.raises(EscalationError, match="outlives"):
        c.create("x", frozenset({"recognize"}), limited, groups=frozenset({"staff"}))
    info, _ = c.create("x", frozenset({"recognize"}), limited, groups=frozenset({"staff"}),
                       expires_at=NOW + timedelta(hours=1))
    assert info.created_by == "key:staff-admin"
    reader = Principal("key:r", "api_key", frozenset({"people:read"}))
    with pytest.raises(EscalationError, match="people:write"):
        c.create("y", frozenset({"people:read", "people:write"}), reader)
    with pytest.raises(EscalationError):  # managing keys needs admin, even a weaker key
        c.revoke("x", Principal("key:r", "api_key", frozenset({"recognize"}), frozenset({"staff"})))
    _, _everything = c.create("all-groups", frozenset({"recognize"}), CLI_PRINCIPAL)
    with pytest.raises(EscalationError):
        c.revoke("all-groups", limited)


def test_bad_names_duplicates_and_unknown_keys(creds) -> None:  # type: ignore[no-untyped-def]
    c, _, _ = creds
    c.create("gate", frozenset({"stream"}), CLI_PRINCIPAL)
    with pytest.raises(ConflictError):
        c.create("gate", frozenset({"stream"}), CLI_PRINCIPAL)
    for bad in ("", "has space", "x" * 65, "../etc"):
        with pytest.raises(InvalidCredentialError):
            c.create(bad, frozenset({"stream"}), CLI_PRINCIPAL)
    with pytest.raises(InvalidCredentialError):
        c.create("past", frozenset({"stream"}), CLI_PRINCIPAL, expires_at=NOW - timedelta(1))
    with pytest.raises(NotFoundError):
        c.revoke("nope", CLI_PRINCIPAL)
    c.revoke("gate", CLI_PRINCIPAL)
    with pytest.raises(ConflictError):
        c.rotate("gate", CLI_PRINCIPAL)


def test_devices_are_credentials_with_the_stream_scope(creds) -> None:  # type: ignore[no-untyped-def]
    c, _, _ = creds
    _, api = c.create("front-door", frozenset({"recognize"}), CLI_PRINCIPAL)
    info, token = c.create("front-door", frozenset({"stream"}), CLI_PRINCIPAL,
                           groups=frozenset(), kind=KIND_DEVICE)
    assert token.startswith("fgd_") and info.shape == "fgd"
    p = c.authenticate(token, "10.1.1.1")
    assert (p.name, p.kind, p.scopes, p.groups) == (
        "device:front-door", "device", frozenset({"stream"}), frozenset())
    c.remove("front-door", CLI_PRINCIPAL, KIND_DEVICE)
    with pytest.raises(AuthError):
        c.authenticate(token)
    assert c.authenticate(api).name == "key:front-door"  # same name, other kind: untouched
    with pytest.raises(NotFoundError):
        c.remove("front-door", CLI_PRINCIPAL, KIND_DEVICE)


# ---- parsers --------------------------------------------------------------------------------
def test_parsers() -> None:
    assert parse_scopes(" recognize , people:read,") == {"recognize", "people:read"}
    for bad in ("", ",", "root", "recognize,everything"):
        with pytest.raises(InvalidCredentialError):
            parse_scopes(bad)
    assert parse_groups(None) is None and parse_groups("") == frozenset()
    assert parse_groups("staff, web") == {"staff", "web"}
    with pytest.raises(InvalidCredentialError):
        parse_groups("staff,bad group")
    assert parse_expiry("30d", NOW) == NOW + timedelta(days=30)
    assert parse_expiry("12h", NOW) == NOW + timedelta(hours=12)
    assert parse_expiry("2031-01-01", NOW) == datetime(2031, 1, 1, tzinfo=UTC)
    assert parse_expiry("never", NOW) is None and parse_expiry(None, NOW) is None
    for bad in ("0d", "yesterday", "2020-01-01", "5y", "-3d"):
        with pytest.raises(InvalidCredentialError):
            parse_expiry(bad, NOW)


@settings(deadline=None)
@given(st.text(max_size=80))
def test_parsers_never_crash_on_any_text(text: str) -> None:
    for parse in (parse_scopes, parse_groups, lambda t: parse_expiry(t, NOW)):
        with contextlib.suppress(InvalidCredentialError):
            parse(text)
    canon = canonical_key(text)
    assert canon is None or len(canon) in (36, 47)


@settings(deadline=None)
@given(st.dictionaries(st.sampled_from(["authorization", "x-api-key", "x-facegate-kiosk", "other"]),
                       st.text(max_size=60)),
       st.dictionaries(st.sampled_from(["fg_kiosk", "fg_session"]), st.text(max_size=60)))
def test_presented_key_reads_only_the_documented_places(headers: dict[str, str],
                                                         cookies: dict[str, str]) -> None:
    key, from_cookie = presented_key(headers, cookies)
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer ") and auth[7:].strip():
        assert (key, from_cookie) == (auth.partition(" ")[2].strip(), False)
    elif from_cookie:
        assert key == cookies["fg_kiosk"] and headers.get("x-facegate-kiosk") == "1"
    else:
        assert key is None or key == headers.get("x-api-key", "").strip()
