"""1:1 verify and 1:N identify against the enrolled people (the ``Gallery``, see ``gallery.py``
for the search backends ``MemorySearch`` and ``PgVectorSearch``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from facegate.core.domain import AnalyzedFace, AuditEvent, Candidate, FloatArray, Identification, ImageArray
from facegate.core.errors import FaceGateError, NoFaceError, NotFoundError
from facegate.core.matching.index import Hit
from facegate.core.matching.similarity import cosine_similarity
from facegate.core.people.gallery import Gallery, MemorySearch, OnGallery, PgVectorSearch, TemplateSearch
from facegate.core.store import people as store
from facegate.core.vision.images import decode_labeled
from facegate.core.vision.pipeline import FaceChoice

DEFAULT_TOP_K = 5

__all__ = [
    "DEFAULT_TOP_K",
    "Gallery",
    "IdentificationService",
    "MemorySearch",
    "PgVectorSearch",
    "TemplateSearch",
    "Verification",
]


@dataclass(frozen=True)
class Verification:
    """1:1 answer: is the face in the image the claimed person?"""

    external_id: str
    display_name: str
    similarity: float
    threshold: float
    verified: bool
    face: AnalyzedFace
    faces_found: int
    model: str

    @property
    def decision(self) -> str:
        return "granted" if self.verified else "denied"


class IdentificationService(OnGallery):
    def __init__(
        self, gallery: Gallery, threshold: float, top_k: int = DEFAULT_TOP_K,
        verify_threshold: float | None = None,
    ) -> None:
        self.gallery = gallery
        self.threshold = threshold  # 1:N: stricter, a probe meets every enrolled person
        self.verify_threshold = threshold if verify_threshold is None else verify_threshold  # 1:1
        self.top_k = top_k

    # ---- 1:N -------------------------------------------------------------------------------
    def identify_image(
        self, image: ImageArray, actor: str | None = None, audit: bool = True
    ) -> list[Identification]:
        """Every face of the image: best person, or unknown below the threshold, + top-k."""
        faces = [f for f in self.pipeline.analyze(image).faces if f.embedding is not None]
        results = self.identify_faces(faces)
        if audit:
            self._audit_identify(results, actor)
        return results

    def identify_bytes(
        self, data: bytes, label: str = "image", actor: str | None = None
    ) -> list[Identification]:
        return self.identify_image(decode_labeled(data, self.limits, label), actor)

    def identify_faces(self, faces: Sequence[AnalyzedFace]) -> list[Identification]:
        """Identify already analysed faces (embeddings of this pipeline's model)."""
        if not faces:
            return []
        vectors = np.stack([f.embedding.vector for f in faces if f.embedding is not None])
        hits = self.search.search(vectors, self.model, self.top_k)
        return [self._identification(f, h) for f, h in zip(faces, hits, strict=True)]

    def identify_vectors(self, vectors: FloatArray, k: int | None = None) -> list[list[Hit]]:
        """Raw top-k search for embeddings (benchmarks, evaluation)."""
        return self.search.search(vectors, self.model, k or self.top_k)

    def _identification(self, face: AnalyzedFace, hits: list[Hit]) -> Identification:
        candidates = tuple(
            Candidate(h.person_id, h.external_id, h.display_name, round(h.similarity, 6))
            for h in hits
        )
        best = candidates[0] if candidates and hits[0].similarity >= self.threshold else None
        return Identification(face=face, best=best, candidates=candidates, threshold=self.threshold)

    def _audit_identify(self, results: list[Identification], actor: str | None) -> None:
        if not results:
            self.audit.record(
                AuditEvent("identify", "no_face", actor=actor, details={"faces": 0})
            )
            return
        for i, r in enumerate(results):
            top = r.candidates[0] if r.candidates else None
            self.audit.record(
                AuditEvent(
                    "identify",
                    "known" if r.known else "unknown",
                    actor=actor,
                    subject=r.best.external_id if r.best else None,
                    score=top.similarity if top else None,
                    details={
                        "face": i,
                        "faces": len(results),
                        "threshold": r.threshold,
                        "nearest": top.external_id if top else None,
                        "box": r.face.face.box.as_list(),
                    },
                )
            )

    # ---- 1:1 -------------------------------------------------------------------------------
    def verify(
        self, external_id: str, image: ImageArray, actor: str | None = None, audit: bool = True
    ) -> Verification:
        """Compare the largest face of the image with the person's mean template."""
        try:
            result = self._verify(external_id, image)
        except FaceGateError as exc:
            if audit:
                self.audit.record(
                    AuditEvent("verify", "error", actor=actor, subject=external_id,
                               details={"code": exc.code, "message": exc.message})
                )
            raise
        if audit:
            self.audit.record(
                AuditEvent(
                    "verify",
                    result.decision,
                    actor=actor,
                    subject=external_id,
                    score=result.similarity,
                    details={"threshold": result.threshold, "faces_found": result.faces_found,
                             "model": result.model},
                )
            )
        return result

    def verify_bytes(
        self, external_id: str, data: bytes, label: str = "image", actor: str | None = None
    ) -> Verification:
        return self.verify(external_id, decode_labeled(data, self.limits, label), actor)

    def _verify(self, external_id: str, image: ImageArray) -> Verification:
        with self.db.session() as s:
            person = store.get_person(s, external_id)
            mean = store.mean_vector(s, self.cipher, person.id, self.model)
            name = person.display_name
        if mean is None:
            raise NotFoundError(
                f"person '{external_id}' has no face templates of model '{self.model}'"
            )
        face, count = self.pipeline.choose(image, FaceChoice.LARGEST)
        if face is None or face.embedding is None:
            raise NoFaceError("no face found in the image")
        sim = cosine_similarity(face.embedding.vector, mean)
        return Verification(
            external_id=external_id,
            display_name=name,
            similarity=round(sim, 6),
            threshold=self.verify_threshold,
            verified=sim >= self.verify_threshold,
            face=face,
            faces_found=count,
            model=self.model,
        )
