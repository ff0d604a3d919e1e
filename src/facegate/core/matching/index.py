"""Exact 1:N search: an in-memory matrix of normalised templates and a matrix product.

``GalleryIndex`` holds one row per person (their mean template). A search is ``probes @ rows.T``
followed by a partial sort; rows are stored float32 (exact) and can be updated one by one
(enrol/delete) without reloading. Each row also carries its person's groups (one boolean mask per
group): a search limited to groups scores only the selected rows (gathered when they are few,
masked when they are many), so a 1k-person group of a 100k gallery costs a 1k product. It knows
nothing of the database: ``revision`` is set by the owner (``facegate.core.people.identification``)
which compares it with the store's counter.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from facegate.core.domain import FloatArray
from facegate.core.matching.similarity import unit_rows


@dataclass(frozen=True)
class Hit:
    """Row ``person_id`` scored ``similarity`` against one probe."""

    person_id: int
    external_id: str
    display_name: str
    similarity: float


def normalize_rows(matrix: np.ndarray) -> FloatArray:
    return unit_rows(np.asarray(matrix, dtype=np.float32))


_BLOCK = 256  # scores per block in the block-max prefilter of ``top_k``
_DIRECT_MAX = 1 << 16  # up to this many scores a plain ``argpartition`` is as fast


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` largest scores, best first (exact; ties keep index order).

    Over large galleries a full ``argpartition`` costs as much as the matrix product itself
    (~10 ms for 1M scores here), so it first takes the maximum of each block of ``_BLOCK``
    scores: the k-th largest block maximum ``L`` is a lower bound of the k-th largest score (k
    blocks each hold a score ≥ ``L``), hence every top-k score is ≥ ``L`` and only those few
    candidates are sorted. The answer is the same as a full sort's.
    """
    n = scores.shape[0]
    if n == 0 or k <= 0:
        return np.zeros(0, dtype=np.int64)
    k = min(k, n)
    blocks = n // _BLOCK
    if n <= _DIRECT_MAX or blocks < 4 * k:
        idx = np.argpartition(-scores, k - 1)[:k] if k < n else np.arange(n)
        return idx[np.lexsort((idx, -scores[idx]))]
    block_max = scores[: blocks * _BLOCK].reshape(blocks, _BLOCK).max(axis=1)
    bound = np.partition(block_max, blocks - k)[blocks - k]
    cand = np.flatnonzero(scores >= bound)
    order = np.lexsort((cand, -scores[cand]))[:k]
    return cand[order]


