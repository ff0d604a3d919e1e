"""People and their encrypted templates: the queries every service uses.

Functions take an open ``Session`` so services decide the transaction boundaries (an enrolment is
one transaction: person, samples, mean template, search vector and gallery revision together, and
the encrypted aligned face crops when ``FACEGATE_STORE_FACE_IMAGES`` is on).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import cv2
import numpy as np
from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from facegate.core.domain import FloatArray, ImageArray
from facegate.core.errors import ConflictError, FaceGateError, NotFoundError
from facegate.core.store.crypto import TemplateCipher, face_image_aad, template_aad
from facegate.core.store.models import (
    FaceImage,
    FaceTemplate,
    GalleryState,
    ImportedImage,
    Person,
    TemplateSearchVector,
)

MAX_ID_LEN = 200
FACE_IMAGE_MEDIA_TYPE = "image/png"  # lossless: templates rebuilt from it match the originals


@dataclass(frozen=True)
class NewSample:
    """One accepted embedding to store."""

    vector: FloatArray
    quality: dict[str, Any] | None
    source: str  # upload | camera | import | reembed
    image_sha256: str | None = None
    aligned: ImageArray | None = None
    """The aligned crop the embedding was made from; stored (encrypted) when ``add_samples`` is
    asked to keep face images."""


@dataclass(frozen=True)
class TemplateInfo:
    id: int
    model: str
    model_version: str
    is_mean: bool
    sample_count: int
    source: str
    quality: dict[str, Any] | None
    created_at: datetime


@dataclass(frozen=True)
class PersonInfo:
    id: int
    external_id: str
    display_name: str
    created_at: datetime
    updated_at: datetime
    sample_count: int
    templates: tuple[TemplateInfo, ...] = field(default=())
    stored_images: int = 0
    """Encrypted enrolment face crops kept for this person (``FACEGATE_STORE_FACE_IMAGES``)."""
    groups: tuple[str, ...] = field(default=())
    """The groups (galleries) the person belongs to, sorted."""


@dataclass(frozen=True)
class StoredFace:
    """One decrypted stored face crop and the model of the sample template made from it."""

    id: int
    person_id: int
    image: ImageArray
    template_model: str | None
    source: str


@dataclass(frozen=True)
class GalleryRows:
    """Mean templates of one model, decrypted: row i is person ``person_ids[i]``."""

    person_ids: np.ndarray
    external_ids: list[str]
    display_names: list[str]
    vectors: FloatArray
    revision: int


def check_external_id(external_id: str) -> str:
    value = external_id.strip()
    if not value:
        raise ValueError("external id must not be empty")
    if len(value) > MAX_ID_LEN:
        raise ValueError(f"external id is longer than {MAX_ID_LEN} characters")
    return value


def find_person(s: Session, external_id: str) -> Person | None:
    return s.scalars(select(Person).where(Person.external_id == external_id)).first()


def get_person(s: Session, external_id: str) -> Person:
    person = find_person(s, external_id)
    if person is None:
        raise NotFoundError(f"no person with id '{external_id}'")
    return person


def create_person(s: Session, external_id: str, display_name: str | None = None) -> Person:
    """Insert a person; ``ConflictError`` when the external id is taken."""
    if find_person(s, external_id) is not None:
        raise ConflictError(f"a person with id '{external_id}' already exists")
    person = Person(external_id=external_id, display_name=(display_name or external_id).strip())
    s.add(person)
    try:
        with s.begin_nested():
            s.flush()
    except IntegrityError:
        raise ConflictError(f"a person with id '{external_id}' already exists") from None
    return person


def person_info(s: Session, person: Person, with_templates: bool = False) -> PersonInfo:
    count = s.scalar(
        select(func.count())
        .select_from(FaceTemplate)
        .where(FaceTemplate.person_id == person.id, FaceTemplate.is_mean.is_(False))
    )
    templates: tuple[TemplateInfo, ...] = ()
    if with_templates:
        rows = s.scalars(
            select(FaceTemplate).where(FaceTemplate.person_id == person.id).order_by(FaceTemplate.id)
        ).all()
        templates = tuple(
            TemplateInfo(
                id=t.id,
                model=t.model,
                model_version=t.model_version,
                is_mean=t.is_mean,
                sample_count=t.sample_count,
                source=t.source,
                quality=t.quality,
                created_at=t.created_at,
            )
            for t in rows
        )
    return PersonInfo(
        id=person.id,
        external_id=person.external_id,
        display_name=person.display_name,
        created_at=person.created_at,
        updated_at=person.updated_at,
        sample_count=int(count or 0),
        templates=templates,
        stored_images=count_face_images(s, person.id),
        groups=tuple(sorted(_group_names(s, [person.id]).get(person.id, ()))),
    )


def list_people(s: Session, limit: int = 1000, offset: int = 0) -> list[PersonInfo]:
    counts = (
        select(FaceTemplate.person_id, func.count().label("n"))
        .where(FaceTemplate.is_mean.is_(False))
        .group_by(FaceTemplate.person_id)
        .subquery()
    )
    stmt = select(Person, func.coalesce(counts.c.n, 0)).outerjoin(
        counts, counts.c.person_id == Person.id
    )
    images = (
        select(FaceImage.person_id, func.count().label("n"))
        .group_by(FaceImage.person_id)
        .subquery()
    )
    stmt = stmt.add_columns(func.coalesce(images.c.n, 0)).outerjoin(
        images, images.c.person_id == Person.id
    )
    rows = s.execute(stmt.order_by(Person.external_id).limit(limit).offset(offset)).all()
    names = _group_names(s, [p.id for p, _, _ in rows])
    return [
        PersonInfo(
            id=p.id,
            external_id=p.external_id,
            display_name=p.display_name,
            created_at=p.created_at,
            updated_at=p.updated_at,
            sample_count=int(n),
            stored_images=int(m),
            groups=tuple(sorted(names.get(p.id, ()))),
        )
        for p, n, m in rows
    ]


def _group_names(s: Session, person_ids: list[int]) -> dict[int, frozenset[str]]:
    from facegate.core.store.groups import groups_of_people  # groups imports this module

    return groups_of_people(s, person_ids)


def count_people(s: Session) -> int:
    return int(s.scalar(select(func.count()).select_from(Person)) or 0)


def add_samples(
    s: Session,
    cipher: TemplateCipher,
    person: Person,
    model: str,
    model_version: str,
    samples: Sequence[NewSample],
    search_vectors: bool,
    store_images: bool = False,
) -> tuple[list[FaceTemplate], FaceTemplate]:
    """Store encrypted samples, recompute the person's normalised mean template, bump revision.

    ``search_vectors``: also keep the mean's plaintext pgvector row (PostgreSQL only).
    ``store_images``: also keep each sample's aligned crop (``NewSample.aligned``; samples without
    one store none) as an encrypted ``FaceImage`` linked to its template, in the same transaction.
    """
    if not samples:
        raise ValueError("no samples to add")
    stored = []
    for sample in samples:
        vec = np.asarray(sample.vector, dtype=np.float32).reshape(-1)
        row = FaceTemplate(
            person_id=person.id,
            model=model,
            model_version=model_version,
            dim=int(vec.shape[0]),
            is_mean=False,
            sample_count=1,
            key_id=cipher.current_key_id,
            ciphertext=b"",
            quality=sample.quality,
            source=sample.source,
            image_sha256=sample.image_sha256,
        )
        s.add(row)
        s.flush()  # the id is part of the associated data
        row.key_id, row.ciphertext = cipher.encrypt(vec, template_aad(row.id, person.id))
        stored.append(row)
        if store_images and sample.aligned is not None:
            add_face_image(s, cipher, person.id, sample.aligned, sample.source, template_id=row.id)
    mean_row = _update_mean(s, cipher, person, model, model_version, search_vectors)
    person.updated_at = mean_row.created_at
    bump_revision(s, model)
    s.flush()
    return stored, mean_row


def sample_vectors(s: Session, cipher: TemplateCipher, person_id: int, model: str) -> FloatArray:
    rows = s.scalars(
        select(FaceTemplate)
        .where(
            FaceTemplate.person_id == person_id,
            FaceTemplate.model == model,
            FaceTemplate.is_mean.is_(False),
        )
        .order_by(FaceTemplate.id)
    ).all()
    return _decrypt_rows(cipher, rows)


def mean_vector(s: Session, cipher: TemplateCipher, person_id: int, model: str) -> FloatArray | None:
    row = _mean_row(s, person_id, model)
    if row is None:
        return None
    return cipher.decrypt(row.key_id, row.ciphertext, template_aad(row.id, row.person_id))


def remove_person(s: Session, external_id: str) -> PersonInfo:
    """Erase a person: templates, search vectors, stored face images, import records; bump revisions.

    Face images and import records are deleted explicitly (not only by ON DELETE CASCADE), so the
    erasure does not depend on the backend enforcing foreign keys.
    """
    person = get_person(s, external_id)
    info = person_info(s, person)
    models = s.scalars(
        select(FaceTemplate.model).where(FaceTemplate.person_id == person.id).distinct()
    ).all()
    s.execute(delete(FaceImage).where(FaceImage.person_id == person.id))
    s.execute(delete(ImportedImage).where(ImportedImage.external_id == external_id))
    s.execute(delete(Person).where(Person.id == person.id))
    s.expunge(person)
    for model in models:
        bump_revision(s, model)
    return info


def load_gallery(s: Session, cipher: TemplateCipher, model: str) -> GalleryRows:
    """Every mean template of ``model`` (decrypted) with the revision they correspond to."""
    revision = current_revision(s, model)
    rows = s.execute(
        select(FaceTemplate, Person.external_id, Person.display_name)
        .join(Person, Person.id == FaceTemplate.person_id)
        .where(FaceTemplate.model == model, FaceTemplate.is_mean.is_(True))
        .order_by(FaceTemplate.person_id)
    ).all()
    templates = [r[0] for r in rows]
    vectors = _decrypt_rows(cipher, templates)
    return GalleryRows(
        person_ids=np.asarray([t.person_id for t in templates], dtype=np.int64),
        external_ids=[r[1] for r in rows],
        display_names=[r[2] for r in rows],
        vectors=vectors,
        revision=revision,
    )


def current_revision(s: Session, model: str) -> int:
    value = s.scalar(select(GalleryState.revision).where(GalleryState.model == model))
    return int(value or 0)


def bump_revision(s: Session, model: str) -> None:
    """Increment the model's gallery revision (inserting the row the first time)."""
    dialect = s.get_bind().dialect.name
    ins: Any
    if dialect == "postgresql":
        ins = postgresql.insert(GalleryState)
    elif dialect == "sqlite":
        ins = sqlite.insert(GalleryState)
    else:  # pragma: no cover - other backends: plain update, then insert when missing
        if s.execute(
            update(GalleryState)
            .where(GalleryState.model == model)
            .values(revision=GalleryState.revision + 1)
        ).rowcount:  # type: ignore[attr-defined]
            return
        s.add(GalleryState(model=model, revision=1))
        return
    s.execute(
        ins.values(model=model, revision=1).on_conflict_do_update(
            index_elements=[GalleryState.model], set_={"revision": GalleryState.revision + 1}
        )
    )


