"""The gallery: the enrolled people as enrolment and identification both see them.

``Gallery`` bundles what both services need (the store, the face pipeline, the template cipher,
the search backend, the audit log and the image limits); the container builds ONE and hands it
to ``EnrollmentService`` and ``IdentificationService``, so an enrolment updates the very search
index identification reads.

Search backends (``TemplateSearch``):
- ``MemorySearch`` (SQLite, default): exact matrix product over an in-memory ``GalleryIndex`` per
  model, loaded on first use, updated in place after each enrol/delete of this process, and
  reloaded when the store's gallery revision moved (another worker changed it). The revision check
  is one primary-key lookup per search.
- ``PgVectorSearch`` (PostgreSQL): pgvector's cosine distance ``<=>`` over the HNSW index.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
from sqlalchemy import text

from facegate.core.domain import FloatArray
from facegate.core.matching.index import GalleryIndex, Hit
from facegate.core.store import people as store
from facegate.core.store.audit import AuditLog
from facegate.core.store.crypto import TemplateCipher
from facegate.core.store.db import Database
from facegate.core.vision.images import ImageLimits
from facegate.core.vision.pipeline import FacePipeline


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
class Gallery:
    """The enrolled people: where they are stored, how faces are embedded and searched."""

    db: Database
    pipeline: FacePipeline
    cipher: TemplateCipher
    search: TemplateSearch
    audit: AuditLog
    limits: ImageLimits

    @property
    def model(self) -> str:
        return self.pipeline.model_name


class OnGallery:
    """The gallery's parts as attributes of a service built on it."""

    gallery: Gallery

    @property
    def db(self) -> Database:
        return self.gallery.db

    @property
    def pipeline(self) -> FacePipeline:
        return self.gallery.pipeline

    @property
    def cipher(self) -> TemplateCipher:
        return self.gallery.cipher

    @property
    def search(self) -> TemplateSearch:
        return self.gallery.search

    @property
    def audit(self) -> AuditLog:
        return self.gallery.audit

    @property
    def limits(self) -> ImageLimits:
        return self.gallery.limits

    @property
    def model(self) -> str:
        return self.gallery.model
