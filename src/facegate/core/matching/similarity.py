"""Comparing embeddings: cosine similarity (higher = more alike) and the SAME/DIFFERENT decision."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facegate.core.domain import Embedding
from facegate.core.errors import ModelMismatchError


@dataclass(frozen=True)
class Comparison:
    similarity: float
    threshold: float
    same: bool

    @property
    def decision(self) -> str:
        return "SAME" if self.same else "DIFFERENT"


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
