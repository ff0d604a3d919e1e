"""Hypothesis on every form/JSON parser: timestamps, ids, keys, dates, paging. Each either returns
a well-formed value or raises its own FaceGate error (a 4xx), never anything else (a 500)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from facegate.app.http import create_app
from facegate.core.errors import FaceGateError
from facegate.core.liveness.timestamps import parse_timestamps
from facegate.core.settings import Settings
from facegate.core.store.people import check_external_id
from facegate.core.web.deps import parse_utc
from facegate.features.lockers.api import _timestamps as locker_timestamps
from facegate.features.lockers.keys import normalize_key
from tests.auth_helpers import admin_headers
from tests.store_backends import backend_url  # noqa: F401 (fixture)

NUMBERS = st.one_of(
    st.integers(-(2**70), 2**70), st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["NaN", "Infinity", "-Infinity", "1e999", "-0", "0x10", "", " ", "1,,2"]),
)
TEXT = st.text(max_size=200)


@given(st.lists(NUMBERS, max_size=8).map(lambda xs: ",".join(str(x) for x in xs)) | TEXT,
       st.integers(0, 8))
def test_liveness_timestamps_json(text: str, count: int) -> None:
    for candidate in (text, f"[{text}]"):
        try:
            values = parse_timestamps(candidate, count)
        except FaceGateError:
            continue
        assert len(values) == count and all(math.isfinite(v) for v in values)


@given(st.lists(NUMBERS, max_size=8).map(lambda xs: ",".join(str(x) for x in xs)) | TEXT,
       st.integers(0, 8))
def test_locker_timestamps_form(text: str, count: int) -> None:
    try:
        values = locker_timestamps(text, count)
    except FaceGateError:
        return
    if values is not None:
        assert len(values) == count and all(math.isfinite(v) for v in values)


@given(TEXT, st.integers(6, 12))
def test_locker_keys(text: str, digits: int) -> None:
    try:
        key = normalize_key(text, digits)
    except FaceGateError:
        return
    assert key.isascii() and key.isdigit() and len(key) == digits


@given(TEXT)
def test_external_ids(text: str) -> None:
    try:
        value = check_external_id(text)
    except ValueError:
        return
    assert value and value == value.strip() and len(value) <= 200


@given(TEXT | st.datetimes().map(lambda d: d.isoformat()))
def test_dates(text: str) -> None:
    try:
        value = parse_utc(text, "when")
    except FaceGateError:
        return
    assert value is None or value.tzinfo is not None


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    data: Path = tmp_path_factory.mktemp("paging") / "data"
    with TestClient(create_app(Settings(data_dir=data, rate_limit_enabled=False))) as c:
        c.headers.update(admin_headers(c.app.state.container))  # every /v1 route needs a key
        yield c


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(limit=st.integers(-(2**70), 2**70) | TEXT, offset=st.integers(-(2**70), 2**70) | TEXT)
def test_paging_never_fails_on_the_server(client: TestClient, limit: object, offset: object) -> None:
    r = client.get("/v1/people", params={"limit": str(limit), "offset": str(offset)})
    assert r.status_code in (200, 422), r.text
    if r.status_code == 422:
        assert r.json()["error"]["code"] == "invalid_request"


@pytest.fixture
def staff_client(backend_url: str, tmp_path: Path) -> Iterator[TestClient]:  # noqa: F811
    from facegate.app.bootstrap import Container
    from facegate.core.auth.sessions import STAGE_FULL

    c = Container(Settings(data_dir=tmp_path / "data", database_url=backend_url,
                           rate_limit_enabled=False))
    c.prepare_store()
    c.accounts.create_admin("boss", "correct horse battery")
    token, _ = c.auth.sessions.create_session(c.accounts.get_account("boss").id, STAGE_FULL, "t")
    with TestClient(create_app(c.settings, container=c), follow_redirects=False) as client:
        client.cookies.set("fg_session", token)
        client.headers.update(admin_headers(c))
        yield client
    c.shutdown()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=st.integers(2**31, 2**80) | st.integers(-(2**80), -1))
def test_out_of_range_ids_are_422_on_both_backends(staff_client: TestClient, n: int) -> None:
    for url in (f"/v1/lockers/{n}", f"/v1/lockers/1/history?limit={n}", f"/elections/{n}",
                f"/kiosk/lockers/admin?locker={n}"):
        r = staff_client.get(url)
        assert r.status_code in (400, 404, 422), (url, r.status_code, r.text)
