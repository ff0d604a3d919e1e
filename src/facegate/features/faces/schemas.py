"""Response schemas of the REST API (pydantic), built from domain values."""

from __future__ import annotations

from pydantic import BaseModel

from facegate.core.domain import AnalyzedFace, FaceQuality, Identification
from facegate.core.people.enrollment import EnrollmentResult
from facegate.core.people.identification import Verification
from facegate.core.store.people import PersonInfo


class QualityOut(BaseModel):
    face_size: float
    sharpness: float
    brightness: float
    yaw: float
    pitch: float
    ok: bool
    problems: list[str]

    @classmethod
    def of(cls, q: FaceQuality) -> QualityOut:
        return cls(
            face_size=q.face_size,
            sharpness=q.sharpness,
            brightness=q.brightness,
            yaw=q.yaw,
            pitch=q.pitch,
            ok=q.ok,
            problems=list(q.problems),
        )


class FaceOut(BaseModel):
    box: list[float]
    score: float
    landmarks: list[list[float]]
    quality: QualityOut

    @classmethod
    def of(cls, f: AnalyzedFace) -> FaceOut:
        return cls(
            box=f.face.box.as_list(),
            score=round(f.face.score, 4),
            landmarks=f.face.landmarks.as_list(),
            quality=QualityOut.of(f.quality),
        )


class ImageFaceOut(BaseModel):
    faces_found: int
    face: FaceOut


class CompareOut(BaseModel):
    similarity: float
    threshold: float
    decision: str
    same: bool
    model: str
    a: ImageFaceOut
    b: ImageFaceOut


class HealthOut(BaseModel):
    status: str
    version: str


# --- people, enrolment, verify, identify ---
class TemplateOut(BaseModel):
    id: int
    model: str
    model_version: str
    mean: bool
    sample_count: int
    source: str
    quality: dict[str, object] | None
    created_at: str


class PersonOut(BaseModel):
    id: str
    display_name: str
    samples: int
    stored_images: int = 0
    """Encrypted enrolment face crops kept for the person (FACEGATE_STORE_FACE_IMAGES)."""
    created_at: str
    updated_at: str
    groups: list[str] = []
    """The groups (galleries) the person belongs to."""
    templates: list[TemplateOut] | None = None

    @classmethod
    def of(cls, p: PersonInfo, with_templates: bool = False) -> PersonOut:
        templates = None
        if with_templates:
            templates = [
                TemplateOut(
                    id=t.id,
                    model=t.model,
                    model_version=t.model_version,
                    mean=t.is_mean,
                    sample_count=t.sample_count,
                    source=t.source,
                    quality=t.quality,
                    created_at=t.created_at.isoformat(),
                )
                for t in p.templates
            ]
        return cls(
            id=p.external_id,
            display_name=p.display_name,
            groups=list(p.groups),
            samples=p.sample_count,
            stored_images=p.stored_images,
            created_at=p.created_at.isoformat(),
            updated_at=p.updated_at.isoformat(),
            templates=templates,
        )


class PeopleOut(BaseModel):
    people: list[PersonOut]
    count: int


class RejectedImageOut(BaseModel):
    image: str
    reason: str


class EnrollmentOut(BaseModel):
    person: PersonOut
    created: bool
    model: str
    accepted: list[str]
    rejected: list[RejectedImageOut]

    @classmethod
    def of(cls, r: EnrollmentResult) -> EnrollmentOut:
        return cls(
            person=PersonOut.of(r.person),
            created=r.created,
            model=r.model,
            accepted=[o.label for o in r.accepted],
            rejected=[RejectedImageOut(image=o.label, reason=o.reason or "") for o in r.rejected],
        )


class VerifyOut(BaseModel):
    person: str
    display_name: str
    verified: bool
    decision: str
    similarity: float
    threshold: float
    faces_found: int
    model: str
    face: FaceOut

    @classmethod
    def of(cls, v: Verification) -> VerifyOut:
        return cls(
            person=v.external_id,
            display_name=v.display_name,
            verified=v.verified,
            decision=v.decision,
            similarity=round(v.similarity, 4),
            threshold=v.threshold,
            faces_found=v.faces_found,
            model=v.model,
            face=FaceOut.of(v.face),
        )


class CandidateOut(BaseModel):
    id: str
    display_name: str
    similarity: float


class IdentifiedFaceOut(BaseModel):
    known: bool
    person: str | None
    label: str
    similarity: float | None
    candidates: list[CandidateOut]
    face: FaceOut

    @classmethod
    def of(cls, r: Identification) -> IdentifiedFaceOut:
        return cls(
            known=r.known,
            person=r.best.external_id if r.best else None,
            label=r.label,
            similarity=round(r.candidates[0].similarity, 4) if r.candidates else None,
            candidates=[
                CandidateOut(id=c.external_id, display_name=c.display_name,
                             similarity=round(c.similarity, 4))
                for c in r.candidates
            ],
            face=FaceOut.of(r.face),
        )


class IdentifyOut(BaseModel):
    threshold: float
    faces: list[IdentifiedFaceOut]
