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

Groups: every search can be limited to the people of some groups (``groups``; None: everyone). The
memory backend scores only the rows of those groups (``GalleryIndex`` keeps one mask per group).
pgvector 0.6 filters HNSW results only after the graph walk, so a small selection would come back
short: when the groups hold at most ``exact_max`` people the search is an exact scan of their rows
(found through the ``person_groups`` index), otherwise the HNSW walk with a membership filter,
falling back to the exact scan when the filter left fewer than ``k`` rows. Measured in
docs/benchmarks.md (1:N in a group). Callers' credentials (``Principal.groups``) limit the groups
a request may name (``allowed_groups``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from sqlalchemy import func, select, text

from facegate.core.auth.principal import Principal
from facegate.core.domain import FloatArray
from facegate.core.errors import PermissionDeniedError
from facegate.core.matching.index import GalleryIndex, Hit
from facegate.core.store import groups as group_store
from facegate.core.store import people as store
from facegate.core.store.audit import AuditLog
from facegate.core.store.crypto import TemplateCipher
from facegate.core.store.db import Database
from facegate.core.store.models import Group, PersonGroup
from facegate.core.vision.images import ImageLimits
from facegate.core.vision.pipeline import FacePipeline

DEFAULT_EXACT_MAX = 20_000
Groups = frozenset[str] | None


def allowed_groups(requested: Groups, principal: Principal | None) -> Groups:
    """The groups a request searches: the ones it names, within the credential's groups.

    Naming a group outside ``principal.groups`` is refused (403); naming none searches every
    group the credential may see (None: all)."""
    limit = principal.groups if principal is not None else None
    if requested is None:
        return limit
    if limit is not None and not requested <= limit:
        outside = ", ".join(sorted(requested - limit))
        raise PermissionDeniedError(f"this credential may not use group(s): {outside}")
    return requested


class TemplateSearch(Protocol):
    """Finds the most similar enrolled people (mean templates) for probe embeddings."""

    def search(
        self, vectors: FloatArray, model: str, k: int, groups: Groups = None
    ) -> list[list[Hit]]: ...

    def note_upsert(
        self, model: str, person_id: int, external_id: str, display_name: str,
        vector: FloatArray, revision: int, groups: frozenset[str] | None = None,
    ) -> None: ...

    def note_remove(self, model: str, person_id: int, revision: int) -> None: ...

    def note_groups(
        self, model: str, person_id: int, groups: frozenset[str], revision: int
    ) -> None: ...


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
                member = group_store.groups_of_people(s)
                index.replace_all(
                    rows.person_ids, rows.external_ids, rows.display_names, rows.vectors,
                    rows.revision, [member.get(int(p), frozenset()) for p in rows.person_ids],
                )
                self.reloads += 1
        return index

    def search(
        self, vectors: FloatArray, model: str, k: int, groups: Groups = None
    ) -> list[list[Hit]]:
        return self.gallery(model).search(vectors, k, groups)

    def note_upsert(
        self, model: str, person_id: int, external_id: str, display_name: str,
        vector: FloatArray, revision: int, groups: frozenset[str] | None = None,
    ) -> None:
        index = self._galleries.get(model)
        if index is not None and index.revision == revision - 1:
            index.upsert(person_id, external_id, display_name, vector, groups)
            index.revision = revision

    def note_remove(self, model: str, person_id: int, revision: int) -> None:
        index = self._galleries.get(model)
        if index is not None and index.revision == revision - 1:
            index.remove(person_id)
            index.revision = revision

    def note_groups(
        self, model: str, person_id: int, groups: frozenset[str], revision: int
    ) -> None:
        index = self._galleries.get(model)
        if index is not None and index.revision == revision - 1:
            index.set_groups(person_id, groups)
            index.revision = revision


class PgVectorSearch:
    """pgvector HNSW search (cosine) on PostgreSQL; nothing is kept in memory."""

    def __init__(self, db: Database, ef_search: int = 400, exact_max: int = DEFAULT_EXACT_MAX) -> None:
        self.db = db
        self.ef_search = ef_search
        self.exact_max = exact_max
        self.exact_scans = 0  # searches answered by the exact scan of a group's rows

    def search(
        self, vectors: FloatArray, model: str, k: int, groups: Groups = None
    ) -> list[list[Hit]]:
        q = np.asarray(vectors, dtype=np.float32)
        if q.ndim == 1:
            q = q.reshape(1, -1)
        dim = int(q.shape[1])
        out = []
        with self.db.session() as s:
            gids: list[int] = []
            exact = False
            if groups is not None:
                gids = list(s.scalars(select(Group.id).where(Group.name.in_(sorted(groups)))))
                if not gids:
                    return [[] for _ in range(q.shape[0])]
                exact = self._members(s, gids, self.exact_max + 1) <= self.exact_max
            ef = max(int(self.ef_search), k)
            s.execute(text(f"SET LOCAL hnsw.ef_search = {ef}"))
            if exact:  # a thousand index lookups: starting parallel workers costs more
                s.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))
            for row in q:
                params = {"q": _literal(row), "model": model, "k": k, "gids": gids}
                rows = [] if exact else s.execute(_pg_query(dim, bool(gids), False), params).all()
                if gids and len(rows) < k:
                    rows = s.execute(_pg_query(dim, True, True), params).all()
                    self.exact_scans += 1
                out.append([Hit(int(r[0]), r[1], r[2], float(r[3])) for r in rows])
        return out

    @staticmethod
    def _members(s: Any, gids: list[int], cap: int) -> int:
        """Memberships of the groups, counted up to ``cap`` (a bounded index range scan)."""
        rows = select(PersonGroup.person_id).where(PersonGroup.group_id.in_(gids)).limit(cap)
        return int(s.scalar(select(func.count()).select_from(rows.subquery())) or 0)

    def note_upsert(
        self, model: str, person_id: int, external_id: str, display_name: str,
        vector: FloatArray, revision: int, groups: frozenset[str] | None = None,
    ) -> None:
        """Nothing to do: the search vector row was written in the enrolment transaction."""

    def note_remove(self, model: str, person_id: int, revision: int) -> None:
        """Nothing to do: the row went with the person (cascade)."""

    def note_groups(
        self, model: str, person_id: int, groups: frozenset[str], revision: int
    ) -> None:
        """Nothing to do: memberships are read by every search."""


