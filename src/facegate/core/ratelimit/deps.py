"""FastAPI dependencies that routes add: ``dependencies=[rate_limit("recognition")]``.

Callers are keyed twice, each counted on its own: by credential (a hash of the ``X-API-Key`` or
``Authorization`` header, when one is sent) and by client address. The keys never hold the secret
itself, only a truncated SHA-256 of it."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

from fastapi import Depends, Request

from facegate.core.errors import FaceGateError
from facegate.core.http import get_container
from facegate.core.ratelimit import models as _models  # noqa: F401 (registers the table)

CREDENTIAL_HEADERS = ("x-api-key", "authorization")


def client_address(request: Request) -> str:
    """The peer address (proxies' X-Forwarded-For is not trusted)."""
    return (request.client.host if request.client else "unknown")[:64]


def caller_keys(request: Request) -> list[str]:
    """``addr:<ip>`` and, when a credential header is sent, ``cred:<sha256 prefix>``."""
    keys = [f"addr:{client_address(request)}"]
    for header in CREDENTIAL_HEADERS:
        value = request.headers.get(header)
        if value:
            digest = hashlib.sha256(value.encode("utf-8", "replace")).hexdigest()[:32]
            keys.append(f"cred:{digest}")
            break
    return keys


def rate_limit(rule: str) -> Any:
    """A dependency counting every request of the caller under ``rule`` (429 when passed)."""

    def check(request: Request) -> None:  # sync: FastAPI runs it in the thread pool
        get_container(request).rate_limits.hit(rule, caller_keys(request))

    check.__name__ = f"rate_limit_{rule}"
    return Depends(check)


def guess_limit(
    rule: str, caller_rule: str, target_rule: str, target_param: str,
    code: str, reasons: frozenset[str],
) -> Any:
    """For secrets that can be guessed (locker keys): every attempt counts under ``rule`` per
    caller; a FAILED attempt (an error with ``code`` and one of ``reasons``) counts under
    ``caller_rule`` for the caller and under ``target_rule`` for the target (the path parameter
    ``target_param``). A caller or target past its failure limit gets 429 before the secret is
    even checked, so a stranger throttles themself (and, briefly, the target), never burns it."""

    def check(request: Request) -> Iterator[None]:
        limits = get_container(request).rate_limits
        callers = caller_keys(request)
        target = [f"{target_param}:{str(request.path_params.get(target_param, ''))[:64]}"]
        limits.hit(rule, callers)
        limits.ensure(caller_rule, callers)
        limits.ensure(target_rule, target)
        try:
            yield
        except FaceGateError as exc:
            if exc.code == code and getattr(exc, "reason", None) in reasons:
                limits.record(caller_rule, callers)
                limits.record(target_rule, target)
            raise

    check.__name__ = f"guess_limit_{rule}"
    return Depends(check)
