"""Response schemas of the REST API (pydantic), built from domain values."""

from __future__ import annotations

from pydantic import BaseModel

from facegate.domain import AnalyzedFace, FaceQuality


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
