"""Comparing embeddings: cosine similarity (higher = more alike) and the SAME/DIFFERENT decision."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facegate.core.domain import Embedding, FloatArray
from facegate.core.errors import ModelMismatchError


@dataclass(frozen=True)
class Comparison:
    similarity: float
    threshold: float
    same: bool

    @property
    def decision(self) -> str:
        return "SAME" if self.same else "DIFFERENT"


def unit_rows(matrix: np.ndarray, dtype: type[np.floating] = np.float32) -> FloatArray:
    """The one L2 normalisation: each row (a 1-D vector is one row) scaled to unit length.

    Computed in the input's precision (float64 stays float64), returned as ``dtype``; an
    all-zero or non-finite row is returned unscaled.
    """
    m = np.asarray(matrix)
    if not np.issubdtype(m.dtype, np.floating):
        m = m.astype(np.float32)
    if m.ndim == 1:
        m = m.reshape(1, -1)
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    safe = np.where((norms > 0) & np.isfinite(norms), norms, 1.0)
    return np.asarray(m / safe, dtype=dtype)


def unit_vector(vector: np.ndarray) -> FloatArray:
    """One vector scaled to unit length (float32, flat); see ``unit_rows``."""
    return unit_rows(np.asarray(vector).reshape(-1))[0]


def cosine_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine of the angle between two vectors, in [-1, 1]; 0.0 if either is all zeros."""
    va = np.asarray(a, dtype=np.float64).reshape(-1)
    vb = np.asarray(b, dtype=np.float64).reshape(-1)
    if va.shape != vb.shape:
        raise ValueError(f"embeddings have different sizes: {va.shape[0]} and {vb.shape[0]}")
    na, nb = float(np.linalg.norm(va)), float(np.linalg.norm(vb))
    if na == 0.0 or nb == 0.0:
        return 0.0
    return float(np.clip(va @ vb / (na * nb), -1.0, 1.0))


def compare_embeddings(a: Embedding, b: Embedding, threshold: float) -> Comparison:
    """Compare two embeddings of the same model; refuse to mix models."""
    if a.model != b.model:
        raise ModelMismatchError(
            f"cannot compare an embedding of model '{a.model}' with one of model '{b.model}'"
        )
    sim = cosine_similarity(a.vector, b.vector)
    return Comparison(similarity=sim, threshold=threshold, same=sim >= threshold)
