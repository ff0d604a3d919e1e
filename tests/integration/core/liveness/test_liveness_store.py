"""Liveness sessions on both database backends (SQLite file and PostgreSQL via pgserver).

Fake measurer and pipeline (from the unit tests): this checks the store, the migration, the
optimistic lock and single use on each backend, not the vision.
"""

from __future__ import annotations

import secrets

import pytest

from facegate.core.errors import ConflictError
from facegate.core.store.crypto import KeyRing, TemplateCipher
from facegate.core.store.db import Database
from tests.store_backends import backend_url  # noqa: F401  (fixture)
from tests.unit.core.liveness.test_liveness_service import OPEN, Clock, live, make_service, pass_session


def test_pass_consume_and_conflict_on_each_backend(backend_url: str) -> None:  # noqa: F811
    db = Database(backend_url)
    db.upgrade()
    try:
        cipher = TemplateCipher(KeyRing("k1", {"k1": secrets.token_bytes(32)}, "env"))
        clock = Clock()
        service, measurer = make_service(db, cipher, clock=clock)
        other, _ = make_service(db, cipher, clock=clock)
        s = service.create_session()
        measurer.hook = lambda: live(other, clock, s.id, OPEN, 0)
        with pytest.raises(ConflictError):
            live(service, clock, s.id, OPEN, 0)
        done = pass_session(other, clock, s.id, t=400)
        assert done.status == "passed", done.reason
        proof = service.consume_passed(s.id)
        assert proof.embedding.dim == 8
        with pytest.raises(ConflictError):
            other.consume_passed(s.id)
    finally:
        db.dispose()
