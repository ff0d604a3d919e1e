"""1:1 verify and 1:N identify against the enrolled people (the ``Gallery``, see ``gallery.py``
for the search backends ``MemorySearch`` and ``PgVectorSearch`` and for groups: every search can
be limited to the people of some groups, within the groups of the caller's credential)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from facegate.core.auth.principal import Principal
from facegate.core.domain import AnalyzedFace, AuditEvent, Candidate, FloatArray, Identification, ImageArray
from facegate.core.errors import FaceGateError, NoFaceError, NotFoundError
from facegate.core.matching.index import Hit
from facegate.core.matching.similarity import cosine_similarity
from facegate.core.people.gallery import (
    Gallery,
    Groups,
    MemorySearch,
    OnGallery,
    PgVectorSearch,
    TemplateSearch,
    allowed_groups,
)
from facegate.core.store import groups as group_store
from facegate.core.store import people as store
from facegate.core.vision.images import decode_labeled
from facegate.core.vision.pipeline import FaceChoice

DEFAULT_TOP_K = 5

__all__ = [
    "DEFAULT_TOP_K",
    "Gallery",
    "Groups",
    "IdentificationService",
    "MemorySearch",
    "PgVectorSearch",
    "TemplateSearch",
    "Verification",
    "allowed_groups",
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
        self,
        image: ImageArray,
        actor: str | None = None,
        audit: bool = True,
        groups: Groups = None,
    ) -> list[Identification]:
        """Every face of the image: best person of ``groups`` (None: everyone), or unknown below
        the threshold, + top-k."""
        faces = [f for f in self.pipeline.analyze(image).faces if f.embedding is not None]
        results = self.identify_faces(faces, groups)
        if audit:
            self._audit_identify(results, actor, groups)
        return results

    def identify_bytes(
        self,
        data: bytes,
        label: str = "image",
        actor: str | None = None,
        groups: Groups = None,
        principal: Principal | None = None,
    ) -> list[Identification]:
        """Decode and identify among ``groups`` limited by the caller's ``principal``."""
        scoped = self.request_groups(groups, principal)
        image = decode_labeled(data, self.limits, label)
        return self.identify_image(image, principal.name if principal else actor, groups=scoped)

    def request_groups(self, groups: Groups, principal: Principal | None) -> Groups:
        """``allowed_groups`` + every named group must exist (404 otherwise)."""
        scoped = allowed_groups(groups, principal)
        if groups is not None:
            with self.db.session() as s:
                group_store.resolve_groups(s, groups)
        return scoped

    def identify_faces(
        self, faces: Sequence[AnalyzedFace], groups: Groups = None
    ) -> list[Identification]:
        """Identify already analysed faces (embeddings of this pipeline's model)."""
        if not faces:
            return []
        vectors = np.stack([f.embedding.vector for f in faces if f.embedding is not None])
        hits = self.search.search(vectors, self.model, self.top_k, groups)
        return [self._identification(f, h) for f, h in zip(faces, hits, strict=True)]

    def identify_vectors(
        self, vectors: FloatArray, k: int | None = None, groups: Groups = None
    ) -> list[list[Hit]]:
        """Raw top-k search for embeddings (benchmarks, evaluation, duplicate checks)."""
        return self.search.search(vectors, self.model, k or self.top_k, groups)

    def _identification(self, face: AnalyzedFace, hits: list[Hit]) -> Identification:
        candidates = tuple(
            Candidate(h.person_id, h.external_id, h.display_name, round(h.similarity, 6))
            for h in hits
        )
        best = candidates[0] if candidates and hits[0].similarity >= self.threshold else None
        return Identification(face=face, best=best, candidates=candidates, threshold=self.threshold)

    def _audit_identify(
        self, results: list[Identification], actor: str | None, groups: Groups
    ) -> None:
        scope = sorted(groups) if groups is not None else None
        if not results:
            self.audit.record(
                AuditEvent("identify", "no_face", actor=actor, details={"faces": 0, "groups": scope})
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
                        "groups": scope,
                    },
                )
            )

    # ---- 1:1 -------------------------------------------------------------------------------
    def verify(
        self,
        external_id: str,
        image: ImageArray,
        actor: str | None = None,
        audit: bool = True,
        groups: Groups = None,
    ) -> Verification:
        """Compare the largest face of the image with the person's mean template.

        ``groups``: the person must belong to one of them (else 404, as for an unknown id)."""
        try:
            result = self._verify(external_id, image, groups)
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
                             "model": result.model,
                             "groups": sorted(groups) if groups is not None else None},
                )
            )
        return result

    def verify_bytes(
        self,
        external_id: str,
        data: bytes,
        label: str = "image",
        actor: str | None = None,
        groups: Groups = None,
        principal: Principal | None = None,
    ) -> Verification:
        scoped = self.request_groups(groups, principal)
        image = decode_labeled(data, self.limits, label)
        return self.verify(external_id, image, principal.name if principal else actor, groups=scoped)

    def _verify(self, external_id: str, image: ImageArray, groups: Groups = None) -> Verification:
        with self.db.session() as s:
            person = store.get_person(s, external_id)
            if groups is not None and not group_store.groups_of_person(s, person.id) & groups:
                raise NotFoundError(f"no person with id '{external_id}'")  # as if unknown
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