def _mean_row(s: Session, person_id: int, model: str) -> FaceTemplate | None:
    return s.scalars(
        select(FaceTemplate).where(
            FaceTemplate.person_id == person_id,
            FaceTemplate.model == model,
            FaceTemplate.is_mean.is_(True),
        )
    ).first()


def _update_mean(
    s: Session,
    cipher: TemplateCipher,
    person: Person,
    model: str,
    model_version: str,
    search_vectors: bool,
) -> FaceTemplate:
    vectors = sample_vectors(s, cipher, person.id, model)
    mean = normalized_mean(vectors)
    row = _mean_row(s, person.id, model)
    if row is None:
        row = FaceTemplate(
            person_id=person.id,
            model=model,
            is_mean=True,
            source="mean",
            ciphertext=b"",
            key_id=cipher.current_key_id,
        )
        s.add(row)
    row.model_version = model_version
    row.dim = int(mean.shape[0])
    row.sample_count = int(vectors.shape[0])
    row.quality = None
    s.flush()
    row.key_id, row.ciphertext = cipher.encrypt(mean, template_aad(row.id, person.id))
    if search_vectors:
        sv = s.get(TemplateSearchVector, row.id)
        if sv is None:
            sv = TemplateSearchVector(template_id=row.id, person_id=person.id, model=model)
            s.add(sv)
        sv.dim = int(mean.shape[0])
        sv.embedding = mean
    return row


