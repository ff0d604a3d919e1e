"""The compatible APIs' parsers: tolerant of what real clients send, strict about bad values."""

from __future__ import annotations

import base64
import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.requests import Request

from facegate.features.compat import inputs as q
from facegate.features.compat.auth import is_uuid


def req(query: str) -> Request:
    return Request({"type": "http", "method": "POST", "path": "/", "query_string": query.encode(),
                    "headers": []})


@pytest.mark.parametrize("query", ["", "limit=undefined", "?&limit=", "&&limit=null&", "limit=None"])
def test_unset_values_take_the_default(query: str) -> None:
    assert q.q_int(req(query.lstrip("?")), "limit", 7) == 7
    assert q.q_float(req(query.lstrip("?").replace("limit", "x")), "x", 0.5) == 0.5


@pytest.mark.parametrize(("value", "expected"), [("True", True), ("true", True), ("TRUE", True),
                                                 ("1", True), ("False", False), ("no", False)])
def test_status_is_case_insensitive(value: str, expected: bool) -> None:
    assert q.q_bool(req(f"&status={value}&"), "status") is expected


@pytest.mark.parametrize("value", ["-1", "1.5", "abc", "1e9"])
def test_bad_integers_are_refused(value: str) -> None:
    with pytest.raises(q.BadInput) as err:
        q.q_int(req(f"limit={value}"), "limit", 0)
    assert err.value.kind == "argument"


@pytest.mark.parametrize("value", ["1.01", "-0.1", "nan", "x"])
def test_bad_thresholds_are_refused(value: str) -> None:
    with pytest.raises(q.BadInput):
        q.q_float(req(f"det_prob_threshold={value}"), "det_prob_threshold", 0.0)


def test_plugins_accept_anything() -> None:
    assert q.q_plugins(req("face_plugins=undefined")) == frozenset()
    assert q.q_plugins(req("face_plugins=calculator,AGE,,pose")) == {"calculator", "age", "pose"}


@given(st.integers(min_value=0, max_value=1_000_000))
def test_int_roundtrip(n: int) -> None:
    assert q.q_int(req(f"&limit={n}"), "limit", 0) == n


@given(st.text(max_size=30))
def test_int_parser_never_crashes(text: str) -> None:
    from urllib.parse import quote

    try:
        n = q.q_int(req("limit=" + quote(text)), "limit", 3)
    except q.BadInput:
        return
    assert 0 <= n <= 1_000_000


@given(st.binary(min_size=1, max_size=300))
def test_base64_roundtrip_plain_urlsafe_and_data_url(data: bytes) -> None:
    plain = base64.b64encode(data).decode()
    assert q.decode_base64(plain) == data
    assert q.decode_base64("data:image/jpeg;base64," + plain) == data
    assert q.decode_base64(base64.urlsafe_b64encode(data).decode().rstrip("=")) == data


@pytest.mark.parametrize("text", ["not*base64*at*all", "%%%%", "a b c ~"])
def test_bad_base64_is_refused(text: str) -> None:
    with pytest.raises(q.BadInput) as err:
        q.decode_base64(text)
    assert err.value.kind == "base64"


@given(st.text(max_size=50))
def test_base64_parser_never_crashes(text: str) -> None:
    with contextlib.suppress(q.BadInput):
        q.decode_base64(text)


def test_uuid_keys() -> None:
    assert is_uuid("3f0e8c4e-5d7a-4b1e-9a55-2c6f7d8e9a01")
    assert is_uuid("3F0E8C4E-5D7A-4B1E-9A55-2C6F7D8E9A01")
    for bad in ("", "not-a-uuid", "3f0e8c4e5d7a4b1e9a552c6f7d8e9a01",
                "{3f0e8c4e-5d7a-4b1e-9a55-2c6f7d8e9a01}"):
        assert not is_uuid(bad)


@pytest.mark.parametrize(("raw", "expected"), [(None, 0.67), ("", 0.67), ("0.45", 0.45), ("1", 1.0),
                                               ("0", 0.0), ("undefined", 0.67)])
def test_deepstack_min_confidence(raw: str | None, expected: float) -> None:
    from starlette.datastructures import FormData

    from facegate.features.compat.deepstack import _min_confidence

    form = FormData([] if raw is None else [("min_confidence", raw)])
    assert _min_confidence(form, 0.67) == expected


@given(st.text(max_size=20))
def test_deepstack_min_confidence_parser(raw: str) -> None:
    from starlette.datastructures import FormData

    from facegate.features.compat.deepstack import _min_confidence

    try:
        value = _min_confidence(FormData([("min_confidence", raw)]), 0.5)
    except q.BadInput as exc:
        assert "min_confidence" in exc.message
        return
    assert 0.0 <= value <= 1.0
