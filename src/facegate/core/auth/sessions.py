"""Web authentication plumbing: argon2id passwords, database sessions, CSRF tokens, lockout.

Everything that matters lives in the database (``facegate.core.auth.models``), so several server
processes share sessions and failure counters. Tokens are compared in constant time; the cookie
carries a random token and the database keeps only its SHA-256.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from facegate.core.auth.models import Account, LoginAttempt, WebSession
from facegate.core.store.db import Database, utcnow

Clock = Callable[[], datetime]

STAGE_FACE = "face"  # password accepted, live face + liveness still to come
STAGE_FULL = "full"  # logged in
PURGE_EVERY = 100  # attempts between purges of old attempts
PAIR_MEMORY_S = 86_400  # failures of an (account, address) pair count for a day (or a full login)


@dataclass(frozen=True)
class AccountInfo:
    id: int
    username: str
    display_name: str
    is_admin: bool
    created_at: object
    last_login_at: object | None


def account_info(row: Account) -> AccountInfo:
    return AccountInfo(
        id=row.id,
        username=row.username,
        display_name=row.display_name,
        is_admin=bool(row.is_admin),
        created_at=row.created_at,
        last_login_at=row.last_login_at,
    )



@dataclass(frozen=True)
class AuthOptions:
    session_ttl_s: int = 8 * 3600
    session_idle_s: int = 1800
    face_step_s: int = 300
    max_failures: int = 5  # per (account, client address) before that pair is locked
    window_s: int = 60  # the pair's first lock; doubles with each further failure
    backoff_max_s: int = 3600  # longest pair lock
    account_max_failures: int = 100  # all addresses together, per account_window_s
    client_max_failures: int = 30  # one address over all accounts, per account_window_s
    account_window_s: int = 3600


@dataclass(frozen=True)
class SessionInfo:
    """A valid session as the pages see it (never the token's hash)."""

    account_id: int
    stage: str
    csrf_token: str
    liveness_session_id: str | None
    expires_at: datetime

    @property
    def full(self) -> bool:
        return self.stage == STAGE_FULL


@dataclass(frozen=True)
class Lockout:
    """Why an attempt is refused before the password is even looked at."""

    locked: bool
    by: str | None = None  # "account" | "client"
    retry_after_s: int = 0


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def tokens_equal(a: str | None, b: str | None) -> bool:
    """Constant-time comparison that is False for missing values."""
    if not a or not b:
        return False
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


class Passwords:
    """argon2id hashing (argon2-cffi's RFC 9106 low-memory profile by default)."""

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self.hasher = hasher or PasswordHasher()
        self._dummy = self.hasher.hash(secrets.token_hex(16))

    def hash_password(self, password: str) -> str:
        return self.hasher.hash(password)

    def verify_password(self, stored_hash: str | None, password: str) -> bool:
        """True when it matches. A missing account still costs one hash (no timing oracle)."""
        try:
            return self.hasher.verify(stored_hash or self._dummy, password) and stored_hash is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False


class SessionStore:
    """Login sessions in the database: create, read (sliding idle expiry), promote, end."""

    def __init__(self, db: Database, options: AuthOptions, clock: Clock = utcnow) -> None:
        self.db = db
        self.options = options
        self.clock = clock

    def create_session(
        self, account_id: int, stage: str, client: str | None = None
    ) -> tuple[str, SessionInfo]:
        """A new session; returns the cookie token (shown once) and the session."""
        now = self.clock()
        ttl = self.options.face_step_s if stage == STAGE_FACE else self.options.session_ttl_s
        token = new_token()
        row = WebSession(
            token_hash=token_hash(token),
            account_id=account_id,
            stage=stage,
            csrf_token=new_token(),
            client=client,
            created_at=now,
            last_seen_at=now,
            expires_at=now + timedelta(seconds=ttl),
        )
        with self.db.session(write=True) as s:
            s.add(row)
        return token, _info(row)

    def get_session(self, token: str | None, touch: bool = True) -> SessionInfo | None:
        """The session of a cookie token, or None when unknown, expired or idle too long."""
        if not token:
            return None
        now = self.clock()
        key = token_hash(token)
        with self.db.session(write=touch) as s:
            row = s.get(WebSession, key)
            if row is None:
                return None
            idle_limit = row.last_seen_at + timedelta(seconds=self.options.session_idle_s)
            if row.expires_at <= now or (row.stage == STAGE_FULL and idle_limit <= now):
                s.delete(row)
                return None
            if touch:
                row.last_seen_at = now
            return _info(row)

    def bind_liveness(self, token: str, liveness_session_id: str) -> None:
        with self.db.session(write=True) as s:
            s.execute(
                update(WebSession)
                .where(WebSession.token_hash == token_hash(token))
                .values(liveness_session_id=liveness_session_id)
            )

    def end_session(self, token: str | None) -> None:
        if not token:
            return
        with self.db.session(write=True) as s:
            s.execute(delete(WebSession).where(WebSession.token_hash == token_hash(token)))

    def take_face_session(self, token: str | None) -> SessionInfo | None:
        """Delete and return a password-stage session (single use: a second call gets None)."""
        if not token:
            return None
        now = self.clock()
        with self.db.session(write=True) as s:
            row = s.get(WebSession, token_hash(token))
            if row is None or row.stage != STAGE_FACE:
                return None
            info = _info(row)
            s.delete(row)
            return info if row.expires_at > now else None

    def end_account_sessions(self, account_id: int) -> int:
        with self.db.session(write=True) as s:
            result = s.execute(delete(WebSession).where(WebSession.account_id == account_id))
            return int(result.rowcount or 0)  # type: ignore[attr-defined]

    def purge_expired(self) -> int:
        with self.db.session(write=True) as s:
            result = s.execute(delete(WebSession).where(WebSession.expires_at <= self.clock()))
            return int(result.rowcount or 0)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class WebAuth:
    """The web's authentication parts, built once by the container."""

    passwords: Passwords
    sessions: SessionStore
    throttle: LoginThrottle


class LoginThrottle:
    """Failed logins, counted in ``web_login_attempts`` (shared by every process):

    * per (account, client address): ``max_failures`` failures lock that pair for ``window_s``,
      doubling with each further failure up to ``backoff_max_s`` (a success resets the pair). A
      stranger hammering from one address locks only themself: the owner elsewhere gets in.
    * per account (all addresses) and per address (all accounts), over ``account_window_s``:
      slower limits against guessing from many addresses and password spraying.
    """

    def __init__(self, db: Database, options: AuthOptions, clock: Clock = utcnow) -> None:
        self.db = db
        self.options = options
        self.clock = clock

    def begin_attempt(self, username: str, client: str, stage: str = "password") -> tuple[Lockout, int]:
        """Check the locks and, when not locked, record the attempt as a failure in the same
        write transaction (so concurrent attempts cannot all slip under the limit).

        Returns the lockout state and the attempt id (0 when locked: nothing was recorded).
        """
        now = self.clock()
        with self.db.session(write=True) as s:
            lock = self._pair_lock(s, username, client, now) or self._slow_lock(s, username, client, now)
            if lock is not None:
                return lock, 0
            row = LoginAttempt(at=now, username=username, client=client, success=False, stage=stage)
            s.add(row)
            s.flush()
            if row.id % PURGE_EVERY == 0:  # now and then: old attempts go (also on success)
                s.execute(delete(LoginAttempt).where(LoginAttempt.at < self._purge_cutoff(86_400)))
            return Lockout(False), int(row.id)

    def _pair_lock(self, s: Session, username: str, client: str, now: datetime) -> Lockout | None:
        o = self.options
        pair = (LoginAttempt.username == username, LoginAttempt.client == client)
        last_ok = _aware(s.scalar(select(func.max(LoginAttempt.at)).where(  # a full login
            *pair, LoginAttempt.success.is_(True), LoginAttempt.stage == "face")))
        since = now - timedelta(seconds=max(PAIR_MEMORY_S, o.backoff_max_s))
        if last_ok is not None and last_ok > since:
            since = last_ok
        count, last = s.execute(select(func.count(), func.max(LoginAttempt.at)).where(
            *pair, LoginAttempt.at > since, LoginAttempt.success.is_(False))).one()
        if int(count) < o.max_failures:
            return None
        lock_s = min(o.window_s * 2 ** min(int(count) - o.max_failures, 30), o.backoff_max_s)
        until = (_aware(last) or now) + timedelta(seconds=lock_s)
        if until <= now:
            return None
        return Lockout(True, "client", max(1, math.ceil((until - now).total_seconds())))

    def _slow_lock(self, s: Session, username: str, client: str, now: datetime) -> Lockout | None:
        o = self.options
        since = now - timedelta(seconds=o.account_window_s)
        for by, column, value, limit in (
            ("account", LoginAttempt.username, username, o.account_max_failures),
            ("client", LoginAttempt.client, client, o.client_max_failures),
        ):
            count, oldest = s.execute(select(func.count(), func.min(LoginAttempt.at)).where(
                column == value, LoginAttempt.at > since, LoginAttempt.success.is_(False))).one()
            if int(count) >= limit:
                retry = ((_aware(oldest) or now) - since).total_seconds()
                return Lockout(True, by, max(1, math.ceil(retry)))
        return None

    def purge_old(self, keep_s: int = 86_400) -> int:
        """Delete attempts older than ``keep_s`` (at least the window): the table stays small."""
        cutoff = self._purge_cutoff(keep_s)
        with self.db.session(write=True) as s:
            result = s.execute(delete(LoginAttempt).where(LoginAttempt.at < cutoff))
            return int(result.rowcount or 0)  # type: ignore[attr-defined]

    def _purge_cutoff(self, keep_s: int) -> datetime:
        o = self.options
        keep = max(keep_s, PAIR_MEMORY_S, o.window_s, o.backoff_max_s, o.account_window_s)
        return self.clock() - timedelta(seconds=keep)

    def mark_success(self, attempt_id: int) -> None:
        with self.db.session(write=True) as s:
            s.execute(update(LoginAttempt).where(LoginAttempt.id == attempt_id).values(success=True))

    def failures(self, username: str | None = None, client: str | None = None) -> int:
        """Failures within the slower window (``account_window_s``)."""
        since = self.clock() - timedelta(seconds=self.options.account_window_s)
        stmt = select(func.count()).where(LoginAttempt.at > since, LoginAttempt.success.is_(False))
        if username is not None:
            stmt = stmt.where(LoginAttempt.username == username)
        if client is not None:
            stmt = stmt.where(LoginAttempt.client == client)
        with self.db.session() as s:
            return int(s.scalar(stmt) or 0)


def _aware(value: datetime | None) -> datetime | None:
    from datetime import UTC

    if value is None:
        return None
    if isinstance(value, str):  # SQLite aggregate results skip the column type
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _info(row: WebSession) -> SessionInfo:
    return SessionInfo(
        account_id=row.account_id,
        stage=row.stage,
        csrf_token=row.csrf_token,
        liveness_session_id=row.liveness_session_id,
        expires_at=row.expires_at,
    )
