"""1:1 verify and 1:N identify against the enrolled people.

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

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from sqlalchemy import func, select, text

from facegate.core.auth.principal import Principal
from facegate.core.domain import AnalyzedFace, AuditEvent, Candidate, FloatArray, Identification, ImageArray
from facegate.core.errors import FaceGateError, NoFaceError, NotFoundError, PermissionDeniedError
from facegate.core.matching.index import GalleryIndex, Hit
from facegate.core.matching.similarity import cosine_similarity
from facegate.core.store import groups as group_store
from facegate.core.store import people as store
from facegate.core.store.audit import AuditLog
from facegate.core.store.crypto import TemplateCipher
from facegate.core.store.db import Database
from facegate.core.store.models import Group, PersonGroup
from facegate.core.vision.images import ImageLimits, decode_labeled
from facegate.core.vision.pipeline import FaceChoice, FacePipeline

DEFAULT_TOP_K = 5
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
    ) -> None:
        self.db = db
        self.pipeline = pipeline
        self.cipher = cipher
        self.search = search
        self.audit = audit
        self.limits = limits
        self.threshold = threshold
        self.top_k = top_k

    @property
    def model(self) -> str:
        return self.pipeline.model_name

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
            threshold=self.threshold,
            verified=sim >= self.threshold,
            face=face,
            faces_found=count,
            model=self.model,
        )
