"""Enrolment: images or frames → quality-gated embeddings → encrypted templates + mean template.

Each image must show exactly one face that passes the quality gate; the others are rejected with
their reason. Accepted samples, the person's normalised mean template, its search vector and the
gallery revision are written in ONE transaction: when nothing is accepted (or anything fails)
nothing is written. Re-enrolling a person adds samples and recomputes the mean. With
``store_face_images`` (``FACEGATE_STORE_FACE_IMAGES``) the aligned crop of every accepted sample
is stored too, encrypted, in that same transaction (``facegate people reembed`` uses them).

Groups: a new person joins the groups the enrolment names (``default`` when none); adding faces
keeps the person's groups (and joins any named). One face, one identity: before anything is
written, every accepted face is searched among the people of those groups, and a match at or
above the 1:N threshold to a *different* person refuses the enrolment (``duplicate_face``, 409;
the message names the other person only to administrators). Only an administrator may override
(``allow_duplicate``), and the override is audited. The check runs inside the write transaction
(PostgreSQL: under an advisory lock; SQLite: under the write lock), so two concurrent enrolments
of one face cannot both pass. A person is never created without at least one usable face (422).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
from sqlalchemy import text
from sqlalchemy.orm import Session

from facegate.core.auth.principal import SCOPE_ADMIN, Principal
from facegate.core.domain import AnalyzedFace, AuditEvent, FaceQuality, ImageArray
from facegate.core.errors import (
    DuplicateFaceError,
    FaceGateError,
    FaceQualityError,
    NotFoundError,
    PermissionDeniedError,
)
from facegate.core.people.gallery import Gallery, OnGallery, allowed_groups
from facegate.core.store import groups as group_store
from facegate.core.store import people as store
from facegate.core.store.models import Group, Person
from facegate.core.vision.images import check_request_budget, decode_labeled

SOURCES = ("upload", "camera", "import")
ENROLL_LOCK_ID = 7_215_015  # pg_advisory_xact_lock: enrolments (and their duplicate checks) queue
DUPLICATE_MESSAGE = "this face is already enrolled as another person"


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
    groups: tuple[str, ...] = field(default=())
    duplicate_of: str | None = None  # set when an administrator overrode the duplicate check


@dataclass(frozen=True)
class EnrollOptions:
    """Who enrols, into which groups, and whether a duplicate face is knowingly accepted."""

    groups: frozenset[str] | None = None  # None: the person's groups, or ``default`` if new
    principal: Principal | None = None  # None: an unauthenticated (non-admin) caller
    allow_duplicate: bool = False  # administrators only
    create_groups: bool = False  # make missing groups (the system's own: web, customers)
    allow_empty: bool = False  # CREATE with no images at all (a CompreFace subject); else 422
    check_duplicate: bool = True  # False: CompreFace subjects, labels that may share a face


def is_admin(principal: Principal | None) -> bool:
    return principal is not None and principal.has_scope(SCOPE_ADMIN)


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
        self,
        gallery: Gallery,
        model_version: str = "1",
        store_face_images: bool = False,
        duplicate_threshold: float | None = None,
    ) -> None:
        self.gallery = gallery
        self.model_version = model_version
        self.store_face_images = store_face_images
        self.duplicate_threshold = duplicate_threshold
        """1:N threshold of the one-face-one-identity check (None: no check)."""

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
        options: EnrollOptions | None = None,
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
            session_hook=session_hook, options=options,
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
        options: EnrollOptions | None = None,
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
            external_id, checked, display_name, mode=mode, source=source, actor=actor,
            options=options,
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
        options: EnrollOptions | None = None,
    ) -> EnrollmentResult:
        """Store the accepted faces of ``checked`` (from ``check_image``) in one transaction."""
        opts = options or EnrollOptions()
        if opts.principal is not None:
            actor = opts.principal.name
        if source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}")
        try:
            ext = store.check_external_id(external_id)
        except ValueError as exc:
            raise FaceGateError(str(exc)) from None
        accepted = [(f, o) for f, o in checked if f is not None and o.accepted]
        rejected = tuple(o for f, o in checked if f is None or not o.accepted)
        try:
            if opts.allow_duplicate and not is_admin(opts.principal):
                raise PermissionDeniedError("only an administrator may enrol a duplicate face")
            result = self._store(ext, display_name, accepted, rejected, mode, source, session_hook,
                                 opts)
        except FaceGateError as exc:
            details: dict[str, object] = {
                "code": exc.code, "message": exc.message,
                "rejected": [[o.label, o.reason] for o in rejected],
            }
            if isinstance(exc, DuplicateFaceError):
                details.update(duplicate_of=exc.person, similarity=exc.similarity)
            self.audit.record(AuditEvent("enroll", "refused", actor=actor, subject=ext,
                                         details=details))
            raise
        details = {"created": result.created, "accepted": len(result.accepted),
                   "rejected": [[o.label, o.reason] for o in rejected],
                   "samples": result.person.sample_count, "model": self.model,
                   "source": source, "groups": list(result.groups)}
        if result.duplicate_of is not None:
            details["duplicate_override"] = result.duplicate_of
        self.audit.record(AuditEvent("enroll", "ok", actor=actor, subject=ext, details=details))
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
        opts: EnrollOptions,
    ) -> EnrollmentResult:
        if not accepted and not (opts.allow_empty and mode is EnrollMode.CREATE and not rejected):
            reasons = tuple(f"{o.label}: {o.reason}" for o in rejected)
            raise FaceQualityError(
                "no usable face: " + ("; ".join(reasons) if reasons else "no images given"),
                reasons,
            )
        with self.db.session(write=True) as s:
            if self.db.is_postgres:
                s.execute(text(f"SELECT pg_advisory_xact_lock({ENROLL_LOCK_ID})"))
            person = store.find_person(s, ext)
            created = person is None
            if person is None:
                if mode is EnrollMode.ADD:
                    store.get_person(s, ext)  # raises NotFoundError
                person = store.create_person(s, ext, display_name)
            elif mode is EnrollMode.CREATE:
                store.create_person(s, ext, display_name)  # raises ConflictError
            targets = self._target_groups(s, person.id, ext, created, opts)
            duplicate = self._check_duplicate(person.id, accepted, targets, opts)
            group_store.add_to_groups(s, person.id, targets, bump=False)
            outcomes = self._add_samples(s, person, accepted, source) if accepted else []
            if session_hook is not None:
                session_hook(s, person, [*outcomes, *rejected])
            s.flush()
            info = store.person_info(s, person)
            revision = store.current_revision(s, self.model)
            mean = store.mean_vector(s, self.cipher, person.id, self.model)
            member_of = group_store.groups_of_person(s, person.id)
        if mean is not None:
            self.search.note_upsert(
                self.model, info.id, info.external_id, info.display_name, mean, revision,
                member_of,
            )
        return EnrollmentResult(info, created, self.model, tuple(outcomes), rejected,
                                tuple(sorted(member_of)), duplicate)

    def _add_samples(
        self, s: Session, person: Person, accepted: list[tuple[AnalyzedFace, SampleOutcome]],
        source: str,
    ) -> list[SampleOutcome]:
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
        rows, _mean_row = store.add_samples(
            s, self.cipher, person, self.model, self.model_version, samples,
            search_vectors=self.db.is_postgres, store_images=self.store_face_images,
        )
        return [
            SampleOutcome(o.label, True, o.faces_found, None, o.quality, r.id, o.sha256)
            for (_, o), r in zip(accepted, rows, strict=True)
        ]

    def _target_groups(
        self, s: Session, person_id: int, ext: str, created: bool, opts: EnrollOptions
    ) -> list[Group]:
        """The groups the person will be in (new: the named ones or ``default``; existing: theirs
        plus the named ones), within what the caller's credential may touch."""
        limit = opts.principal.groups if opts.principal is not None else None
        current = frozenset() if created else group_store.groups_of_person(s, person_id)
        if not created and limit is not None and not current & limit:
            raise NotFoundError(f"no person with id '{ext}'")  # as if unknown
        named = opts.groups
        if named is None and created:
            named = frozenset({group_store.DEFAULT_GROUP})
        if named is not None:
            allowed_groups(named, opts.principal)  # 403 outside the credential's groups
        wanted = (named or frozenset()) | current
        return group_store.resolve_groups(s, wanted, create=opts.create_groups)

    def _check_duplicate(
        self,
        person_id: int,
        accepted: list[tuple[AnalyzedFace, SampleOutcome]],
        targets: Sequence[Group],
        opts: EnrollOptions,
    ) -> str | None:
        """One face, one identity: refuse a face matching a different person of ``targets``."""
        if self.duplicate_threshold is None or not opts.check_duplicate:
            return None
        if not targets or not accepted:
            return None
        vectors = np.stack([f.embedding.vector for f, _ in accepted])  # type: ignore[union-attr]
        names = frozenset(g.name for g in targets)
        hits = self.search.search(vectors, self.model, 3, names)
        others = [h for row in hits for h in row if h.person_id != person_id]
        match = max(others, key=lambda h: h.similarity, default=None)
        if match is None or match.similarity < self.duplicate_threshold:
            return None
        if opts.allow_duplicate and is_admin(opts.principal):
            return match.external_id
        message = DUPLICATE_MESSAGE
        if is_admin(opts.principal):
            message = (f"this face matches person '{match.external_id}' (similarity "
                       f"{match.similarity:.3f} >= {self.duplicate_threshold:.3f}); an "
                       "administrator may enrol it anyway with allow_duplicate")
        raise DuplicateFaceError(message, match.external_id, round(match.similarity, 4))

    # ---- people ----------------------------------------------------------------------------
    def remove_person(self, external_id: str, actor: str | None = None) -> store.PersonInfo:
        """Right to erasure: the person, every template and search vector, stored face images,
        import records."""
        with self.db.session(write=True) as s:
            before = store.current_revision(s, self.model)
            info = store.remove_person(s, external_id)
            revision = store.current_revision(s, self.model)
        if revision != before:  # a person without templates of the model bumps nothing: a note
            self.search.note_remove(self.model, info.id, revision)  # would hide others' changes
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
