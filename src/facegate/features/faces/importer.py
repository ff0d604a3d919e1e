"""``people import DIR``: enrol a folder of people, idempotently and crash-safely.

Layout: ``DIR/<name>/*.jpg`` (a folder is one person) or ``DIR/<first_last>.jpg`` (a file is one
person). Each person is one transaction: templates, mean template and the SHA-256 of every image
handled commit together, so a kill -9 leaves whole people or nothing, and a rerun skips images
whose hash is already recorded and finishes the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from facegate.core.domain import AnalyzedFace
from facegate.core.errors import DuplicateFaceError, FaceGateError, FaceQualityError
from facegate.core.people.enrollment import (
    EnrollImage,
    EnrollmentService,
    EnrollMode,
    EnrollOptions,
    SampleOutcome,
    sha256_of,
)
from facegate.core.store.models import ImportedImage, Person

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"}


@dataclass(frozen=True)
class ImportPerson:
    external_id: str
    display_name: str
    files: tuple[Path, ...]


@dataclass
class ImportSummary:
    people_seen: int = 0
    people_enrolled: int = 0
    images_enrolled: int = 0
    already_imported: int = 0
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    duplicates: list[tuple[str, str]] = field(default_factory=list)  # (path, first seen as)
    duplicate_faces: list[tuple[str, str]] = field(default_factory=list)  # (person, why refused)

    def as_dict(self) -> dict[str, object]:
        return {
            "people_seen": self.people_seen,
            "people_enrolled": self.people_enrolled,
            "images_enrolled": self.images_enrolled,
            "already_imported": self.already_imported,
            "rejected": [{"path": p, "reason": r} for p, r in self.rejected],
            "duplicates": [{"path": p, "first_seen_as": r} for p, r in self.duplicates],
            "duplicate_faces": [{"person": p, "reason": r} for p, r in self.duplicate_faces],
        }


def display_name_of(stem: str) -> str:
    return " ".join(part for part in stem.replace("_", " ").split() if part)


def scan_import_dir(root: Path) -> list[ImportPerson]:
    """The people of an import folder, sorted by external id (folder or file stem)."""
    if not root.is_dir():
        raise FaceGateError(f"{root}: not a directory")
    people: list[ImportPerson] = []
    for entry in sorted(root.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            files = tuple(
                sorted(f for f in entry.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
            )
            if files:
                people.append(ImportPerson(entry.name, display_name_of(entry.name), files))
        elif entry.is_file() and entry.suffix.lower() in IMAGE_SUFFIXES:
            people.append(ImportPerson(entry.stem, display_name_of(entry.stem), (entry,)))
    return people


def import_people(
    enrollment: EnrollmentService,
    root: Path,
    progress: Callable[[Iterator[ImportPerson], int], Iterator[ImportPerson]] | None = None,
    actor: str | None = "import",
    options: EnrollOptions | None = None,
) -> ImportSummary:
    """Import every person of ``root``; see the module docstring. A person whose face is already
    enrolled as someone else (``options``' groups) is refused and listed in ``duplicate_faces``."""
    people = scan_import_dir(root)
    summary = ImportSummary()
    seen: dict[str, str] = {}  # sha256 → external id, for this run and earlier runs
    iterator: Iterator[ImportPerson] = iter(people)
    if progress is not None:
        iterator = progress(iterator, len(people))
    for person in iterator:
        summary.people_seen += 1
        _import_one(enrollment, person, summary, seen, actor, options)
    return summary


def _known_hashes(enrollment: EnrollmentService, hashes: list[str]) -> dict[str, str]:
    if not hashes:
        return {}
    with enrollment.db.session() as s:
        rows = s.execute(
            select(ImportedImage.sha256, ImportedImage.external_id).where(
                ImportedImage.sha256.in_(hashes)
            )
        ).all()
    return {r[0]: r[1] for r in rows}


def _import_one(
    enrollment: EnrollmentService,
    person: ImportPerson,
    summary: ImportSummary,
    seen: dict[str, str],
    actor: str | None,
    options: EnrollOptions | None = None,
) -> None:
    blobs = []
    for path in person.files:
        try:
            blobs.append((path, path.read_bytes()))
        except OSError as exc:
            summary.rejected.append((str(path), f"cannot read file: {exc.strerror or exc}"))
    hashes = [sha256_of(data) for _, data in blobs]
    known = _known_hashes(enrollment, hashes)
    checked: list[tuple[AnalyzedFace | None, SampleOutcome]] = []
    for (path, _data), digest in zip(blobs, hashes, strict=True):
        owner = known.get(digest) or seen.get(digest)
        if owner == person.external_id and digest in known:
            summary.already_imported += 1
            continue
        if owner is not None:
            summary.duplicates.append((str(path), owner))
            continue
        seen[digest] = person.external_id
        try:
            from facegate.core.vision.images import read_image_file

            image = read_image_file(path, enrollment.limits)
        except FaceGateError as exc:
            outcome = SampleOutcome(str(path), False, 0, exc.message, sha256=digest)
            checked.append((None, outcome))
            continue
        checked.append(enrollment.check_image(EnrollImage(image, str(path), digest)))
    if not checked:
        return
    rejected = [o for f, o in checked if f is None]

    def record(s: Session, p: Person, outcomes: list[SampleOutcome]) -> None:
        for o in outcomes:
            s.add(_imported_row(person.external_id, p.id if o.accepted else None, o))

    try:
        result = enrollment.enroll_faces(
            person.external_id, checked, person.display_name, mode=EnrollMode.UPSERT,
            source="import", actor=actor, session_hook=record, options=options,
        )
    except DuplicateFaceError as exc:
        summary.duplicate_faces.append((person.external_id, exc.message))
        return
    except FaceQualityError:
        with enrollment.db.session(write=True) as s:
            for o in rejected:
                s.merge(_imported_row(person.external_id, None, o))
        summary.rejected.extend((o.label, o.reason or "rejected") for o in rejected)
        return
    summary.rejected.extend((o.label, o.reason or "rejected") for o in result.rejected)
    summary.images_enrolled += len(result.accepted)
    summary.people_enrolled += 1


def _imported_row(external_id: str, person_id: int | None, o: SampleOutcome) -> ImportedImage:
    assert o.sha256 is not None
    return ImportedImage(
        sha256=o.sha256,
        external_id=external_id,
        person_id=person_id,
        path=o.label[-1000:],
        status="enrolled" if o.accepted else "rejected",
        reason=(o.reason or None) and (o.reason or "")[:500],
    )
