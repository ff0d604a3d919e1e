"""Enrolment: images or frames → quality-gated embeddings → encrypted templates + mean template.

Each image must show exactly one face that passes the quality gate; the others are rejected with
their reason. Accepted samples, the person's normalised mean template, its search vector and the
gallery revision are written in ONE transaction: when nothing is accepted (or anything fails)
nothing is written. Re-enrolling a person adds samples and recomputes the mean. With
``store_face_images`` (``FACEGATE_STORE_FACE_IMAGES``) the aligned crop of every accepted sample
is stored too, encrypted, in that same transaction (``facegate people reembed`` uses them).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from sqlalchemy.orm import Session

from facegate.core.domain import AnalyzedFace, AuditEvent, FaceQuality, ImageArray
from facegate.core.errors import FaceGateError, FaceQualityError
from facegate.core.people.gallery import Gallery, OnGallery
from facegate.core.store import people as store
from facegate.core.store.models import Person
from facegate.core.vision.images import check_request_budget, decode_labeled

SOURCES = ("upload", "camera", "import")


class EnrollMode(StrEnum):
    CREATE = "create"  # new person; 409 when the external id exists
    ADD = "add"  # existing person; 404 when missing
    UPSERT = "upsert"  # either


@dataclass(frozen=True)
class EnrollImage:
    """One image or frame to enrol, with a label for messages and an optional content hash."""

    image: ImageArray
    label: str = "image"
    sha256: str | None = None


@dataclass(frozen=True)
class SampleOutcome:
    label: str
    accepted: bool
    faces_found: int
    reason: str | None = None
    quality: FaceQuality | None = None
    template_id: int | None = None
    sha256: str | None = None


@dataclass(frozen=True)
class EnrollmentResult:
    person: store.PersonInfo
    created: bool
    model: str
    accepted: tuple[SampleOutcome, ...]
    rejected: tuple[SampleOutcome, ...] = field(default=())


SessionHook = Callable[[Session, Person, "list[SampleOutcome]"], None]


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def quality_dict(q: FaceQuality) -> dict[str, object]:
    return {
        "face_size": q.face_size,
        "sharpness": q.sharpness,
        "brightness": q.brightness,
        "yaw": q.yaw,
        "pitch": q.pitch,
        "problems": list(q.problems),
    }


class EnrollmentService(OnGallery):
    def __init__(
        self, gallery: Gallery, model_version: str = "1", store_face_images: bool = False
    ) -> None:
        self.gallery = gallery
        self.model_version = model_version
        self.store_face_images = store_face_images

    # ---- quality gate ----------------------------------------------------------------------
    def check_image(self, item: EnrollImage) -> tuple[AnalyzedFace | None, SampleOutcome]:
        """Exactly one face, passing the quality gate; otherwise the reason."""
        faces = self.pipeline.detect(item.image)
        if not faces:
            return None, SampleOutcome(item.label, False, 0, "no face found", sha256=item.sha256)
        if len(faces) > 1:
            return None, SampleOutcome(
                item.label, False, len(faces),
                f"{len(faces)} faces found; enrolment needs exactly one", sha256=item.sha256,
            )
        face = self.pipeline.analyze_face(item.image, faces[0], embed=False)
        if not face.quality.ok:
            return None, SampleOutcome(
                item.label, False, 1, "; ".join(face.quality.problems), face.quality,
                sha256=item.sha256,
            )
        face = self.pipeline.analyze_face(item.image, faces[0], embed=True)
        return face, SampleOutcome(item.label, True, 1, None, face.quality, sha256=item.sha256)

    # ---- enrol -----------------------------------------------------------------------------
    def enroll(
        self,
        external_id: str,
        images: Sequence[EnrollImage | ImageArray],
        display_name: str | None = None,
        *,
        mode: EnrollMode = EnrollMode.UPSERT,
        source: str = "upload",
        actor: str | None = None,
        session_hook: SessionHook | None = None,
    ) -> EnrollmentResult:
        """Enrol one person from images/frames (see the module docstring for the guarantees).

        ``session_hook`` runs inside the transaction after the samples are stored (the importer
        records image hashes there, so they commit or vanish with the templates).
        """
        items = [i if isinstance(i, EnrollImage) else EnrollImage(i, f"image {n + 1}")
                 for n, i in enumerate(images)]
        checked = [self.check_image(i) for i in items]
        return self.enroll_faces(
            external_id, checked, display_name, mode=mode, source=source, actor=actor,
            session_hook=session_hook,
        )

    def enroll_bytes(
        self,
        external_id: str,
        files: Sequence[tuple[str, bytes]],
        display_name: str | None = None,
        *,
        mode: EnrollMode = EnrollMode.UPSERT,
        source: str = "upload",
        actor: str | None = None,
    ) -> EnrollmentResult:
        """Decode uploaded files (label, bytes) and enrol them; a bad file fails the request.

        The request's budget (image count, total pixels) is checked from the headers first; then
        each image is decoded, gated and embedded on its own and freed before the next, so memory
        holds one decoded image at a time whatever the number of files."""
        check_request_budget(files, self.limits)
        checked = []
        for label, data in files:
            item = EnrollImage(decode_labeled(data, self.limits, label), label, sha256_of(data))
            checked.append(self.check_image(item))
            del item  # the full-size image goes now; the outcome keeps the 112x112 crop only
        return self.enroll_faces(
            external_id, checked, display_name, mode=mode, source=source, actor=actor
        )

    def enroll_faces(
        self,
        external_id: str,
        checked: Sequence[tuple[AnalyzedFace | None, SampleOutcome]],
        display_name: str | None = None,
        *,
        mode: EnrollMode = EnrollMode.UPSERT,
        source: str = "upload",
        actor: str | None = None,
        session_hook: SessionHook | None = None,
    ) -> EnrollmentResult:
        """Store the accepted faces of ``checked`` (from ``check_image``) in one transaction."""
        if source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}")
        try:
            ext = store.check_external_id(external_id)
        except ValueError as exc:
            raise FaceGateError(str(exc)) from None
        accepted = [(f, o) for f, o in checked if f is not None and o.accepted]
        rejected = tuple(o for f, o in checked if f is None or not o.accepted)
        try:
            result = self._store(ext, display_name, accepted, rejected, mode, source, session_hook)
        except FaceGateError as exc:
            self.audit.record(AuditEvent(
                "enroll", "refused", actor=actor, subject=ext,
                details={"code": exc.code, "message": exc.message,
                         "rejected": [[o.label, o.reason] for o in rejected]},
            ))
            raise
        self.audit.record(AuditEvent(
            "enroll", "ok", actor=actor, subject=ext,
            details={"created": result.created, "accepted": len(result.accepted),
                     "rejected": [[o.label, o.reason] for o in rejected],
                     "samples": result.person.sample_count, "model": self.model,
                     "source": source},
        ))
        return result

    def _store(
        self,
        ext: str,
        display_name: str | None,
        accepted: list[tuple[AnalyzedFace, SampleOutcome]],
        rejected: tuple[SampleOutcome, ...],
        mode: EnrollMode,
        source: str,
        session_hook: SessionHook | None,
    ) -> EnrollmentResult:
        if not accepted and (rejected or mode is not EnrollMode.CREATE):
            reasons = tuple(f"{o.label}: {o.reason}" for o in rejected)
            raise FaceQualityError(
                "no usable face: " + ("; ".join(reasons) if reasons else "no images given"),
                reasons,
            )
        with self.db.session(write=True) as s:
            person = store.find_person(s, ext)
            created = person is None
            if person is None:
                if mode is EnrollMode.ADD:
                    store.get_person(s, ext)  # raises NotFoundError
                person = store.create_person(s, ext, display_name)
            elif mode is EnrollMode.CREATE:
                store.create_person(s, ext, display_name)  # raises ConflictError
            outcomes: list[SampleOutcome] = []
            mean_row = None
            if accepted:
                samples = [
                    store.NewSample(
                        vector=f.embedding.vector,  # type: ignore[union-attr]
                        quality=quality_dict(f.quality),
                        source=source,
                        image_sha256=o.sha256,
                        aligned=f.aligned,
                    )
                    for f, o in accepted
                ]
                rows, mean_row = store.add_samples(
                    s, self.cipher, person, self.model, self.model_version, samples,
                    search_vectors=self.db.is_postgres, store_images=self.store_face_images,
                )
                outcomes = [
                    SampleOutcome(o.label, True, o.faces_found, None, o.quality, r.id, o.sha256)
                    for (_, o), r in zip(accepted, rows, strict=True)
                ]
            if session_hook is not None:
                session_hook(s, person, [*outcomes, *rejected])
            s.flush()
            info = store.person_info(s, person)
            revision = store.current_revision(s, self.model)
            mean = (
                store.mean_vector(s, self.cipher, person.id, self.model) if mean_row else None
            )
        if mean is not None:
            self.search.note_upsert(
                self.model, info.id, info.external_id, info.display_name, mean, revision
            )
        return EnrollmentResult(info, created, self.model, tuple(outcomes), rejected)

    # ---- people ----------------------------------------------------------------------------
    def remove_person(self, external_id: str, actor: str | None = None) -> store.PersonInfo:
        """Right to erasure: the person, every template and search vector, stored face images,
        import records."""
        with self.db.session(write=True) as s:
            info = store.remove_person(s, external_id)
            revision = store.current_revision(s, self.model)
        self.search.note_remove(self.model, info.id, revision)
        self.audit.record(AuditEvent(
            "person.remove", "ok", actor=actor, subject=external_id,
            details={"samples": info.sample_count, "images": info.stored_images},
        ))
        return info

    def list_people(self, limit: int = 1000, offset: int = 0) -> list[store.PersonInfo]:
        with self.db.session() as s:
            return store.list_people(s, limit, offset)

    def show_person(self, external_id: str) -> store.PersonInfo:
        with self.db.session() as s:
            return store.person_info(s, store.get_person(s, external_id), with_templates=True)
