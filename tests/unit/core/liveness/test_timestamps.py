"""The one parser of the frame ``timestamps`` form field (JSON array or comma-separated)."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from facegate.core.errors import FaceGateError
from facegate.core.liveness.challenge import FrameTimingError
from facegate.core.liveness.timestamps import MAX_TEXT, parse_timestamps

finite = st.floats(min_value=-1e12, max_value=1e12, allow_nan=False, allow_infinity=False)


@given(st.lists(finite, max_size=50))
def test_a_json_array_round_trips(values: list[float]) -> None:
    assert parse_timestamps(json.dumps(values), len(values)) == values


@given(st.lists(finite, min_size=1, max_size=50))
def test_comma_separated_numbers_round_trip(values: list[float]) -> None:
    assert parse_timestamps(",".join(repr(v) for v in values), len(values)) == values


@given(st.lists(st.integers(0, 10**9), min_size=1, max_size=20), st.integers(0, 25))
def test_the_count_must_match(values: list[int], count: int) -> None:
    text = json.dumps(values)
    if count == len(values):
        assert parse_timestamps(text, count) == [float(v) for v in values]
    else:
        with pytest.raises(FaceGateError, match=f"{len(values)} values for {count} frames"):
            parse_timestamps(text, count)


@given(st.text(max_size=200), st.integers(0, 5))
def test_any_text_is_parsed_or_refused_with_the_callers_error(text: str, count: int) -> None:
    try:
        values = parse_timestamps(text, count, error=FrameTimingError)
    except FrameTimingError as exc:
        assert exc.message.startswith("timestamps:")
    else:
        assert len(values) == count and all(math.isfinite(v) for v in values)


@given(st.recursive(st.none() | st.booleans() | st.text(max_size=5) | finite,
                    lambda inner: st.lists(inner, max_size=3), max_leaves=10))
def test_json_values_other_than_an_array_of_numbers_are_refused(value: object) -> None:
    numbers = isinstance(value, list) and all(
        isinstance(v, float) and not isinstance(v, bool) for v in value
    )
    text = json.dumps(value)
    if numbers:
        assert isinstance(value, list)
        assert parse_timestamps(text, len(value)) == value
    elif text.startswith("["):
        with pytest.raises(FaceGateError, match="JSON array"):
            parse_timestamps(text, 1)
    elif isinstance(value, float):  # a bare number: a comma-separated list of one
        assert parse_timestamps(text, 1) == [value]
    else:
        with pytest.raises(FaceGateError):
            parse_timestamps(text, 1)


@pytest.mark.parametrize("text", ["[NaN]", "[Infinity]", "[-Infinity]", "nan", "inf", "1e400", "[1e400]",
                                  "[true]", '["1"]', f"[{'9' * 5000}]"])
def test_non_finite_booleans_strings_and_huge_numbers_are_refused(text: str) -> None:
    with pytest.raises(FaceGateError):
        parse_timestamps(text, 1)


def test_the_field_name_and_error_class_come_from_the_caller() -> None:
    with pytest.raises(FrameTimingError, match=r"^timestamps_ms:"):
        parse_timestamps("0,x", 2, field="timestamps_ms", error=FrameTimingError)


def test_an_overlong_field_is_refused_before_parsing() -> None:
    with pytest.raises(FaceGateError, match="longer than"):
        parse_timestamps("1," * MAX_TEXT, MAX_TEXT)


def test_blank_text_is_zero_values() -> None:
    assert parse_timestamps("  ", 0) == []
    with pytest.raises(FaceGateError, match="0 values for 1 frames"):
        parse_timestamps("", 1)