def normalized_mean(vectors: FloatArray) -> FloatArray:
    """Mean of unit vectors, scaled back to unit length (the person's template)."""
    m = np.asarray(vectors, dtype=np.float64)
    m = m / np.maximum(np.linalg.norm(m, axis=1, keepdims=True), 1e-12)
    mean = m.mean(axis=0)
    norm = float(np.linalg.norm(mean))
    if norm == 0.0:
        raise ValueError("samples cancel out: their mean is the zero vector")
    return (mean / norm).astype(np.float32)


def _decrypt_rows(cipher: TemplateCipher, rows: Sequence[FaceTemplate]) -> FloatArray:
    if not rows:
        return np.zeros((0, 0), dtype=np.float32)
    return np.stack(
        [cipher.decrypt(t.key_id, t.ciphertext, template_aad(t.id, t.person_id)) for t in rows]
    ).astype(np.float32)


def reencrypt_batch(s: Session, cipher: TemplateCipher, batch: int = 500) -> int:
    """Re-encrypt up to ``batch`` templates not under the current key; return how many."""
    rows = s.scalars(
        select(FaceTemplate)
        .where(FaceTemplate.key_id != cipher.current_key_id)
        .order_by(FaceTemplate.id)
        .limit(batch)
    ).all()
    for t in rows:
        aad = template_aad(t.id, t.person_id)
        vec = cipher.decrypt(t.key_id, t.ciphertext, aad)
        t.key_id, t.ciphertext = cipher.encrypt(vec, aad)
    return len(rows)