def _literal(row: np.ndarray) -> str:
    return "[" + ",".join(f"{float(x):.8g}" for x in row) + "]"


def _pg_query(dim: int, filtered: bool, exact: bool) -> Any:
    """Top-k by cosine distance: over the HNSW graph (``exact`` False; ``filtered`` adds the
    membership filter on its output) or an exact scan of the members' rows (a materialised
    CTE, so the planner cannot turn it back into a short filtered graph walk). The exact scan
    looks each member up (a correlated subquery: always index lookups, never a scan of the whole
    table) through its mean template's id, the partition key, so every lookup probes one
    partition's primary key instead of all 16 person_id indexes."""
    dist = f"v.embedding::vector({dim}) <=> CAST(:q AS vector({dim}))"
    member = (
        "v.person_id IN (SELECT pg.person_id FROM person_groups pg "
        "WHERE pg.group_id = ANY(:gids))"
    )
    where = f"v.dim = {dim} AND v.model = :model"
    if exact:  # per member (index): mean template → its search row by the partition key
        return text(
            "WITH c AS MATERIALIZED (SELECT m.person_id, (SELECT "
            f"{dist} FROM face_templates t JOIN template_search_vectors v ON v.template_id = t.id "
            f"WHERE t.person_id = m.person_id AND t.is_mean AND t.model = :model AND {where}) AS d "
            "FROM person_groups m WHERE m.group_id = ANY(:gids)), "  # (group_id, person_id) index
            "top AS (SELECT DISTINCT person_id, d FROM c WHERE d IS NOT NULL ORDER BY d LIMIT :k) "
            "SELECT p.id, p.external_id, p.display_name, 1 - top.d FROM top JOIN people p "
            "ON p.id = top.person_id ORDER BY top.d"
        )
    if filtered:
        where += f" AND {member}"
    return text(
        f"SELECT p.id, p.external_id, p.display_name, 1 - ({dist}) AS similarity "
        f"FROM template_search_vectors v JOIN people p ON p.id = v.person_id "
        f"WHERE {where} ORDER BY {dist} LIMIT :k"
    )


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
