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
from tests.unit.core.liveness.test_liveness_service import BLINK, OPEN, make_service, timed


def test_pass_consume_and_conflict_on_each_backend(backend_url: str) -> None:  # noqa: F811
    db = Database(backend_url)
    db.upgrade()
    try:
        cipher = TemplateCipher(KeyRing("k1", {"k1": secrets.token_bytes(32)}, "env"))
        service, measurer = make_service(db, cipher)
        other, _ = make_service(db, cipher)
        s = service.create_session()
        measurer.hook = lambda: other.add_frames(s.id, timed(OPEN))
        with pytest.raises(ConflictError):
            service.add_frames(s.id, timed(OPEN))
        done = other.add_frames(s.id, timed(BLINK + OPEN, start=400))
        assert done.status == "passed", done.reason
        proof = service.consume_passed(s.id)
        assert proof.embedding.dim == 8
        with pytest.raises(ConflictError):
            other.consume_passed(s.id)
    finally:
        db.dispose()
