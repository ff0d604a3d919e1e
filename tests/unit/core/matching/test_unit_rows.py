"""The one L2 normalisation (``unit_rows``) that templates, galleries and embedders share."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from facegate.core.matching.similarity import unit_rows, unit_vector

rows = arrays(np.float64, st.tuples(st.integers(1, 6), st.integers(1, 16)),
              elements=st.just(0.0) | st.floats(1e-3, 1e6) | st.floats(-1e6, -1e-3))


@given(rows)
def test_rows_become_unit_length_or_stay_zero(m: np.ndarray) -> None:
    out = unit_rows(m, np.float64)
    norms = np.linalg.norm(out, axis=1)
    for row, norm in zip(m, norms, strict=True):
        assert abs(norm - 1.0) < 1e-9 if row.any() else norm == 0.0


@given(rows)
def test_the_direction_is_kept(m: np.ndarray) -> None:
    out = unit_rows(m, np.float64)
    assert np.all(np.sign(out) == np.sign(m) * (np.linalg.norm(m, axis=1, keepdims=True) > 0))


def test_a_vector_is_one_row_and_float32_by_default() -> None:
    v = unit_vector(np.array([3.0, 4.0]))
    assert v.dtype == np.float32 and v.shape == (2,) and np.allclose(v, [0.6, 0.8])
    assert unit_rows(np.array([0.0, 0.0])).tolist() == [[0.0, 0.0]]
    assert np.isnan(unit_rows(np.array([np.nan, 1.0]))).any()  # non-finite rows are not scaled
