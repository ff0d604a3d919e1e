"""One-time locker keys: generation, keyed hashing (HMAC-SHA256), state, and the server secret.

A key is ``digits`` random decimal digits (``secrets``), shown once to the customer and never
stored: the database keeps only ``HMAC-SHA256(secret, ref ‖ customer ‖ locker ‖ key)``, so a key
is bound to the customer and locker it was issued for and a leaked table reveals nothing usable
without the secret. Comparison is constant-time (``hmac.compare_digest``).

The secret comes from ``FACEGATE_LOCKER_SECRET`` (passed in by the entry point) or a key file
under the data dir, created on first use with mode 0600 and refused when others can read it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path

from facegate.core.errors import FaceGateError

Clock = Callable[[], datetime]
"""Returns the current time (timezone-aware UTC); injectable so tests can move time."""

MIN_DIGITS = 6
MAX_DIGITS = 12
MIN_SECRET_BYTES = 32
SECRET_FILE_NAME = "locker_secret.key"
_HASH_DOMAIN = b"facegate-locker-key-v1"


def utc_clock() -> datetime:
    return datetime.now(UTC)


class LockerSecretError(FaceGateError):
    """The locker secret is missing, too short or readable by others."""

    code = "locker_secret"


class KeyFormatError(FaceGateError):
    """What was typed cannot be a key at all (wrong length or not digits)."""

    code = "invalid_key_format"


@dataclass(frozen=True)
class KeyPolicy:
    """How keys are made and how long / how often they may be tried."""

    ttl: timedelta = timedelta(minutes=3)
    max_attempts: int = 5
    digits: int = MIN_DIGITS

    def __post_init__(self) -> None:
        if not MIN_DIGITS <= self.digits <= MAX_DIGITS:
            raise ValueError(f"key digits must be between {MIN_DIGITS} and {MAX_DIGITS}")
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.ttl <= timedelta(0):
            raise ValueError("key validity must be positive")


class KeyStatus(StrEnum):
    ACTIVE = "active"
    USED = "used"
    EXPIRED = "expired"
    BURNT = "burnt"
    REVOKED = "revoked"


def generate_key(digits: int = MIN_DIGITS) -> str:
    """A uniformly random decimal key of exactly ``digits`` digits (leading zeros kept)."""
    if not MIN_DIGITS <= digits <= MAX_DIGITS:
        raise ValueError(f"key digits must be between {MIN_DIGITS} and {MAX_DIGITS}")
    return f"{secrets.randbelow(10**digits):0{digits}d}"


def generate_key_ref() -> str:
    """A public random id of one issued key (stored in clear, part of the hashed message)."""
    return secrets.token_hex(8)


def normalize_key(typed: str, digits: int) -> str:
    """Strip spaces and dashes; refuse anything that is not exactly ``digits`` digits."""
    key = re.sub(r"[\s-]", "", typed or "")
    if not key.isascii() or not key.isdigit() or len(key) != digits:
        raise KeyFormatError(f"a locker key is exactly {digits} digits")
    return key


def key_status(
    *,
    now: datetime,
    expires_at: datetime,
    used_at: datetime | None,
    burnt_at: datetime | None,
    revoked_at: datetime | None,
) -> KeyStatus:
    """The state of a stored key at ``now`` (used/burnt/revoked win over expiry)."""
    if used_at is not None:
        return KeyStatus.USED
    if burnt_at is not None:
        return KeyStatus.BURNT
    if revoked_at is not None:
        return KeyStatus.REVOKED
    if now >= expires_at:
        return KeyStatus.EXPIRED
    return KeyStatus.ACTIVE


class KeyHasher:
    """HMAC-SHA256 of a key bound to its ref, customer and locker; constant-time check."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < MIN_SECRET_BYTES:
            raise LockerSecretError(f"the locker secret must be at least {MIN_SECRET_BYTES} bytes")
        self._secret = secret

    def digest(self, key: str, *, ref: str, customer_id: str, locker_number: int) -> str:
        message = b"\x00".join(
            [
                _HASH_DOMAIN,
                ref.encode(),
                customer_id.encode("utf-8"),
                str(int(locker_number)).encode(),
                key.encode(),
            ]
        )
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def matches(
        self, key: str, stored_digest: str, *, ref: str, customer_id: str, locker_number: int
    ) -> bool:
        candidate = self.digest(key, ref=ref, customer_id=customer_id, locker_number=locker_number)
        return hmac.compare_digest(candidate.encode(), stored_digest.encode())

    def __repr__(self) -> str:
        return "KeyHasher(<secret>)"


def load_locker_secret(env_value: str | None, key_file: Path, create: bool = True) -> bytes:
    """The secret from the environment value, else from ``key_file`` (created 0600 when missing)."""
    if env_value:
        secret = env_value.encode("utf-8")
        if len(secret) < MIN_SECRET_BYTES:
            raise LockerSecretError(
                f"FACEGATE_LOCKER_SECRET must be at least {MIN_SECRET_BYTES} characters"
            )
        return secret
    if not key_file.exists():
        if not create:
            raise LockerSecretError(
                f"no locker secret: set FACEGATE_LOCKER_SECRET or create {key_file}"
            )
        _create_secret_file(key_file)
    mode = key_file.stat().st_mode & 0o777
    if mode & 0o077:
        raise LockerSecretError(
            f"{key_file} is readable by others (mode {mode:o}); run: chmod 600 {key_file}"
        )
    secret = key_file.read_text(encoding="utf-8").strip().encode()
    if len(secret) < MIN_SECRET_BYTES:
        raise LockerSecretError(f"{key_file} holds fewer than {MIN_SECRET_BYTES} characters")
    return secret


def _create_secret_file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(secrets.token_hex(32) + "\n")
        f.flush()
        os.fsync(f.fileno())
    try:
        os.link(tmp, path)  # never replaces a file another process created meanwhile
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
