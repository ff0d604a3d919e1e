"""Domain errors carry codes; the HTTP layer's one table (core.http.HTTP_STATUS) gives the status."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import facegate
from facegate.core.errors import FaceGateError, PermissionDeniedError
from facegate.core.http import HTTP_STATUS, http_status


def _all_error_classes() -> list[type[FaceGateError]]:
    for info in pkgutil.walk_packages(facegate.__path__, "facegate."):
        if ".migrations" in info.name or info.name.endswith("__main__"):
            continue
        importlib.import_module(info.name)
    found: list[type[FaceGateError]] = []
    todo: list[type[FaceGateError]] = [FaceGateError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return found


def test_every_error_code_has_a_status_and_no_error_carries_one() -> None:
    classes = [c for c in _all_error_classes() if c.__module__.startswith("facegate.")]
    assert len(classes) > 20
    for cls in classes:
        assert "http_status" not in vars(cls), f"{cls.__qualname__} sets an HTTP status"
        code = vars(cls).get("code")
        if code is not None:
            assert code in HTTP_STATUS, f"{cls.__qualname__}: code {code!r} missing from HTTP_STATUS"


def test_subclass_without_an_entry_answers_like_its_base() -> None:
    class Odd(PermissionDeniedError):
        code = "odd_one_out"

    assert http_status(Odd("x")) == 403
    assert http_status(FaceGateError("x")) == 400


@pytest.mark.parametrize(("code", "status"), [("not_found", 404), ("rate_limited", 429)])
def test_table_entries(code: str, status: int) -> None:
    assert HTTP_STATUS[code] == status
