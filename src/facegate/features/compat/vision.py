"""Detection, recognition and verification for the compatible APIs, over FaceGate's core.

Faces are kept in the uploaded image's pixel space (boxes as ints, clamped to the image), the
biggest first; recognition searches the caller's visible people and reports the calibrated
similarity (``similarity.py``). Every identification and verification is audited with the caller
and its address.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from facegate.core.auth.principal import Principal
from facegate.core.domain import AnalyzedFace, AuditEvent, ImageArray
from facegate.core.errors import NoFaceError
from facegate.core.matching.index import Hit
from facegate.core.vision.images import decode_labeled
from facegate.core.vision.packs import get_pack
from facegate.features.compat.auth import EveryPerson, PersonGroups
from facegate.features.compat.errors import MultipleFacesError
from facegate.features.compat.similarity import Calibration, calibration_for


@dataclass(frozen=True)
class Caller:
    """An authenticated request: who, from where, through which API."""

    principal: Principal
    client: str
    api: str  # "compreface" | "deepstack"

    @property
    def actor(self) -> str:
        return self.principal.name

    @property
    def groups(self) -> frozenset[str] | None:
        return self.principal.groups


@dataclass(frozen=True)
class FoundFace:
    face: AnalyzedFace
    box: tuple[int, int, int, int]  # x_min, y_min, x_max, y_max
    probability: float

    @property
    def area(self) -> int:
        return (self.box[2] - self.box[0]) * (self.box[3] - self.box[1])


@dataclass(frozen=True)
class Match:
    subject: str
    similarity: float  # calibrated
    cosine: float


@dataclass(frozen=True)
class Timing:
    detector_ms: float = 0.0
    calculator_ms: float = 0.0


@dataclass
class Recognized:
    faces: list[tuple[FoundFace, list[Match]]] = field(default_factory=list)
    timing: Timing = Timing()


WIDE_SEARCH = 1000


def person_groups(container: Any) -> PersonGroups:
    return getattr(container, "person_groups", None) or EveryPerson()


class CompatVision:
    def __init__(self, container: Any) -> None:
        self.c = container

    @property
    def calibration(self) -> Calibration:
        return calibration_for(get_pack(self.c.settings.embedding_model))

    @property
    def versions(self) -> dict[str, str]:
        p = self.c.pipeline
        return {"detector": p.detector.name, "calculator": p.model_name}

    def decode(self, data: bytes, label: str) -> ImageArray:
        return decode_labeled(data, self.c.image_limits, label)

    def find(self, image: ImageArray, det_threshold: float = 0.0, limit: int = 0) -> list[FoundFace]:
        """Every face scoring at least ``det_threshold``, the biggest first, at most ``limit``."""
        return self.find_timed(image, det_threshold, limit)[0]

    def find_timed(
        self, image: ImageArray, det_threshold: float = 0.0, limit: int = 0
    ) -> tuple[list[FoundFace], Timing]:
        pipeline = self.c.pipeline
        h, w = image.shape[:2]
        started = time.perf_counter()
        kept = []
        for det in pipeline.detect(image):
            b = det.box
            box = (_clamp(b.x, w), _clamp(b.y, h), _clamp(b.x + b.width, w), _clamp(b.y + b.height, h))
            if det.score >= det_threshold and box[2] > box[0] and box[3] > box[1]:
                kept.append((det, box))
        kept.sort(key=lambda d: (d[1][2] - d[1][0]) * (d[1][3] - d[1][1]), reverse=True)
        kept = kept[:limit] if limit > 0 else kept
        detected = time.perf_counter()
        found = [
            FoundFace(pipeline.analyze_face(image, det, embed=True), box,
                      round(min(max(det.score, 0.0), 1.0), 5))
            for det, box in kept
        ]
        done = time.perf_counter()
        timing = Timing(round((detected - started) * 1000, 1), round((done - detected) * 1000, 1))
        return found, timing

    # ---- 1:N -------------------------------------------------------------------------------
    def recognize(
        self, caller: Caller, image: ImageArray, det_threshold: float, limit: int, count: int,
        min_similarity: float = 0.0,
    ) -> Recognized:
        """Each face's top ``count`` people, best first; none when the best is below the caller's
        threshold (its group's, else FaceGate's 1:N one) or below ``min_similarity``."""
        faces, timing = self.find_timed(image, det_threshold, limit)
        out = Recognized(timing=timing)
        if not faces:
            self._audit_identify(caller, [], [])
            return out
        groups = person_groups(self.c)
        threshold = groups.threshold(caller.groups)
        if threshold is None:
            threshold = self.c.identification.threshold
        visible = groups.visible_person_ids(caller.groups)
        hits = self._search(faces, max(count, 1), visible)
        cal = self.calibration
        for f, h in zip(faces, hits, strict=True):
            known = bool(h) and h[0].similarity >= threshold
            known = known and cal.similarity(h[0].similarity) >= min_similarity
            matches = [Match(x.external_id, cal.similarity(x.similarity), x.similarity)
                       for x in h[:count]] if known else []
            out.faces.append((f, matches))
        self._audit_identify(caller, out.faces, hits, threshold)
        return out

    def _search(self, faces: list[FoundFace], k: int, visible: frozenset[int] | None) -> list[list[Hit]]:
        vectors = np.stack([f.face.embedding.vector for f in faces if f.face.embedding is not None])
        ident = self.c.identification
        if visible is None:
            return list(ident.identify_vectors(vectors, k))
        # filtered after a wide search (pgvector's HNSW returns at most 1000 rows): a visible person
        # outside the gallery's top 1000 is 1000 people away from a match anyway
        wide = ident.identify_vectors(vectors, max(k, WIDE_SEARCH))
        return [[h for h in row if h.person_id in visible][:k] for row in wide]

    def _audit_identify(
        self, caller: Caller, faces: list[tuple[FoundFace, list[Match]]], hits: list[list[Hit]],
        threshold: float | None = None,
    ) -> None:
        audit = self.c.audit
        base = {"api": caller.api}
        if not faces:
            audit.record(AuditEvent("identify", "no_face", actor=caller.actor, client=caller.client or None,
                                    details={**base, "faces": 0}))
            return
        for i, ((f, matches), h) in enumerate(zip(faces, hits, strict=True)):
            top = h[0] if h else None
            audit.record(AuditEvent(
                "identify", "known" if matches else "unknown", actor=caller.actor,
                client=caller.client or None, subject=matches[0].subject if matches else None,
                score=top.similarity if top else None,
                details={**base, "face": i, "faces": len(faces), "threshold": threshold,
                         "nearest": top.external_id if top else None, "box": list(f.box)},
            ))

    # ---- 1:1 -------------------------------------------------------------------------------
    def one_face(self, image: ImageArray, det_threshold: float = 0.0, strict: bool = True) -> FoundFace:
        """The face of an image that must show one (``strict``) or whose biggest face is used."""
        faces = self.find(image, det_threshold)
        if not faces:
            raise NoFaceError("No face is found in the given image")
        if strict and len(faces) > 1:
            raise MultipleFacesError(f"More than one face in the source image ({len(faces)} found)")
        return faces[0]

    def similarity(self, a: AnalyzedFace, b: np.ndarray) -> tuple[float, float]:
        """(calibrated similarity, cosine) of face ``a`` and unit vector ``b``."""
        assert a.embedding is not None
        cos = float(np.dot(a.embedding.vector, b))
        return self.calibration.similarity(cos), cos

    def audit_verify(self, caller: Caller, subject: str | None, cosine: float, what: str) -> None:
        threshold = self.c.match_threshold
        self.c.audit.record(AuditEvent(
            "verify", "granted" if cosine >= threshold else "denied", actor=caller.actor,
            subject=subject, score=round(cosine, 6),
            client=caller.client or None,
            details={"api": caller.api, "threshold": threshold, "what": what},
        ))


def _clamp(v: float, hi: int) -> int:
    return int(min(max(round(v), 0), hi))
