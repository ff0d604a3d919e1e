"""``facegate people reembed --model PACK``: rebuild templates for another model pack from the
stored enrolment face crops (``FACEGATE_STORE_FACE_IMAGES``), without asking anyone to re-enrol.

The stored crops are the aligned squares the enrolment embedder saw, so each one is embedded
directly by PACK's embedder (resized when its ``input_size`` differs). Per person, in one
transaction: the new samples (source ``reembed``), the recomputed mean template of that model, its
search vector and the gallery revision. Idempotent: people who already have templates of the
model are skipped unless ``force``; with ``force`` the person's earlier ``reembed`` samples of
that model are replaced (enrolment samples are kept). A crop whose own sample template is already
of that model is never embedded again (it would count twice).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import cv2
import numpy as np

from facegate.core.domain import AuditEvent, ImageArray
from facegate.core.errors import FaceGateError
from facegate.core.store import people as store
from facegate.core.store.audit import AuditLog
from facegate.core.store.crypto import TemplateCipher
from facegate.core.store.db import Database
from facegate.core.store.models import Person
from facegate.core.vision.embedder import FaceEmbedder

REEMBED_SOURCE = "reembed"

PersonRef = tuple[int, str]  # (person id, external id)
Progress = Callable[[Iterator[PersonRef], int], Iterator[PersonRef]]


class NoFaceImagesError(FaceGateError):
    """Nothing to rebuild from: no enrolment face images are stored."""

    code = "no_face_images"


@dataclass
class ReembedSummary:
    pack: str
    model: str
    people_seen: int = 0
    people_rebuilt: int = 0
    samples_added: int = 0
    skipped: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "pack": self.pack,
            "model": self.model,
            "people_seen": self.people_seen,
            "people_rebuilt": self.people_rebuilt,
            "samples_added": self.samples_added,
            "skipped": list(self.skipped),
            "failed": [{"id": ext, "reason": reason} for ext, reason in self.failed],
        }


def ensure_face_images(db: Database) -> int:
    """How many face images are stored; ``NoFaceImagesError`` when none."""
    with db.session() as s:
        n = store.count_face_images(s)
    if n == 0:
        raise NoFaceImagesError(
            "no stored face images to rebuild templates from (enrol with "
            "FACEGATE_STORE_FACE_IMAGES=1 to keep them)"
        )
    return n


def fit_crop(crop: ImageArray, size: int) -> ImageArray:
    """The crop at the embedder's ``input_size`` (alignment scales with the crop, so a resize is
    the crop an embedder of that size would have been given)."""
    if crop.shape[:2] == (size, size):
        return crop
    interp = cv2.INTER_AREA if crop.shape[0] > size else cv2.INTER_CUBIC
    return cv2.resize(crop, (size, size), interpolation=interp)


def reembed_people(
    db: Database,
    cipher: TemplateCipher,
    embedder: FaceEmbedder,
    pack: str,
    *,
    force: bool = False,
    model_version: str = "1",
    progress: Progress | None = None,
    audit: AuditLog | None = None,
    actor: str | None = None,
) -> ReembedSummary:
    """Build ``embedder``'s templates from every person's stored crops (see the module docstring)."""
    ensure_face_images(db)
    model = embedder.name
    with db.session() as s:
        people = store.people_with_face_images(s)
    summary = ReembedSummary(pack=pack, model=model, people_seen=len(people))
    it: Iterator[PersonRef] = iter(people)
    if progress is not None:
        it = progress(it, len(people))
    for person_id, external_id in it:
        try:
            added = _reembed_person(db, cipher, embedder, person_id, force, model_version)
        except FaceGateError as exc:
            summary.failed.append((external_id, exc.message))
            continue
        if added is None:
            summary.skipped.append(external_id)
        else:
            summary.people_rebuilt += 1
            summary.samples_added += added
    if audit is not None:
        audit.record(AuditEvent(
            "people.reembed", "ok" if not summary.failed else "error", actor=actor,
            details={"pack": pack, "model": model, "force": force, "rebuilt": summary.people_rebuilt,
                     "samples": summary.samples_added, "skipped": len(summary.skipped),
                     "failed": len(summary.failed)},
        ))
    return summary


def _reembed_person(
    db: Database,
    cipher: TemplateCipher,
    embedder: FaceEmbedder,
    person_id: int,
    force: bool,
    model_version: str,
) -> int | None:
    """Samples added for one person, or None when skipped. Embeds outside the write transaction."""
    model = embedder.name
    with db.session() as s:
        if not force and store.has_templates(s, person_id, model):
            return None
        faces = [f for f in store.stored_faces(s, cipher, person_id) if f.template_model != model]
    if not faces:
        return None
    vectors = [
        np.asarray(embedder.embed(fit_crop(f.image, embedder.input_size)), dtype=np.float32)
        for f in faces
    ]
    with db.session(write=True) as s:
        person = s.get(Person, person_id)
        if person is None:  # removed meanwhile
            return None
        if force:
            store.delete_samples(s, person_id, model, REEMBED_SOURCE)
        elif store.has_templates(s, person_id, model):  # enrolled under this model meanwhile
            return None
        samples = [
            store.NewSample(vector=v, quality=None, source=REEMBED_SOURCE) for v in vectors
        ]
        store.add_samples(
            s, cipher, person, model, model_version, samples, search_vectors=db.is_postgres
        )
    return len(samples)
