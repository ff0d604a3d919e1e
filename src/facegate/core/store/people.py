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

import numpy as np
from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from facegate.core.domain import FloatArray, ImageArray
from facegate.core.errors import (
    ConflictError,
    NotFoundError,
)
from facegate.core.matching.similarity import unit_rows, unit_vector
from facegate.core.store.crypto import TemplateCipher, template_aad
from facegate.core.store.face_images import (
    FACE_IMAGE_MEDIA_TYPE,
    StoredFace,
    add_face_image,
    count_face_images,
    decode_crop,
    encode_crop,
    people_with_face_images,
    stored_faces,
)
from facegate.core.store.keys import key_ids_in_use, reencrypt_batch, reencrypt_image_batch
from facegate.core.store.models import (
    FaceImage,
    FaceTemplate,
    GalleryState,
    ImportedImage,
    Person,
    TemplateSearchVector,
)

MAX_ID_LEN = 200


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
    mean = unit_rows(np.asarray(vectors, dtype=np.float64), np.float64).mean(axis=0)
    if not np.any(mean):
        raise ValueError("samples cancel out: their mean is the zero vector")
    return unit_vector(mean.astype(np.float64))


def _decrypt_rows(cipher: TemplateCipher, rows: Sequence[FaceTemplate]) -> FloatArray:
    if not rows:
        return np.zeros((0, 0), dtype=np.float32)
    return np.stack(
        [cipher.decrypt(t.key_id, t.ciphertext, template_aad(t.id, t.person_id)) for t in rows]
    ).astype(np.float32)


def count_templates(s: Session, model: str | None = None, means: bool | None = None) -> int:
    stmt = select(func.count()).select_from(FaceTemplate)
    if model is not None:
        stmt = stmt.where(FaceTemplate.model == model)
    if means is not None:
        stmt = stmt.where(FaceTemplate.is_mean.is_(means))
    return int(s.scalar(stmt) or 0)


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


def refresh_mean(
    s: Session,
    cipher: TemplateCipher,
    person: Person,
    model: str,
    model_version: str,
    search_vectors: bool,
) -> FaceTemplate | None:
    """Recompute the person's mean template after samples were deleted; bump the revision.

    With no sample of ``model`` left the mean (and its search vector) goes: the person stays,
    without a template of that model, and is no longer found by 1:N search.
    """
    if sample_vectors(s, cipher, person.id, model).shape[0] == 0:
        row = _mean_row(s, person.id, model)
        if row is not None:
            if search_vectors:
                s.execute(
                    delete(TemplateSearchVector).where(TemplateSearchVector.template_id == row.id)
                )
            s.delete(row)
        bump_revision(s, model)
        s.flush()
        return None
    mean_row = _update_mean(s, cipher, person, model, model_version, search_vectors)
    bump_revision(s, model)
    s.flush()
    return mean_row


# stored face images and key rotation have their own modules; their names stay reachable here
__all__ = [
    "FACE_IMAGE_MEDIA_TYPE",
    "StoredFace",
    "add_face_image",
    "count_face_images",
    "decode_crop",
    "encode_crop",
    "key_ids_in_use",
    "people_with_face_images",
    "reencrypt_batch",
    "reencrypt_image_batch",
    "stored_faces",
]
