"""Subjects (people) and their stored faces, as CompreFace and DeepStack see them.

A subject is a FaceGate person (its external id); a CompreFace face is one stored sample template
of the current model, named by a random UUID (``CompatFace``). Changes go through FaceGate's
enrolment (quality gate, one transaction, audit) or, for deletes and renames, one transaction of
their own that recomputes the mean template and bumps the gallery revision.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from facegate.core.domain import AnalyzedFace, AuditEvent, FloatArray, ImageArray
from facegate.core.errors import FaceGateError, NoFaceError, PermissionDeniedError
from facegate.core.people.enrollment import EnrollImage, EnrollMode, EnrollOptions, SampleOutcome, sha256_of
from facegate.core.store import people as store
from facegate.core.store.crypto import face_image_aad, template_aad
from facegate.core.store.models import FaceImage, FaceTemplate, Person
from facegate.features.compat.errors import (
    MultipleFacesError,
    SubjectExistsError,
    UnknownImageError,
    UnknownSubjectError,
)
from facegate.features.compat.models import CompatFace
from facegate.features.compat.vision import Caller, person_groups


class CompatGallery:
    def __init__(self, container: Any) -> None:
        self.c = container

    @property
    def model(self) -> str:
        return str(self.c.pipeline.model_name)

    # ---- helpers ---------------------------------------------------------------------------
    def _visible(self, caller: Caller) -> frozenset[int] | None:
        return person_groups(self.c).visible_person_ids(caller.groups)

    def _person(self, s: Session, caller: Caller, subject: str) -> Person:
        person = store.find_person(s, subject)
        visible = self._visible(caller)
        if person is None or (visible is not None and person.id not in visible):
            raise UnknownSubjectError(f"Subject {subject} not found")
        return person

    def _people(self, s: Session, caller: Caller) -> list[Person]:
        visible = self._visible(caller)
        rows = s.scalars(select(Person).order_by(Person.external_id)).all()
        return [p for p in rows if visible is None or p.id in visible]

    def _backfill_ids(self) -> None:
        """Give every sample template of the current model an image_id (enrolled elsewhere too)."""
        try:
            with self.c.database.session(write=True) as s:
                self._ensure_ids(s)
        except IntegrityError:
            pass  # a concurrent request gave them their ids

    def _ensure_ids(self, s: Session) -> None:
        missing = s.execute(
            select(FaceTemplate.id, FaceTemplate.person_id)
            .outerjoin(CompatFace, CompatFace.template_id == FaceTemplate.id)
            .where(FaceTemplate.is_mean.is_(False), FaceTemplate.model == self.model,
                   CompatFace.image_id.is_(None))
        ).all()
        for tid, pid in missing:
            s.add(CompatFace(image_id=str(uuid.uuid4()), template_id=tid, person_id=pid))
        s.flush()

    def _audit(self, caller: Caller, action: str, subject: str | None, **details: object) -> None:
        self.c.audit.record(AuditEvent(
            action, "ok", actor=caller.actor, subject=subject, client=caller.client or None,
            details={"api": caller.api, **details},
        ))

    def _refresh(self, s: Session, person: Person) -> None:
        enrollment = self.c.enrollment
        store.refresh_mean(s, self.c.template_cipher, person, self.model,
                           enrollment.model_version, self.c.database.is_postgres)

    # ---- subjects --------------------------------------------------------------------------
    def subjects(self, caller: Caller) -> list[str]:
        with self.c.database.session() as s:
            return [p.external_id for p in self._people(s, caller)]

    def add_subject(self, caller: Caller, subject: str) -> str:
        name = _check_name(subject)
        with self.c.database.session() as s:
            if store.find_person(s, name) is not None:
                raise SubjectExistsError("Subject already exists")
        self.c.enrollment.enroll(name, [], name, mode=EnrollMode.CREATE, actor=caller.actor,
                                 session_hook=self._assign_hook(caller, created=True),
                                 options=_options(caller, True, allow_empty=True))
        return name

    def rename_subject(self, caller: Caller, old: str, new: str) -> None:
        """Rename a subject; onto an existing subject, the faces move there (a merge)."""
        target_name = _check_name(new)
        with self.c.database.session(write=True) as s:
            person = self._person(s, caller, old)
            if target_name == person.external_id:
                return
            target = store.find_person(s, target_name)
            if target is not None:
                self._person(s, caller, target_name)  # must be visible to merge into it
                moved = self._merge(s, person, target)
                store.remove_person(s, person.external_id)
            else:
                moved = 0
                if person.display_name == person.external_id:
                    person.display_name = target_name
                person.external_id = target_name
                for model in s.scalars(select(FaceTemplate.model)
                                       .where(FaceTemplate.person_id == person.id).distinct()):
                    store.bump_revision(s, model)
        self._audit(caller, "subject.rename", target_name, old=old, merged=target is not None,
                    moved=moved)

    def _merge(self, s: Session, src: Person, dst: Person) -> int:
        """Re-store every sample of ``src`` (and its crop) under ``dst``; keep their image_ids."""
        cipher = self.c.template_cipher
        rows = s.scalars(select(FaceTemplate).where(FaceTemplate.person_id == src.id,
                                                    FaceTemplate.is_mean.is_(False))
                         .order_by(FaceTemplate.id)).all()
        crops = {
            img.template_id: store.decode_crop(cipher.decrypt_bytes(
                img.key_id, img.ciphertext, face_image_aad(img.id, img.person_id), what="face image"))
            for img in s.scalars(select(FaceImage).where(FaceImage.person_id == src.id))
        }
        for model in sorted({t.model for t in rows}):
            mine = [t for t in rows if t.model == model]
            samples = [store.NewSample(
                vector=cipher.decrypt(t.key_id, t.ciphertext, template_aad(t.id, t.person_id)),
                quality=t.quality, source=t.source, image_sha256=t.image_sha256,
                aligned=crops.get(t.id)) for t in mine]
            new_rows, _ = store.add_samples(s, cipher, dst, model, mine[0].model_version, samples,
                                            search_vectors=self.c.database.is_postgres,
                                            store_images=bool(crops))
            for old_row, new_row in zip(mine, new_rows, strict=True):
                s.execute(update(CompatFace).where(CompatFace.template_id == old_row.id)
                          .values(template_id=new_row.id, person_id=dst.id))
        return len(rows)

    def delete_subject(self, caller: Caller, subject: str) -> str:
        with self.c.database.session() as s:
            name = self._person(s, caller, subject).external_id
        self.c.enrollment.remove_person(name, actor=caller.actor)
        return name

    def delete_all_subjects(self, caller: Caller) -> int:
        names = self.subjects(caller)
        for name in names:
            self.c.enrollment.remove_person(name, actor=caller.actor)
        return len(names)

    # ---- faces -----------------------------------------------------------------------------
    def add_face(self, caller: Caller, subject: str, image: ImageArray, data: bytes) -> tuple[str, str]:
        """Enrol one image showing exactly one face; (image_id, subject)."""
        name = _check_name(subject)
        created = self._may_add_to(caller, name)
        face, outcome = self.c.enrollment.check_image(EnrollImage(image, "file", sha256_of(data)))
        if outcome.faces_found == 0:
            raise NoFaceError("No face is found in the given image")
        if outcome.faces_found > 1:
            raise MultipleFacesError(f"More than one face in the source image ({outcome.faces_found})")
        ids = self._enroll(caller, name, [(face, outcome)], created)
        return ids[0], name

    def register(self, caller: Caller, userid: str, images: Sequence[tuple[str, ImageArray, bytes]]) -> bool:
        """DeepStack register: add every usable face to ``userid``; True when it was created."""
        name = _check_name(userid)
        created = self._may_add_to(caller, name)
        enrollment = self.c.enrollment
        checked = [enrollment.check_image(EnrollImage(img, label, sha256_of(data)))
                   for label, img, data in images]
        if all(o.faces_found == 0 for _, o in checked):
            raise NoFaceError("no face detected")
        self._enroll(caller, name, checked, created)
        return created

    def _may_add_to(self, caller: Caller, name: str) -> bool:
        """True when the subject is new; refuses a subject that exists outside the caller's view."""
        with self.c.database.session() as s:
            person = store.find_person(s, name)
            visible = self._visible(caller)
            if person is not None and visible is not None and person.id not in visible:
                raise PermissionDeniedError(f"Subject {name} belongs to another group")
            return person is None

    def _enroll(self, caller: Caller, name: str,
                checked: Sequence[tuple[AnalyzedFace | None, SampleOutcome]], created: bool) -> list[str]:
        ids: list[str] = []
        assign = self._assign_hook(caller, created)

        def hook(s: Session, person: Person, outcomes: list[SampleOutcome]) -> None:
            for o in outcomes:
                if o.accepted and o.template_id is not None:
                    ids.append(str(uuid.uuid4()))
                    s.add(CompatFace(image_id=ids[-1], template_id=o.template_id, person_id=person.id))
            assign(s, person, outcomes)

        options = _options(caller, created)
        self.c.enrollment.enroll_faces(name, checked, name, mode=EnrollMode.UPSERT, source="upload",
                                       actor=caller.actor, session_hook=hook, options=options)
        return ids

    def _assign_hook(self, caller: Caller, created: bool) -> Any:
        groups = person_groups(self.c)

        def hook(s: Session, person: Person, _: list[SampleOutcome]) -> None:
            if created:
                groups.assign(s, person.id, caller.groups)
        return hook

    def faces(
        self, caller: Caller, subject: str | None, page: int, size: int
    ) -> tuple[list[tuple[str, str]], int]:
        """One page of (image_id, subject), oldest first, and the total count."""
        self._backfill_ids()
        with self.c.database.session() as s:
            rows = self._face_rows(s, caller, subject)
        total = len(rows)
        return [(r[0], r[2]) for r in rows[page * size:(page + 1) * size]], total

    def _face_rows(
        self, s: Session, caller: Caller, subject: str | None, image_ids: Sequence[str] | None = None
    ) -> list[tuple[str, int, str, int]]:
        """(image_id, template_id, subject, person_id) of the visible faces, oldest first."""
        stmt = (select(CompatFace.image_id, CompatFace.template_id, Person.external_id, Person.id)
                .join(FaceTemplate, FaceTemplate.id == CompatFace.template_id)
                .join(Person, Person.id == FaceTemplate.person_id)
                .where(FaceTemplate.model == self.model)
                .order_by(FaceTemplate.id))
        if subject is not None:
            stmt = stmt.where(Person.external_id == subject)
        if image_ids is not None:
            stmt = stmt.where(CompatFace.image_id.in_(list(image_ids)))
        visible = self._visible(caller)
        return [(str(a), int(b), str(c), int(d)) for a, b, c, d in s.execute(stmt).all()
                if visible is None or d in visible]

    def delete_faces(self, caller: Caller, subject: str | None) -> int:
        """Delete every face of ``subject`` (every visible face when None); subjects stay."""
        self._backfill_ids()
        with self.c.database.session(write=True) as s:
            rows = self._face_rows(s, caller, subject)
            self._delete_rows(s, rows)
        if rows:
            self._audit(caller, "face.remove", subject, faces=len(rows))
        return len(rows)

    def delete_face_ids(self, caller: Caller, image_ids: Sequence[str]) -> list[tuple[str, str]]:
        with self.c.database.session(write=True) as s:
            rows = self._face_rows(s, caller, None, sorted(set(image_ids)))
            self._delete_rows(s, rows)
        for r in rows:
            self._audit(caller, "face.remove", r[2], image_id=r[0])
        return [(r[0], r[2]) for r in rows]

    def _delete_rows(self, s: Session, rows: list[tuple[str, int, str, int]]) -> None:
        tids = [r[1] for r in rows]
        if not tids:
            return
        s.execute(delete(FaceImage).where(FaceImage.template_id.in_(tids)))
        s.execute(delete(CompatFace).where(CompatFace.template_id.in_(tids)))
        s.execute(delete(FaceTemplate).where(FaceTemplate.id.in_(tids)))
        for pid in sorted({r[3] for r in rows}):
            person = s.get(Person, pid)
            if person is not None:
                self._refresh(s, person)

    def face(self, caller: Caller, image_id: str) -> tuple[str, FloatArray]:
        """(subject, sample vector) of a stored face."""
        with self.c.database.session() as s:
            row = self._one(s, caller, image_id)
            t = s.get(FaceTemplate, row[1])
            assert t is not None
            return row[2], self.c.template_cipher.decrypt(t.key_id, t.ciphertext,
                                                         template_aad(t.id, t.person_id))

    def face_png(self, caller: Caller, image_id: str) -> bytes | None:
        """The stored aligned crop of a face (PNG), None when face images are not stored."""
        with self.c.database.session() as s:
            row = self._one(s, caller, image_id)
            img = s.scalars(select(FaceImage).where(FaceImage.template_id == row[1])).first()
            if img is None:
                return None
            return bytes(self.c.template_cipher.decrypt_bytes(
                img.key_id, img.ciphertext, face_image_aad(img.id, img.person_id), what="face image"))

    def _one(self, s: Session, caller: Caller, image_id: str) -> tuple[str, int, str, int]:
        rows = self._face_rows(s, caller, None, [image_id])
        if not rows:
            raise UnknownImageError(f"Image {image_id} not found")
        return rows[0]


def _check_name(subject: str) -> str:
    try:
        return store.check_external_id(subject)
    except ValueError as exc:
        raise FaceGateError(str(exc)) from None


def _options(caller: Caller, created: bool, allow_empty: bool = False) -> EnrollOptions:
    """CompreFace semantics: a subject is a label, and two subjects may hold the same face (then
    merged by a rename), so FaceGate's one-face-one-identity check is off here. A new subject of a
    key limited to groups joins exactly those (``PersonGroups.assign``, not ``default``)."""
    groups: frozenset[str] | None = frozenset() if created and caller.groups is not None else None
    return EnrollOptions(groups=groups, allow_empty=allow_empty, check_duplicate=False)