def reencrypt_image_batch(s: Session, cipher: TemplateCipher, batch: int = 500) -> int:
    """Re-encrypt up to ``batch`` stored face images not under the current key; return how many."""
    rows = s.scalars(
        select(FaceImage)
        .where(FaceImage.key_id != cipher.current_key_id)
        .order_by(FaceImage.id)
        .limit(batch)
    ).all()
    for img in rows:
        aad = face_image_aad(img.id, img.person_id)
        data = cipher.decrypt_bytes(img.key_id, img.ciphertext, aad, what="face image")
        img.key_id, img.ciphertext = cipher.encrypt_bytes(data, aad)
    return len(rows)


def key_ids_in_use(s: Session) -> set[str]:
    """Every key id a template or a stored face image is encrypted with."""
    keys = set(s.scalars(select(FaceTemplate.key_id).distinct()).all())
    keys |= set(s.scalars(select(FaceImage.key_id).distinct()).all())
    return keys


def count_templates(s: Session, model: str | None = None, means: bool | None = None) -> int:
    stmt = select(func.count()).select_from(FaceTemplate)
    if model is not None:
        stmt = stmt.where(FaceTemplate.model == model)
    if means is not None:
        stmt = stmt.where(FaceTemplate.is_mean.is_(means))
    return int(s.scalar(stmt) or 0)


# ---- stored face images (opt-in: FACEGATE_STORE_FACE_IMAGES) ---------------------------------
def encode_crop(crop: ImageArray) -> bytes:
    """PNG bytes of a BGR uint8 crop (lossless)."""
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(crop, dtype=np.uint8))
    if not ok:
        raise FaceGateError("cannot encode the face crop as PNG")
    return bytes(buf.tobytes())


def decode_crop(data: bytes) -> ImageArray:
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise FaceGateError("a stored face image does not decode")
    return image


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


def has_templates(s: Session, person_id: int, model: str) -> bool:
    return (
        s.scalar(
            select(FaceTemplate.id)
            .where(FaceTemplate.person_id == person_id, FaceTemplate.model == model)
            .limit(1)
        )
        is not None
    )


def delete_samples(s: Session, person_id: int, model: str, source: str) -> int:
    """Delete the person's sample templates of ``model`` made from ``source``; return how many.

    The caller recomputes the mean (``add_samples``) in the same transaction.
    """
    result = s.execute(
        delete(FaceTemplate).where(
            FaceTemplate.person_id == person_id,
            FaceTemplate.model == model,
            FaceTemplate.is_mean.is_(False),
            FaceTemplate.source == source,
        )
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