class GalleryIndex:
    """Thread-safe, growable matrix of unit vectors with their people."""

    def __init__(self, dim: int = 0) -> None:
        self._lock = threading.RLock()
        self.dim = dim
        self._matrix = np.zeros((0, dim), dtype=np.float32)
        self._size = 0
        self._person_ids = np.zeros(0, dtype=np.int64)
        self._external_ids: list[str] = []
        self._names: list[str] = []
        self._row_of: dict[int, int] = {}
        self._masks: dict[str, np.ndarray] = {}  # group → bool per row (capacity-sized)
        self.revision = -1

    def __len__(self) -> int:
        return self._size

    @property
    def nbytes(self) -> int:
        return int(self._matrix.nbytes + self._person_ids.nbytes)

    def replace_all(
        self,
        person_ids: np.ndarray,
        external_ids: list[str],
        display_names: list[str],
        vectors: np.ndarray,
        revision: int,
        groups: Sequence[Iterable[str]] | None = None,
    ) -> None:
        """Load a whole gallery at once (start, or after another process changed the store).

        ``groups``: row i's group names (None: no row is in any group)."""
        n = len(person_ids)
        mat = normalize_rows(vectors) if n else np.zeros((0, self.dim), dtype=np.float32)
        masks: dict[str, np.ndarray] = {}
        for i, names in enumerate(groups or ()):
            for g in names:
                masks.setdefault(g, np.zeros(n, dtype=bool))[i] = True
        with self._lock:
            self._masks = masks
            self.dim = int(mat.shape[1]) if n else self.dim
            self._matrix = np.ascontiguousarray(mat)
            self._size = n
            self._person_ids = np.asarray(person_ids, dtype=np.int64).copy()
            self._external_ids = list(external_ids)
            self._names = list(display_names)
            self._row_of = {int(p): i for i, p in enumerate(self._person_ids)}
            self.revision = revision

    def upsert(
        self,
        person_id: int,
        external_id: str,
        display_name: str,
        vector: np.ndarray,
        groups: Iterable[str] | None = None,
    ) -> None:
        """Add or replace a person's row; ``groups`` None keeps the row's groups."""
        vec = normalize_rows(vector)[0]
        with self._lock:
            if self._size == 0 and self.dim != vec.shape[0]:
                self.dim = int(vec.shape[0])
                self._matrix = np.zeros((0, self.dim), dtype=np.float32)
            if vec.shape[0] != self.dim:
                raise ValueError(f"vector has {vec.shape[0]} values, gallery holds {self.dim}")
            row = self._row_of.get(person_id)
            if row is None:
                row = self._size
                self._grow(row + 1)
                self._person_ids[row] = person_id
                self._external_ids.append(external_id)
                self._names.append(display_name)
                self._row_of[person_id] = row
                self._size += 1
            self._matrix[row] = vec
            self._external_ids[row] = external_id
            self._names[row] = display_name
            if groups is not None:
                self._set_groups_at(row, groups)

    def set_groups(self, person_id: int, groups: Iterable[str]) -> bool:
        """Replace a person's groups; False when the person has no row."""
        with self._lock:
            row = self._row_of.get(person_id)
            if row is None:
                return False
            self._set_groups_at(row, groups)
            return True

    def groups_of(self, person_id: int) -> frozenset[str]:
        with self._lock:
            row = self._row_of.get(person_id)
            if row is None:
                return frozenset()
            return frozenset(g for g, m in self._masks.items() if m[row])

    def _set_groups_at(self, row: int, groups: Iterable[str]) -> None:
        wanted = set(groups)
        for g, m in self._masks.items():
            m[row] = g in wanted
        cap = self._matrix.shape[0]
        for g in wanted - self._masks.keys():
            m = np.zeros(cap, dtype=bool)
            m[row] = True
            self._masks[g] = m

    def remove(self, person_id: int) -> bool:
        """Drop a person's row (the last row moves into its place)."""
        with self._lock:
            row = self._row_of.pop(person_id, None)
            if row is None:
                return False
            last = self._size - 1
            if row != last:
                self._matrix[row] = self._matrix[last]
                moved = int(self._person_ids[last])
                self._person_ids[row] = moved
                self._external_ids[row] = self._external_ids[last]
                self._names[row] = self._names[last]
                self._row_of[moved] = row
                for m in self._masks.values():
                    m[row] = m[last]
            for m in self._masks.values():
                m[last] = False
            self._external_ids.pop()
            self._names.pop()
            self._size -= 1
            return True

    def search(
        self, probes: np.ndarray, k: int = 5, groups: Iterable[str] | None = None
    ) -> list[list[Hit]]:
        """The ``k`` most similar people for each probe row, best first.

        ``groups``: only people of at least one of these groups (None: everyone)."""
        q = normalize_rows(probes)
        with self._lock:
            rows = self._selected_rows(groups)
            n = self._size if rows is None else int(rows.shape[0])
            if n == 0:
                return [[] for _ in range(q.shape[0])]
            if q.shape[1] != self.dim:
                raise ValueError(f"probe has {q.shape[1]} values, gallery holds {self.dim}")
            if rows is None:
                scores = q @ self._matrix[: self._size].T
            else:  # gather the selected rows (few), or a masked full product (many)
                scores = q @ self._matrix[rows].T if 4 * n < self._size else (
                    (q @ self._matrix[: self._size].T)[:, rows]
                )
            out = []
            for i in range(q.shape[0]):
                idx = top_k(scores[i], k)
                cols = idx if rows is None else rows[idx]
                out.append(
                    [
                        Hit(
                            int(self._person_ids[j]),
                            self._external_ids[j],
                            self._names[j],
                            float(scores[i, c]),
                        )
                        for j, c in zip(cols, idx, strict=True)
                    ]
                )
            return out

    def _selected_rows(self, groups: Iterable[str] | None) -> np.ndarray | None:
        """Row indices of the members of ``groups`` (None: every row, unfiltered)."""
        if groups is None:
            return None
        mask = np.zeros(self._size, dtype=bool)
        for g in set(groups):
            m = self._masks.get(g)
            if m is not None:
                mask |= m[: self._size]
        return np.flatnonzero(mask)

    def _grow(self, needed: int) -> None:
        cap = self._matrix.shape[0]
        if needed <= cap:
            return
        new_cap = max(needed, cap * 2, 16)
        mat = np.zeros((new_cap, self.dim), dtype=np.float32)
        mat[: self._size] = self._matrix[: self._size]
        ids = np.zeros(new_cap, dtype=np.int64)
        ids[: self._size] = self._person_ids[: self._size]
        self._matrix, self._person_ids = mat, ids
        for g, m in list(self._masks.items()):
            grown = np.zeros(new_cap, dtype=bool)
            keep = min(m.shape[0], new_cap)
            grown[:keep] = m[:keep]
            self._masks[g] = grown
