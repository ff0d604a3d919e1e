"""Stored enrolment face crops (opt-in: ``FACEGATE_STORE_FACE_IMAGES``): encrypted PNGs.

They let ``facegate people reembed`` rebuild templates for another model without re-enrolment.
Each crop is encrypted with the template key; its row id and person are the associated data.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from facegate.core.domain import ImageArray
from facegate.core.errors import FaceGateError, ImageTooLargeError, InvalidImageError
from facegate.core.store.crypto import TemplateCipher, face_image_aad
from facegate.core.store.models import FaceImage, FaceTemplate, Person
from facegate.core.vision.images import decode_image

FACE_IMAGE_MEDIA_TYPE = "image/png"  # lossless: templates rebuilt from it match the originals


@dataclass(frozen=True)
class StoredFace:
    """One decrypted stored face crop and the model of the sample template made from it."""

    id: int
    person_id: int
    image: ImageArray
    template_model: str | None
    source: str



def encode_crop(crop: ImageArray) -> bytes:
    """PNG bytes of a BGR uint8 crop (lossless)."""
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(crop, dtype=np.uint8))
    if not ok:
        raise FaceGateError("cannot encode the face crop as PNG")
    return bytes(buf.tobytes())


def decode_crop(data: bytes) -> ImageArray:
    try:
        return decode_image(data)
    except (InvalidImageError, ImageTooLargeError) as exc:
        raise FaceGateError(f"a stored face image does not decode ({exc.message})") from exc


def add_face_image(
    s: Session,
    cipher: TemplateCipher,
    person_id: int,
    crop: ImageArray,
    source: str,
    template_id: int | None = None,
) -> FaceImage:
    """Encrypt and store one aligned crop (its row id and person are the associated data)."""
    h, w = crop.shape[:2]
    row = FaceImage(
        person_id=person_id,
        template_id=template_id,
        key_id=cipher.current_key_id,
        ciphertext=b"",
        media_type=FACE_IMAGE_MEDIA_TYPE,
        width=int(w),
        height=int(h),
        source=source,
    )
    s.add(row)
    s.flush()  # the id is part of the associated data
    row.key_id, row.ciphertext = cipher.encrypt_bytes(
        encode_crop(crop), face_image_aad(row.id, person_id)
    )
    return row


def count_face_images(s: Session, person_id: int | None = None) -> int:
    stmt = select(func.count()).select_from(FaceImage)
    if person_id is not None:
        stmt = stmt.where(FaceImage.person_id == person_id)
    return int(s.scalar(stmt) or 0)


def people_with_face_images(s: Session) -> list[tuple[int, str]]:
    """(person id, external id) of everyone with at least one stored face image, by external id."""
    rows = s.execute(
        select(Person.id, Person.external_id)
        .where(select(FaceImage.id).where(FaceImage.person_id == Person.id).exists())
        .order_by(Person.external_id)
    ).all()
    return [(int(pid), str(ext)) for pid, ext in rows]


def stored_faces(s: Session, cipher: TemplateCipher, person_id: int) -> list[StoredFace]:
    """The person's stored crops, decrypted and decoded, oldest first."""
    rows = s.execute(
        select(FaceImage, FaceTemplate.model)
        .outerjoin(FaceTemplate, FaceTemplate.id == FaceImage.template_id)
        .where(FaceImage.person_id == person_id)
        .order_by(FaceImage.id)
    ).all()
    out = []
    for img, model in rows:
        data = cipher.decrypt_bytes(
            img.key_id, img.ciphertext, face_image_aad(img.id, img.person_id), what="face image"
        )
        out.append(StoredFace(img.id, img.person_id, decode_crop(data), model, img.source))
    return out


