"""Schemathesis against the in-process app's /openapi.json: every operation gets generated valid
and invalid requests; there must be no server error and every response must conform to the
schema (declared status, content type, body, headers). Bounded: ``FACEGATE_FUZZ_EXAMPLES`` per
operation and mode (default 40: about a minute on 2 loaded cores, 1,685 requests). The
credential header comes from the ``fuzz_headers`` fixture (``FACEGATE_FUZZ_AUTHORIZATION``), so
a real API key can be plugged in."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable

schemathesis = pytest.importorskip("schemathesis")

from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from facegate.app.bootstrap import Container  # noqa: E402
from facegate.app.http import create_app  # noqa: E402
from facegate.core.auth.sessions import STAGE_FULL  # noqa: E402
from facegate.core.settings import Settings  # noqa: E402
from tests.auth_helpers import make_key  # noqa: E402

EXAMPLES = int(os.environ.get("FACEGATE_FUZZ_EXAMPLES", "40"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, response_headers_conformance]
STATUSES: Counter[int] = Counter()


@pytest.fixture(scope="module")
def app_and_staff(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, dict[str, str]]]:
    """The app (rate limits off, so generated requests reach the handlers; 429s are tested
    elsewhere) and the cookie + CSRF header of a logged-in administrator, so the staff
    operations are fuzzed past their login check too."""
    data = tmp_path_factory.mktemp("fuzz") / "data"
    container = Container(Settings(data_dir=data, rate_limit_enabled=False, preload=False))
    container.prepare_store()
    container.accounts.create_admin("fuzzadmin", "correct horse battery staple")
    admin = container.accounts.get_account("fuzzadmin")
    token, session = container.auth.sessions.create_session(admin.id, STAGE_FULL, "testclient")
    key = make_key(container, "admin", "fuzz-admin-7f3c")  # a real key: requests reach handlers
    app = create_app(container.settings, container=container)
    with TestClient(app):  # runs the lifespan
        yield app, {"Cookie": f"fg_session={token}", "X-CSRF-Token": session.csrf_token,
                    "Authorization": f"Bearer {key}"}


@pytest.fixture(scope="module")
def fuzz_headers(app_and_staff: tuple[Any, dict[str, str]]) -> dict[str, str]:
    """Headers every fuzzed request carries: an admin key and a web admin session (or the
    ``Authorization`` value in ``FACEGATE_FUZZ_AUTHORIZATION``)."""
    headers = dict(app_and_staff[1])
    if os.environ.get("FACEGATE_FUZZ_AUTHORIZATION"):
        headers["Authorization"] = os.environ["FACEGATE_FUZZ_AUTHORIZATION"]
    return headers


@pytest.fixture(scope="module")
def api_schema(app_and_staff: tuple[Any, dict[str, str]]) -> Any:
    return schemathesis.openapi.from_asgi("/openapi.json", app_and_staff[0])


def _fuzz_operation(operation: Any, mode: Any, headers: dict[str, str]) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck),
              database=None, derandomize=True)
    def run(case: Any) -> None:
        response = case.call_and_validate(headers=headers, checks=CHECKS)
        STATUSES[response.status_code] += 1

    run()


def _describe(exc: BaseException) -> str:
    inner = getattr(exc, "exceptions", None)
    text = str(exc) if not inner else "; ".join(f"{type(e).__name__}: {e}" for e in inner)
    return text[:1500]


def test_api_answers_conform_and_never_500(
    api_schema: Any, fuzz_headers: dict[str, str], request: pytest.FixtureRequest
) -> None:
    """(schemathesis' pytest plugin does not run on pytest 9: the operations are driven here.)"""
    from schemathesis.generation import GenerationMode

    failures: list[str] = []
    operations = [r.ok() for r in api_schema.get_all_operations()]
    assert len(operations) >= 20
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                _fuzz_operation(operation, mode, fuzz_headers)
            except Unsatisfiable:  # no invalid request exists (e.g. no parameters at all)
                continue
            except (Exception, BaseExceptionGroup) as exc:  # collect; report every operation
                failures.append(f"{operation.label} [{mode.value}]: {_describe(exc)}")
    total = sum(STATUSES.values())
    errors = sum(n for code, n in STATUSES.items() if code >= 500)
    line = (f"schemathesis: {len(operations)} operations, {total} conforming responses, "
            f"{len(failures)} failing operations, {errors} server errors; statuses "
            f"{dict(sorted(STATUSES.items()))}")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if capture is not None:
        with capture.global_and_fixture_disabled():
            print("\n" + line, flush=True)
    assert not failures, "\n\n".join(failures)
    assert total > 0 and errors == 0
    assert STATUSES[401] < total / 10  # the requests got past authentication to the handlers
