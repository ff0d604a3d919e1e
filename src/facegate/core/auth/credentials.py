"""API keys and stream devices: one credential model (``api_keys`` table), checked in one place.

A key is ``fgk_`` + 43 url-safe characters (256 random bits), a device token ``fgd_`` + the same,
or a UUID (122 random bits, for clients that expect UUID-shaped keys). Only ``SHA-256(key)`` is
stored: a slow password hash is not needed for secrets of that entropy, and every request checks
one. The row is found by ``lookup`` (the hash's first 16 hex digits, an indexed column), so no
shape needs an id inside the key and nothing is scanned; the full hash is then compared with
``hmac.compare_digest`` (against a dummy when no row matched, so both paths do the same work).

``Credentials.authenticate`` turns a presented key into a ``Principal`` or raises ``AuthError``
(401); ``check_scope`` raises ``InsufficientScopeError`` (403). Both failures are audited with the
client address; the key itself is never logged, stored or returned after creation.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from facegate.core.auth.models import ApiKey
from facegate.core.auth.principal import ALL_SCOPES, SCOPE_ADMIN, Principal
from facegate.core.domain import AuditEvent
from facegate.core.errors import (
    AuthError,
    ConflictError,
    FaceGateError,
    NotFoundError,
    PermissionDeniedError,
)
from facegate.core.store.audit import Auditor
from facegate.core.store.db import Database, utcnow

KIND_KEY = "api_key"
KIND_DEVICE = "device"
KINDS = (KIND_KEY, KIND_DEVICE)
KEY_PREFIX = "fgk_"
DEVICE_PREFIX = "fgd_"
LOOKUP_CHARS = 16
TOUCH_EVERY = timedelta(seconds=60)  # last_used_at is written at most this often per key
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
_GROUP = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
_TOKEN = re.compile(r"^fg[kd]_[A-Za-z0-9_\-]{43}$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_DURATION = re.compile(r"^(\d{1,6})([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_DUMMY_HASH = hashlib.sha256(b"no such key").hexdigest()
MISSING = "missing credentials: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'"


class InvalidCredentialError(FaceGateError):
    """A bad key name, scope list, group list or expiry when creating a key."""

    code = "invalid_credential"


class InsufficientScopeError(PermissionDeniedError):
    """A valid key without the scope the route needs."""

    code = "insufficient_scope"


class EscalationError(PermissionDeniedError):
    """A key tried to create (or manage) a key with more power than its own."""

    code = "scope_escalation"


@dataclass(frozen=True)
class CredentialInfo:
    """A stored credential, without its secret."""

    id: int
    kind: str
    name: str
    shape: str
    scopes: tuple[str, ...]
    groups: tuple[str, ...] | None
    created_at: datetime
    created_by: str | None
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None

    @property
    def principal_name(self) -> str:
        return principal_name(self.kind, self.name)

    def status(self, now: datetime) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"

    def to_json(self, now: datetime) -> dict[str, Any]:
        def iso(d: datetime | None) -> str | None:
            return d.isoformat() if d else None

        return {
            "name": self.name, "kind": self.kind, "shape": self.shape, "scopes": list(self.scopes),
            "groups": None if self.groups is None else list(self.groups),
            "created_at": iso(self.created_at), "created_by": self.created_by,
            "last_used_at": iso(self.last_used_at), "expires_at": iso(self.expires_at),
            "revoked_at": iso(self.revoked_at), "status": self.status(now),
        }


def principal_name(kind: str, name: str) -> str:
    return f"device:{name}" if kind == KIND_DEVICE else f"key:{name}"


# ---- parsers (CLI, API and admin page share them) ----------------------------------------------
def parse_name(text: str) -> str:
    name = text.strip()
    if not _NAME.match(name):
        raise InvalidCredentialError(
            f"invalid name {text[:80]!r}: use 1-64 letters, digits, '_', '-' or '.'"
        )
    return name


def parse_scopes(text: str | Iterable[str]) -> frozenset[str]:
    """``people:read,recognize`` → the scopes; unknown or no scope is an error."""
    items = text.split(",") if isinstance(text, str) else list(text)
    scopes = frozenset(s.strip() for s in items if s.strip())
    unknown = sorted(scopes - ALL_SCOPES)
    if unknown:
        raise InvalidCredentialError(
            f"unknown scope(s) {', '.join(repr(u[:40]) for u in unknown[:5])}; "
            f"known: {', '.join(sorted(ALL_SCOPES))}"
        )
    if not scopes:
        raise InvalidCredentialError("give at least one scope, e.g. --scopes recognize")
    return scopes


def parse_groups(text: str | Iterable[str] | None) -> frozenset[str] | None:
    """``staff,customers`` → those groups; None → every group; "" → no group at all."""
    if text is None:
        return None
    items = text.split(",") if isinstance(text, str) else list(text)
    groups = frozenset(g.strip() for g in items if g.strip())
    bad = sorted(g for g in groups if not _GROUP.match(g))
    if bad:
        raise InvalidCredentialError(
            f"invalid group name {bad[0][:80]!r}: use 1-64 letters, digits, '_', '-' or '.'"
        )
    return groups


def parse_expiry(text: str | None, now: datetime | None = None) -> datetime | None:
    """``30d``, ``12h``, ``90m``, ``2w``, an ISO date/time (UTC if no zone), or None/"never"."""
    if text is None or text.strip().lower() in ("", "never"):
        return None
    now = now or utcnow()
    v = text.strip()
    m = _DURATION.match(v)
    if m:
        at = now + timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})
    else:
        try:
            at = datetime.fromisoformat(v)
        except ValueError:
            raise InvalidCredentialError(
                f"invalid expiry {v[:40]!r}: use e.g. 30d, 12h, 90m, 2w or an ISO date"
            ) from None
        at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    if at <= now:
        raise InvalidCredentialError(f"expiry {v[:40]!r} is not in the future")
    return at


# ---- keys ------------------------------------------------------------------------------------
def canonical_key(key: str) -> str | None:
    """The key as hashed (UUIDs lower-cased), or None when it has no known shape (malformed)."""
    if _TOKEN.match(key):
        return key
    if _UUID.match(key):
        return key.lower()
    return None


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_key(kind: str, uuid_shaped: bool) -> tuple[str, str]:
    """A fresh secret and its shape."""
    if uuid_shaped:
        return str(uuid.uuid4()), "uuid"
    prefix = DEVICE_PREFIX if kind == KIND_DEVICE else KEY_PREFIX
    return prefix + secrets.token_urlsafe(32), prefix[:3]


def check_grant(
    by: Principal, scopes: frozenset[str], groups: frozenset[str] | None,
    expires_at: datetime | None,
) -> None:
    """``by`` may only hand out what it holds: scopes, groups, and no longer life than its own."""
    missing = sorted(s for s in scopes if not by.has_scope(s))
    if missing:
        raise EscalationError(f"cannot grant scope(s) you do not hold: {', '.join(missing)}")
    if by.groups is not None and (groups is None or not groups <= by.groups):
        raise EscalationError("cannot grant groups outside your own: " + (
            "all groups" if groups is None else ", ".join(sorted(groups - by.groups))))
    if by.expires_at is not None and (expires_at is None or expires_at > by.expires_at):
        raise EscalationError("cannot create a key that outlives your own")


def _info(r: ApiKey) -> CredentialInfo:
    return CredentialInfo(
        id=r.id, kind=r.kind, name=r.name, shape=r.shape, scopes=tuple(sorted(r.scopes or [])),
        groups=None if r.groups is None else tuple(sorted(r.groups)), created_at=r.created_at,
        created_by=r.created_by, last_used_at=r.last_used_at, expires_at=r.expires_at,
        revoked_at=r.revoked_at,
    )


class Credentials:
    """Create, list, revoke, rotate and check API keys and device tokens (``api_keys`` table)."""

    def __init__(self, db: Database, audit: Auditor, clock: Callable[[], datetime] = utcnow) -> None:
        self.db = db
        self.audit = audit
        self.clock = clock

    # ---- management ----
    def create(
        self, name: str, scopes: frozenset[str], by: Principal, *, groups: frozenset[str] | None = None,
        expires_at: datetime | None = None, kind: str = KIND_KEY, uuid_shaped: bool = False,
    ) -> tuple[CredentialInfo, str]:
        """Store a new credential; returns it and its secret (shown once, never stored)."""
        name = parse_name(name)
        scopes = parse_scopes(scopes)
        if kind not in KINDS:
            raise InvalidCredentialError(f"unknown credential kind {kind!r}")
        if expires_at is not None and expires_at <= self.clock():
            raise InvalidCredentialError("the expiry is not in the future")
        check_grant(by, scopes, groups, expires_at)
        secret, shape = new_key(kind, uuid_shaped)
        digest = key_hash(canonical_key(secret) or secret)
        row = ApiKey(
            kind=kind, name=name, shape=shape, lookup=digest[:LOOKUP_CHARS], secret_hash=digest,
            scopes=sorted(scopes), groups=None if groups is None else sorted(groups),
            created_at=self.clock(), created_by=by.name, expires_at=expires_at,
        )
        try:
            with self.db.session(write=True) as s:
                if s.scalar(select(ApiKey.id).where(ApiKey.kind == kind, ApiKey.name == name)):
                    raise ConflictError(f"a {_kind_word(kind)} named {name!r} already exists")
                s.add(row)
                s.flush()
                info = _info(row)
        except IntegrityError as exc:
            raise ConflictError(f"a {_kind_word(kind)} named {name!r} already exists") from exc
        self._audit(f"{_action(kind)}.create", "ok", by.name, info, {
            "scopes": list(info.scopes), "groups": None if groups is None else list(info.groups or ()),
            "expires_at": expires_at.isoformat() if expires_at else None, "shape": shape,
        })
        return info, secret

    def list(self, kind: str | None = None) -> list[CredentialInfo]:
        stmt = select(ApiKey).order_by(ApiKey.kind, ApiKey.name)
        if kind is not None:
            stmt = stmt.where(ApiKey.kind == kind)
        with self.db.session() as s:
            return [_info(r) for r in s.scalars(stmt)]

    def get(self, name: str, kind: str = KIND_KEY) -> CredentialInfo:
        with self.db.session() as s:
            return _info(self._row(s, name, kind))

    def revoke(self, name: str, by: Principal, kind: str = KIND_KEY) -> CredentialInfo:
        """The key stops working at once; its row stays (name, history) marked revoked."""
        with self.db.session(write=True) as s:
            row = self._row(s, name, kind)
            self._check_manage(by, row)
            if row.revoked_at is None:
                row.revoked_at = self.clock()
            info = _info(row)
        self._audit(f"{_action(kind)}.revoke", "ok", by.name, info, {})
        return info

    def rotate(self, name: str, by: Principal, kind: str = KIND_KEY) -> tuple[CredentialInfo, str]:
        """A new secret for the same name, scopes, groups and expiry; the old one stops working."""
        with self.db.session(write=True) as s:
            row = self._row(s, name, kind)
            self._check_manage(by, row)
            if row.revoked_at is not None:
                raise ConflictError(f"{_kind_word(kind)} {name!r} is revoked: create a new one")
            secret, _ = new_key(kind, row.shape == "uuid")
            digest = key_hash(canonical_key(secret) or secret)
            row.lookup, row.secret_hash, row.last_used_at = digest[:LOOKUP_CHARS], digest, None
            info = _info(row)
        self._audit(f"{_action(kind)}.rotate", "ok", by.name, info, {})
        return info, secret

    def set_groups(
        self, name: str, groups: frozenset[str] | None, by: Principal, kind: str = KIND_DEVICE
    ) -> CredentialInfo:
        """Replace the groups a credential sees (a door: the groups of people it admits; empty:
        nobody). Needs ``admin`` and the groups given (no escalation), audited."""
        check_grant(by, frozenset(), groups, by.expires_at)
        with self.db.session(write=True) as s:
            row = self._row(s, name, kind)
            self._check_manage(by, row)
            before = None if row.groups is None else list(row.groups)
            row.groups = None if groups is None else sorted(groups)
            info = _info(row)
        self._audit(f"{_action(kind)}.groups", "ok", by.name, info, {
            "before": before, "groups": None if groups is None else sorted(groups),
        })
        return info

    def remove(self, name: str, by: Principal, kind: str = KIND_DEVICE) -> None:
        """Delete the credential (devices: ``facegate devices remove``)."""
        with self.db.session(write=True) as s:
            row = self._row(s, name, kind)
            self._check_manage(by, row)
            info = _info(row)
            s.execute(delete(ApiKey).where(ApiKey.id == row.id))
        self._audit(f"{_action(kind)}.remove", "ok", by.name, info, {})

    # ---- checks ----
    def authenticate(self, key: str | None, client: str = "", where: str = "") -> Principal:
        """The principal of ``key``; ``AuthError`` (audited) if missing, unknown, revoked, expired."""
        try:
            return self._authenticate(key, client)
        except AuthError as exc:
            self.audit.record(AuditEvent(
                "auth", "denied", actor=getattr(exc, "actor", None), subject=where[:200] or None,
                details={"reason": exc.message}, client=client or None,
            ))
            raise

    def resolve(self, raw_key: str, client: str) -> Principal | None:
        """The principal of ``raw_key`` or None, for callers that audit refusals in their own
        words (the CompreFace/DeepStack APIs); same constant-time checks as ``authenticate``."""
        try:
            return self._authenticate(raw_key, client)
        except AuthError:
            return None

    def check_scope(self, principal: Principal, scope: str, where: str = "") -> None:
        """``InsufficientScopeError`` (audited) unless the principal holds ``scope``."""
        if principal.has_scope(scope):
            return
        self.audit.record(AuditEvent(
            "auth", "forbidden", actor=principal.name, subject=where[:200] or None,
            details={"reason": f"missing scope {scope}"}, client=principal.client or None,
        ))
        raise InsufficientScopeError(f"this credential lacks the '{scope}' scope")

    def _authenticate(self, key: str | None, client: str) -> Principal:
        if not key:
            raise AuthError(MISSING)
        canon = canonical_key(key) if len(key) <= 64 else None
        digest = key_hash(canon or "")
        row = None
        if canon is not None:
            with self.db.session() as s:
                row = s.scalar(select(ApiKey).where(ApiKey.lookup == digest[:LOOKUP_CHARS]))
        matched = hmac.compare_digest(row.secret_hash if row else _DUMMY_HASH, digest)
        if row is None or not matched or canon is None:
            raise AuthError("invalid API key")
        now = self.clock()
        if row.revoked_at is not None:
            raise _named(AuthError("this API key has been revoked"), row)
        if row.expires_at is not None and row.expires_at <= now:
            raise _named(AuthError("this API key has expired"), row)
        if row.last_used_at is None or now - row.last_used_at >= TOUCH_EVERY:
            self._touch(row.id, now)
        return Principal(
            name=principal_name(row.kind, row.name), kind=row.kind,
            scopes=frozenset(row.scopes or ()),
            groups=None if row.groups is None else frozenset(row.groups), client=client,
            credential_id=row.id, expires_at=row.expires_at,
        )

    def _touch(self, key_id: int, now: datetime) -> None:
        """Best effort: a busy database must not refuse a caller."""
        from sqlalchemy.exc import OperationalError

        try:
            with self.db.session(write=True) as s:
                row = s.get(ApiKey, key_id)
                if row is not None:
                    row.last_used_at = now
        except OperationalError:
            pass

    def _row(self, s: Any, name: str, kind: str) -> ApiKey:
        row = s.scalar(select(ApiKey).where(ApiKey.kind == kind, ApiKey.name == name))
        if row is None:
            raise NotFoundError(f"no {_kind_word(kind)} named {name[:64]!r}")
        return row

    @staticmethod
    def _check_manage(by: Principal, row: ApiKey) -> None:
        """Managing a key needs every power it has (an admin limited to groups cannot revoke a
        key that sees all groups)."""
        groups = None if row.groups is None else frozenset(row.groups)
        check_grant(by, frozenset(row.scopes or ()), groups, by.expires_at)
        if SCOPE_ADMIN not in by.scopes:
            raise EscalationError("managing keys needs the admin scope")

    def _audit(self, action: str, decision: str, actor: str, info: CredentialInfo,
               details: dict[str, Any]) -> None:
        self.audit.record(AuditEvent(action, decision, actor=actor, subject=info.principal_name,
                                     details=details))


def _named(exc: AuthError, row: ApiKey) -> AuthError:
    exc.actor = principal_name(row.kind, row.name)  # type: ignore[attr-defined]
    return exc


def _kind_word(kind: str) -> str:
    return "device" if kind == KIND_DEVICE else "API key"


def _action(kind: str) -> str:
    return "device" if kind == KIND_DEVICE else "apikey"
