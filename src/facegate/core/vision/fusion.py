"""Score-level fusion of several model packs, packed into one embedding.

A fusion embedding is the concatenation of each member's unit embedding scaled by ``sqrt(w_i)``,
with weights ``w_i ≥ 0`` summing to 1. Then for two fusion embeddings ``a`` and ``b``::

    a · b = Σ_i w_i · cos_i(a_i, b_i)     and     |a| = 1

so the plain cosine similarity FaceGate uses everywhere *is* the weighted sum of member
similarities: templates, 1:N search (one matrix product) and thresholds work unchanged. The weights
are learned by ``learn_fusion_weights`` (logistic regression on member similarities) on the LFW
training folds only; see ``facegate.research.eval.lfw``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from facegate.core.domain import FloatArray, ImageArray
from facegate.core.vision.embedder import FaceEmbedder


class FusionEmbedder:
    """Concatenates ``sqrt(w_i) · e_i`` of its members; dot product = weighted sum of cosines."""

    def __init__(self, name: str, members: Sequence[FaceEmbedder], weights: Sequence[float]) -> None:
        if len(members) < 2 or len(members) != len(weights):
            raise ValueError("fusion needs two or more members and one weight per member")
        w = np.asarray(weights, dtype=np.float64)
        if np.any(w < 0) or w.sum() <= 0:
            raise ValueError(f"fusion weights must be non-negative and not all zero: {list(weights)}")
        self.name = name
        self.members = tuple(members)
        self.weights = tuple(float(v) for v in w / w.sum())
        self._scales = np.sqrt(np.asarray(self.weights, dtype=np.float32))
        self.dim = sum(m.dim for m in members)
        self.input_size = max(m.input_size for m in members)

    def embed(self, aligned: ImageArray) -> FloatArray:
        parts = []
        for member, scale in zip(self.members, self._scales, strict=True):
            crop = aligned
            if crop.shape[0] != member.input_size:
                size = (member.input_size, member.input_size)
                crop = cv2.resize(aligned, size, interpolation=cv2.INTER_AREA)
            parts.append(member.embed(crop) * scale)
        return np.concatenate(parts).astype(np.float32)


@dataclass(frozen=True)
class FusionWeights:
    """Member weights (sum 1) and the logistic model's raw coefficients and bias."""

    weights: tuple[float, ...]
    coefficients: tuple[float, ...]
    bias: float


def learn_fusion_weights(
    similarities: np.ndarray, labels: np.ndarray, l2: float = 1e-3, iterations: int = 50
) -> FusionWeights:
    """Logistic regression ``P(same) = σ(b + Σ c_i s_i)`` fitted by Newton's method (IRLS).

    ``similarities`` is (pairs, members). The weights are the coefficients clipped at 0 and scaled
    to sum 1: the fused score ``Σ w_i s_i`` orders pairs exactly as the logistic model does (the
    bias and the common scale only move the threshold, which is chosen separately).
    """
    x = np.asarray(similarities, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] != len(labels) or x.shape[0] == 0:
        raise ValueError("similarities must be (pairs, members) with one label per pair")
    y = np.asarray(labels, dtype=np.float64)
    mu, sd = x.mean(axis=0), x.std(axis=0)
    sd[sd == 0] = 1.0
    z = np.hstack([np.ones((len(x), 1)), (x - mu) / sd])
    beta = np.zeros(z.shape[1])
    reg = np.full(z.shape[1], l2)
    reg[0] = 0.0
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(z @ beta, -30, 30)))
        grad = z.T @ (p - y) + reg * beta
        hess = (z * (p * (1 - p))[:, None]).T @ z + np.diag(reg) + 1e-9 * np.eye(len(beta))
        step = np.linalg.solve(hess, grad)
        beta -= step
        if float(np.abs(step).max()) < 1e-8:
            break
    coef = beta[1:] / sd
    bias = float(beta[0] - (beta[1:] * mu / sd).sum())
    clipped = np.clip(coef, 0.0, None)
    weights = clipped / clipped.sum() if clipped.sum() > 0 else np.full(len(coef), 1 / len(coef))
    return FusionWeights(tuple(float(v) for v in weights), tuple(float(v) for v in coef), bias)


def fuse_similarities(similarities: np.ndarray, weights: Sequence[float]) -> np.ndarray:
    """The fused score of each pair: ``Σ w_i s_i`` (what the dot product of fusion embeddings gives)."""
    return np.asarray(similarities, dtype=np.float64) @ np.asarray(weights, dtype=np.float64)
