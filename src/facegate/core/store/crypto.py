"""Templates encrypted at rest: AES-256-GCM with a key ring (current key + older keys).

Keys come from ``FACEGATE_TEMPLATE_KEY`` (base64 of 32 bytes; ``FACEGATE_TEMPLATE_KEY_PREVIOUS``
for the one before a rotation) or from key files ``<data_dir>/keys/template-<id>.key`` created
with mode 0600 on first start. Every row stores the id of the key that encrypted it, and the
associated data binds a ciphertext to its row (template id + person id), so ciphertexts cannot be
swapped between rows or people without failing authentication. The same ring encrypts the
optional stored enrolment face crops (``encrypt_bytes``, ``face_image_aad``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from facegate.core.domain import FloatArray
from facegate.core.errors import FaceGateError

KEY_BYTES = 32
NONCE_BYTES = 12
KEY_FILE_PREFIX = "template-"
KEY_FILE_SUFFIX = ".key"


class TemplateKeyError(FaceGateError):
    """A template key is missing, malformed or does not decrypt a row."""

    code = "template_key"


@dataclass(frozen=True)
class KeyRing:
    """The current key (encrypts) and every key still needed to decrypt, by id."""

    current_id: str
    keys: dict[str, bytes]
    source: str  # "env" or "file"

    def key(self, key_id: str) -> bytes:
        try:
            return self.keys[key_id]
        except KeyError:
            raise TemplateKeyError(
                f"template key '{key_id}' is not available (key file deleted or wrong "
                "FACEGATE_TEMPLATE_KEY?)"
            ) from None


def template_aad(template_id: int, person_id: int) -> bytes:
    return f"facegate-template:v1:{template_id}:{person_id}".encode()


def face_image_aad(image_id: int, person_id: int) -> bytes:
    """Associated data of a stored face crop: binds the ciphertext to its row and person."""
    return f"facegate-face_image:v1:{image_id}:{person_id}".encode()


class TemplateCipher:
    """Encrypts embeddings (float32) for one row; decrypts them back, checking the row binding.

    With a ``KeyStore`` it follows rotations made by another process (``facegate keys rotate``):
    before encrypting it lists the key folder to see whether a key was added or removed and reloads the
    ring, and a key id it does not know makes it reload once before giving up.
    """

    def __init__(self, ring: KeyRing, keystore: KeyStore | None = None) -> None:
        self.ring = ring
        self.keystore = keystore
        self._signature = keystore.signature() if keystore else None

    @property
    def current_key_id(self) -> str:
        self._follow_rotation()
        return self.ring.current_id

    def encrypt(self, vector: FloatArray, aad: bytes) -> tuple[str, bytes]:
        """Return (key id, nonce || ciphertext+tag) of the float32 little-endian vector."""
        return self.encrypt_bytes(np.asarray(vector, dtype="<f4").reshape(-1).tobytes(), aad)

    def encrypt_bytes(self, data: bytes, aad: bytes) -> tuple[str, bytes]:
        """Return (key id, nonce || ciphertext+tag) of ``data`` under the current key."""
        self._follow_rotation()
        nonce = secrets.token_bytes(NONCE_BYTES)
        key_id = self.ring.current_id
        blob = nonce + AESGCM(self.ring.key(key_id)).encrypt(nonce, data, aad)
        return key_id, blob

    def _follow_rotation(self) -> None:
        if self.keystore is None:
            return
        sig = self.keystore.signature()
        if sig != self._signature:
            self.ring, self._signature = self.keystore.load(create=False), sig

    def decrypt(self, key_id: str, blob: bytes, aad: bytes) -> FloatArray:
        data = self.decrypt_bytes(key_id, blob, aad, what="template")
        return np.frombuffer(data, dtype="<f4").astype(np.float32)

    def decrypt_bytes(self, key_id: str, blob: bytes, aad: bytes, what: str = "ciphertext") -> bytes:
        """The plaintext of ``encrypt_bytes``; ``TemplateKeyError`` when it does not authenticate."""
        if len(blob) < NONCE_BYTES + 16:
            raise TemplateKeyError(f"{what} ciphertext is truncated")
        if key_id not in self.ring.keys and self.keystore is not None:
            self.ring, self._signature = self.keystore.load(create=False), self.keystore.signature()
        try:
            return AESGCM(self.ring.key(key_id)).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], aad)
        except InvalidTag:
            raise TemplateKeyError(
                f"{what} does not authenticate (wrong key, tampered or swapped row)"
            ) from None


def key_id_of(key: bytes, prefix: str) -> str:
    return f"{prefix}-{hashlib.sha256(key).hexdigest()[:12]}"


def decode_key(value: str, name: str) -> bytes:
    try:
        key = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise TemplateKeyError(f"{name} is not valid base64") from None
    if len(key) != KEY_BYTES:
        raise TemplateKeyError(f"{name} must decode to {KEY_BYTES} bytes, got {len(key)}")
    return key


def generate_key_b64() -> str:
    return base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()


class KeyStore:
    """Where keys live: the environment (given by the entry point) or files in ``keys_dir``."""

    def __init__(
        self, keys_dir: Path, env_key: str | None = None, env_previous: str | None = None
    ) -> None:
        self.keys_dir = keys_dir
        self.env_key = env_key
        self.env_previous = env_previous

    @property
    def from_env(self) -> bool:
        return bool(self.env_key)

    def load(self, create: bool = True) -> KeyRing:
        """The key ring; creates the first key file (0600) when none exists and ``create``."""
        file_keys = self._file_keys()
        if self.env_key:
            key = decode_key(self.env_key, "FACEGATE_TEMPLATE_KEY")
            keys = {kid: k for kid, (k, _) in file_keys.items()}
            current = key_id_of(key, "env")
            keys[current] = key
            if self.env_previous:
                old = decode_key(self.env_previous, "FACEGATE_TEMPLATE_KEY_PREVIOUS")
                keys[key_id_of(old, "env")] = old
            return KeyRing(current, keys, "env")
        if not file_keys:
            if not create:
                raise TemplateKeyError(
                    f"no template key in {self.keys_dir} and FACEGATE_TEMPLATE_KEY is not set"
                )
            self.create_key_file()
            file_keys = self._file_keys()
        current = max(file_keys, key=lambda kid: file_keys[kid][1])
        return KeyRing(current, {kid: k for kid, (k, _) in file_keys.items()}, "file")

    def signature(self) -> tuple[str, ...]:
        """Changes whenever a key file is added or removed (the sorted key ids on disk)."""
        return tuple(sorted(self._file_paths()))

    def create_key_file(self) -> str:
        """Write a new random key file (mode 0600); it becomes the current key. Returns its id."""
        self.keys_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.keys_dir, 0o700)
        key = secrets.token_bytes(KEY_BYTES)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        key_id = f"{stamp}-{hashlib.sha256(key).hexdigest()[:8]}"
        path = self.keys_dir / f"{KEY_FILE_PREFIX}{key_id}{KEY_FILE_SUFFIX}"
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(base64.b64encode(key).decode() + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        return key_id

    def remove_key_files(self, keep: set[str]) -> list[str]:
        """Delete key files whose id is not in ``keep``; return the removed ids."""
        removed = []
        for kid, path in self._file_paths().items():
            if kid not in keep:
                path.unlink()
                removed.append(kid)
        return removed

    def _file_paths(self) -> dict[str, Path]:
        if not self.keys_dir.is_dir():
            return {}
        out = {}
        for p in self.keys_dir.glob(f"{KEY_FILE_PREFIX}*{KEY_FILE_SUFFIX}"):
            out[p.name[len(KEY_FILE_PREFIX) : -len(KEY_FILE_SUFFIX)]] = p
        return out

    def _file_keys(self) -> dict[str, tuple[bytes, str]]:
        """id → (key, sort key); ids start with a UTC timestamp so the newest sorts last."""
        out = {}
        for kid, path in self._file_paths().items():
            mode = path.stat().st_mode & 0o777
            if mode & 0o077:
                raise TemplateKeyError(
                    f"{path} is readable by others (mode {mode:o}); run: chmod 600 {path}"
                )
            out[kid] = (decode_key(path.read_text(), str(path)), kid)
        return out
