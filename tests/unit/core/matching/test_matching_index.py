"""GalleryIndex: exact top-k equals brute force; in-place upsert/remove keep rows consistent."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from facegate.core.matching.index import GalleryIndex, top_k


def _unit(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    m = rng.standard_normal((n, d)).astype(np.float32)
    return m / np.linalg.norm(m, axis=1, keepdims=True)


def _index(vectors: np.ndarray, first_id: int = 1) -> GalleryIndex:
    ids = np.arange(first_id, first_id + len(vectors))
    g = GalleryIndex()
    g.replace_all(ids, [f"p{i}" for i in ids], [f"P {i}" for i in ids], vectors, revision=1)
    return g


def test_top_k_orders_best_first_and_clamps() -> None:
    s = np.array([0.1, 0.9, 0.5, 0.7], dtype=np.float32)
    assert top_k(s, 2).tolist() == [1, 3]
    assert top_k(s, 10).tolist() == [1, 3, 2, 0]
    assert top_k(s, 0).tolist() == []


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(70_000, 140_000),
    k=st.integers(1, 20),
    seed=st.integers(0, 10_000),
    ties=st.booleans(),
)
def test_top_k_block_prefilter_equals_full_sort(n: int, k: int, seed: int, ties: bool) -> None:
    """Large inputs take the block-max path; it must give exactly the stable full sort's answer."""
    rng = np.random.default_rng(seed)
    scores = rng.standard_normal(n).astype(np.float32)
    if ties:  # coarse values: many equal scores, also at the k-th place
        scores = np.round(scores * 4) / 4
    expected = np.argsort(-scores, kind="stable")[:k]
    assert top_k(scores, k).tolist() == expected.tolist()


def test_top_k_block_prefilter_when_best_scores_share_a_block() -> None:
    scores = np.zeros(200_000, dtype=np.float32)
    scores[1000:1010] = np.arange(10, 0, -1)  # the 10 best all in one block
    scores[150_000] = 0.5
    assert top_k(scores, 11).tolist() == [*range(1000, 1010), 150_000]


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 60), k=st.integers(1, 8), seed=st.integers(0, 10_000))
def test_search_equals_brute_force(n: int, k: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    gallery, probes = _unit(rng, n, 16), _unit(rng, 3, 16)
    hits = _index(gallery).search(probes, k)
    scores = probes @ gallery.T
    for i, row in enumerate(hits):
        expected = np.sort(scores[i])[::-1][: min(k, n)]
        np.testing.assert_allclose([h.similarity for h in row], expected, rtol=1e-5, atol=1e-6)
        assert row[0].person_id == int(np.argmax(scores[i])) + 1


def test_probe_of_an_enrolled_vector_finds_itself() -> None:
    rng = np.random.default_rng(1)
    gallery = _unit(rng, 100, 32)
    hits = _index(gallery).search(gallery[[7, 42]] * 3.0, 1)  # unnormalised probes are normalised
    assert [h[0].external_id for h in hits] == ["p8", "p43"]
    assert hits[0][0].similarity == pytest.approx(1.0, abs=1e-5)


def test_upsert_and_remove_match_a_rebuilt_index() -> None:
    rng = np.random.default_rng(2)
    vecs = _unit(rng, 40, 8)
    g = GalleryIndex()
    for i, v in enumerate(vecs):
        g.upsert(i, f"p{i}", f"P{i}", v)
    for i in (0, 39, 17, 5):
        assert g.remove(i)
    assert not g.remove(17)
    new = _unit(rng, 1, 8)[0]
    g.upsert(3, "p3", "P3", new)  # replace in place
    keep = [i for i in range(40) if i not in (0, 39, 17, 5)]
    expected = vecs.copy()
    expected[3] = new
    probes = _unit(rng, 5, 8)
    got = g.search(probes, 40)
    for i, row in enumerate(got):
        assert len(row) == len(keep) == len(g)
        want = sorted(((float(expected[j] @ probes[i]), j) for j in keep), reverse=True)
        assert [h.person_id for h in row] == [j for _, j in want]


def test_empty_gallery_and_wrong_dimension() -> None:
    g = GalleryIndex()
    assert g.search(np.ones((2, 4), dtype=np.float32), 3) == [[], []]
    g.upsert(1, "a", "A", np.ones(4, dtype=np.float32))
    with pytest.raises(ValueError, match="gallery holds 4"):
        g.search(np.ones((1, 5), dtype=np.float32), 1)
    with pytest.raises(ValueError, match="gallery holds 4"):
        g.upsert(2, "b", "B", np.ones(5, dtype=np.float32))
