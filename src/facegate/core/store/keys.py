"""``facegate keys rotate``: re-encrypt every template (and stored face image) under a new key,
then drop old key files.

With key files: a new key file is written first (it becomes current), templates are re-encrypted
in batches (one transaction each), and old key files are deleted only when no row uses them; a
crash in between leaves both keys, every row readable, and a rerun finishes the job.
With ``FACEGATE_TEMPLATE_KEY``: set the new key there and the old one in
``FACEGATE_TEMPLATE_KEY_PREVIOUS`` (or keep its key file), then run rotate to re-encrypt.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from facegate.core.store.crypto import KeyStore, TemplateCipher, face_image_aad, template_aad
from facegate.core.store.db import Database
from facegate.core.store.models import FaceImage, FaceTemplate


@dataclass(frozen=True)
class RotationResult:
    new_key_id: str
    reencrypted: int
    removed_key_files: tuple[str, ...]
    reencrypted_images: int = 0


def rotate_template_keys(
    db: Database, keystore: KeyStore, batch: int = 500, new_key: bool = True
) -> RotationResult:
    if new_key and not keystore.from_env:
        keystore.create_key_file()
    cipher = TemplateCipher(keystore.load(), keystore)
    total = _reencrypt_all(db, cipher, batch, reencrypt_batch)
    images = _reencrypt_all(db, cipher, batch, reencrypt_image_batch)
    removed: list[str] = []
    if not keystore.from_env:
        with db.session() as s:
            in_use = key_ids_in_use(s)
        removed = keystore.remove_key_files(in_use | {cipher.current_key_id})
    return RotationResult(cipher.current_key_id, total, tuple(removed), images)


def _reencrypt_all(
    db: Database, cipher: TemplateCipher, batch: int,
    step: Callable[[Session, TemplateCipher, int], int],
) -> int:
    """Run ``step`` (one batch, one transaction each) until a batch comes back short; the total."""
    total = 0
    while True:
        with db.session(write=True) as s:
            n = step(s, cipher, batch)
        total += n
        if n < batch:
            return total


def reencrypt_batch(s: Session, cipher: TemplateCipher, batch: int = 500) -> int:
    """Re-encrypt up to ``batch`` templates not under the current key; return how many."""
    return _reencrypt_rows(s, cipher, FaceTemplate, template_aad, "template", batch)


def reencrypt_image_batch(s: Session, cipher: TemplateCipher, batch: int = 500) -> int:
    """Re-encrypt up to ``batch`` stored face images not under the current key; return how many."""
    return _reencrypt_rows(s, cipher, FaceImage, face_image_aad, "face image", batch)


def _reencrypt_rows(
    s: Session, cipher: TemplateCipher, table: type[FaceTemplate] | type[FaceImage],
    aad_of: Callable[[int, int], bytes], what: str, batch: int,
) -> int:
    """The one re-encryption loop: rows of ``table`` (``key_id``, ``ciphertext``, ``id``,
    ``person_id``) not under the current key, decrypted and encrypted again, same plaintext."""
    rows: Any = s.scalars(
        select(table).where(table.key_id != cipher.current_key_id).order_by(table.id).limit(batch)
    ).all()
    for row in rows:
        aad = aad_of(row.id, row.person_id)
        data = cipher.decrypt_bytes(row.key_id, row.ciphertext, aad, what=what)
        row.key_id, row.ciphertext = cipher.encrypt_bytes(data, aad)
    return len(rows)


def key_ids_in_use(s: Session) -> set[str]:
    """Every key id a template or a stored face image is encrypted with."""
    keys = set(s.scalars(select(FaceTemplate.key_id).distinct()).all())
    keys |= set(s.scalars(select(FaceImage.key_id).distinct()).all())
    return keys
