from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from facegate.core.domain import Embedding
from facegate.core.errors import ModelMismatchError
from facegate.core.matching.similarity import compare_embeddings, cosine_similarity


def test_cosine_toy_vectors() -> None:
    assert cosine_similarity(np.array([1.0, 0.0]), np.array([1.0, 0.0])) == pytest.approx(1.0)
    assert cosine_similarity(np.array([1.0, 0.0]), np.array([0.0, 2.0])) == pytest.approx(0.0)
    assert cosine_similarity(np.array([1.0, 0.0]), np.array([-3.0, 0.0])) == pytest.approx(-1.0)
    assert cosine_similarity(np.zeros(2), np.array([1.0, 0.0])) == 0.0


def test_size_mismatch_refused() -> None:
    with pytest.raises(ValueError, match="different sizes"):
        cosine_similarity(np.ones(3), np.ones(4))


@given(
    arrays(np.float64, 8, elements=st.floats(-1e3, 1e3)),
    arrays(np.float64, 8, elements=st.floats(-1e3, 1e3)),
)
def test_cosine_bounded_and_symmetric(a: np.ndarray, b: np.ndarray) -> None:
    s = cosine_similarity(a, b)
    assert -1.0 <= s <= 1.0
    assert s == pytest.approx(cosine_similarity(b, a))


def test_decision_and_model_mismatch() -> None:
    a = Embedding(np.array([1.0, 0.0], dtype=np.float32), "sface")
    b = Embedding(np.array([0.8, 0.6], dtype=np.float32), "sface")
    c = compare_embeddings(a, b, threshold=0.7)
    assert c.same and c.decision == "SAME" and c.similarity == pytest.approx(0.8)
    assert not compare_embeddings(a, b, threshold=0.9).same
    with pytest.raises(ModelMismatchError):
        compare_embeddings(a, Embedding(b.vector, "dlib"), threshold=0.5)
