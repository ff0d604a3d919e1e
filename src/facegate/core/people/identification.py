"""1:1 verify and 1:N identify against the enrolled people.

Search backends (``TemplateSearch``):
- ``MemorySearch`` (SQLite, default): exact matrix product over an in-memory ``GalleryIndex`` per
  model, loaded on first use, updated in place after each enrol/delete of this process, and
  reloaded when the store's gallery revision moved (another worker changed it). The revision check
  is one primary-key lookup per search.
- ``PgVectorSearch`` (PostgreSQL): pgvector's cosine distance ``<=>`` over the HNSW index.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from sqlalchemy import text

from facegate.core.domain import AnalyzedFace, AuditEvent, Candidate, FloatArray, Identification, ImageArray
from facegate.core.errors import FaceGateError, NoFaceError, NotFoundError
from facegate.core.matching.index import GalleryIndex, Hit
from facegate.core.matching.similarity import cosine_similarity
from facegate.core.store import people as store
from facegate.core.store.audit import AuditLog
from facegate.core.store.crypto import TemplateCipher
from facegate.core.store.db import Database
from facegate.core.vision.images import ImageLimits, decode_labeled
from facegate.core.vision.pipeline import FaceChoice, FacePipeline

DEFAULT_TOP_K = 5


class TemplateSearch(Protocol):
    """Finds the most similar enrolled people (mean templates) for probe embeddings."""

    def search(self, vectors: FloatArray, model: str, k: int) -> list[list[Hit]]: ...

    def note_upsert(
        self, model: str, person_id: int, external_id: str, display_name: str,
        vector: FloatArray, revision: int,
    ) -> None: ...

    def note_remove(self, model: str, person_id: int, revision: int) -> None: ...


class MemorySearch:
    """Exact search over in-memory galleries kept in sync with the store's revision counter."""

    def __init__(self, db: Database, cipher: TemplateCipher) -> None:
        self.db = db
        self.cipher = cipher
        self._galleries: dict[str, GalleryIndex] = {}
        self.reloads = 0

    def gallery(self, model: str) -> GalleryIndex:
        """The model's gallery, reloaded from the store if another process changed it."""
        index = self._galleries.setdefault(model, GalleryIndex())
        with self.db.session() as s:
            revision = store.current_revision(s, model)
            if revision != index.revision:
                rows = store.load_gallery(s, self.cipher, model)
                index.replace_all(
                    rows.person_ids, rows.external_ids, rows.display_names, rows.vectors,
                    rows.revision,
                )
                self.reloads += 1
        return index

    def search(self, vectors: FloatArray, model: str, k: int) -> list[list[Hit]]:
        return self.gallery(model).search(vectors, k)

    def note_upsert(
        self, model: str, person_id: int, external_id: str, display_name: str,
        vector: FloatArray, revision: int,
    ) -> None:
        index = self._galleries.get(model)
        if index is not None and index.revision == revision - 1:
            index.upsert(person_id, external_id, display_name, vector)
            index.revision = revision

    def note_remove(self, model: str, person_id: int, revision: int) -> None:
        index = self._galleries.get(model)
        if index is not None and index.revision == revision - 1:
            index.remove(person_id)
            index.revision = revision


class PgVectorSearch:
    """pgvector HNSW search (cosine) on PostgreSQL; nothing is kept in memory."""

    def __init__(self, db: Database, ef_search: int = 400) -> None:
        self.db = db
        self.ef_search = ef_search

    def search(self, vectors: FloatArray, model: str, k: int) -> list[list[Hit]]:
        q = np.asarray(vectors, dtype=np.float32)
        if q.ndim == 1:
            q = q.reshape(1, -1)
        dim = int(q.shape[1])
        stmt = text(
            f"SELECT p.id, p.external_id, p.display_name, "
            f"1 - (v.embedding::vector({dim}) <=> CAST(:q AS vector({dim}))) AS similarity "
            "FROM template_search_vectors v JOIN people p ON p.id = v.person_id "
            f"WHERE v.dim = {dim} AND v.model = :model "
            f"ORDER BY v.embedding::vector({dim}) <=> CAST(:q AS vector({dim})) LIMIT :k"
        )
        out = []
        with self.db.session() as s:
            s.execute(text(f"SET LOCAL hnsw.ef_search = {max(int(self.ef_search), k)}"))
            for row in q:
                literal = "[" + ",".join(f"{float(x):.8g}" for x in row) + "]"
                rows = s.execute(stmt, {"q": literal, "model": model, "k": k}).all()
                out.append([Hit(int(r[0]), r[1], r[2], float(r[3])) for r in rows])
        return out

    def note_upsert(
        self, model: str, person_id: int, external_id: str, display_name: str,
        vector: FloatArray, revision: int,
    ) -> None:
        """Nothing to do: the search vector row was written in the enrolment transaction."""

    def note_remove(self, model: str, person_id: int, revision: int) -> None:
        """Nothing to do: the row went with the person (cascade)."""


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


class IdentificationService:
    def __init__(
        self,
        db: Database,
        pipeline: FacePipeline,
        cipher: TemplateCipher,
        search: TemplateSearch,
        audit: AuditLog,
        limits: ImageLimits,
        threshold: float,
        top_k: int = DEFAULT_TOP_K,
        verify_threshold: float | None = None,
    ) -> None:
        self.db = db
        self.pipeline = pipeline
        self.cipher = cipher
        self.search = search
        self.audit = audit
        self.limits = limits
        self.threshold = threshold  # 1:N ("known")
        self.verify_threshold = threshold if verify_threshold is None else verify_threshold  # 1:1
        self.top_k = top_k

    @property
    def model(self) -> str:
        return self.pipeline.model_name

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
