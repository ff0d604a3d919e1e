"""Enrolment, verify and identify on both backends, with a model-free pipeline.

Checks the store's guarantees: one transaction per enrolment (failures leave nothing), exactly one
face per image, quality reasons, mean template, encrypted rows, revision-based gallery sync between
"processes", pgvector search on PostgreSQL, erasure, audit lines, key rotation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import func, select

from facegate.core.errors import ConflictError, FaceQualityError, NoFaceError, NotFoundError
from facegate.core.people.enrollment import EnrollImage, EnrollmentService, EnrollMode
from facegate.core.people.gallery import Gallery
from facegate.core.people.identification import (
    IdentificationService,
    MemorySearch,
    PgVectorSearch,
    TemplateSearch,
)
from facegate.core.store import people as store
from facegate.core.store.audit import AuditLog, AuditQuery
from facegate.core.store.crypto import KeyStore, TemplateCipher
from facegate.core.store.db import Database
from facegate.core.store.keys import rotate_template_keys
from facegate.core.store.models import FaceTemplate, Person, TemplateSearchVector
from facegate.core.vision.images import ImageLimits
from tests.store_backends import backend_url, pg_url  # noqa: F401  (fixtures)
from tests.unit.fake_pipeline import FakePipeline, fake_image, person_vector

THRESHOLD = 0.5


class Stack:
    """What a Container builds, on a given database (one per simulated process)."""

    def __init__(self, url: str, keys: Path, pg_search: bool | None = None) -> None:
        self.db = Database(url)
        self.keystore = KeyStore(keys)
        self.cipher = TemplateCipher(self.keystore.load())
        use_pg = self.db.is_postgres if pg_search is None else pg_search
        self.search: TemplateSearch = (
            PgVectorSearch(self.db) if use_pg else MemorySearch(self.db, self.cipher)
        )
        self.audit = AuditLog(self.db)
        pipe: Any = FakePipeline()
        gallery = Gallery(self.db, pipe, self.cipher, self.search, self.audit, ImageLimits())
        self.enroll = EnrollmentService(gallery)
        self.ident = IdentificationService(gallery, THRESHOLD, top_k=3)


@pytest.fixture
def stack(backend_url: str, tmp_path: Path) -> Stack:  # noqa: F811
    s = Stack(backend_url, tmp_path / "keys")
    s.db.upgrade()
    return s


def _count(db: Database, model: type) -> int:
    with db.session() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def test_enrol_stores_encrypted_samples_and_a_normalised_mean(stack: Stack) -> None:
    r = stack.enroll.enroll("ann", [fake_image(1, variant=v) for v in (1, 2, 3)], "Ann A")
    assert r.created and len(r.accepted) == 3 and not r.rejected
    assert r.person.sample_count == 3 and r.person.display_name == "Ann A"
    with stack.db.session() as s:
        rows = s.scalars(select(FaceTemplate).order_by(FaceTemplate.id)).all()
        assert [t.is_mean for t in rows] == [False, False, False, True]
        assert rows[-1].sample_count == 3
        for t in rows:  # no plaintext float32 embedding in the stored blob
            plain = store.sample_vectors(s, stack.cipher, t.person_id, "fake")
            assert all(v.astype("<f4").tobytes() not in t.ciphertext for v in plain)
        mean = store.mean_vector(s, stack.cipher, rows[0].person_id, "fake")
        samples = store.sample_vectors(s, stack.cipher, rows[0].person_id, "fake")
    assert mean is not None
    expected = samples.mean(axis=0)
    np.testing.assert_allclose(mean, expected / np.linalg.norm(expected), atol=1e-6)
    if stack.db.is_postgres:  # the plaintext search copy exists for the mean template only
        assert _count(stack.db, TemplateSearchVector) == 1


def test_reenrolment_adds_samples_and_updates_the_mean(stack: Stack) -> None:
    stack.enroll.enroll("ann", [fake_image(1, variant=1)])
    r = stack.enroll.enroll("ann", [fake_image(1, variant=2), fake_image(1, variant=3)])
    assert not r.created and r.person.sample_count == 3
    with stack.db.session() as s:
        means = s.scalars(select(FaceTemplate).where(FaceTemplate.is_mean.is_(True))).all()
        assert len(means) == 1 and means[0].sample_count == 3


def test_rejections_carry_reasons_and_good_images_are_kept(stack: Stack) -> None:
    imgs = [fake_image(1), fake_image(1, faces=2), fake_image(1, faces=0),
            fake_image(1, blurry=True)]
    r = stack.enroll.enroll("ann", [EnrollImage(im, f"i{n}") for n, im in enumerate(imgs)])
    assert [o.label for o in r.accepted] == ["i0"]
    reasons = {o.label: o.reason for o in r.rejected}
    assert reasons["i1"] == "2 faces found; enrolment needs exactly one"
    assert reasons["i2"] == "no face found"
    assert "too blurry" in (reasons["i3"] or "")


def test_enrolment_with_no_usable_face_leaves_nothing(stack: Stack) -> None:
    with pytest.raises(FaceQualityError) as exc:
        stack.enroll.enroll("ann", [fake_image(1, faces=3), fake_image(1, blurry=True)])
    assert len(exc.value.reasons) == 2 and "3 faces found" in exc.value.reasons[0]
    assert _count(stack.db, Person) == 0 and _count(stack.db, FaceTemplate) == 0
    refused = stack.audit.query(AuditQuery(action="enroll"))
    assert [e.decision for e in refused] == ["refused"]


def test_failure_inside_the_transaction_leaves_nothing(stack: Stack) -> None:
    def explode(*_: object) -> None:
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        stack.enroll.enroll("ann", [fake_image(1)], session_hook=explode)
    assert _count(stack.db, Person) == 0 and _count(stack.db, FaceTemplate) == 0
    with stack.db.session() as s:
        assert store.current_revision(s, "fake") == 0


def test_modes_conflict_and_not_found(stack: Stack) -> None:
    stack.enroll.enroll("ann", [fake_image(1)], mode=EnrollMode.CREATE)
    with pytest.raises(ConflictError):
        stack.enroll.enroll("ann", [fake_image(1)], mode=EnrollMode.CREATE)
    with pytest.raises(NotFoundError):
        stack.enroll.enroll("bob", [fake_image(2)], mode=EnrollMode.ADD)
    with pytest.raises(FaceQualityError, match="no images given"):  # never a face-less person
        stack.enroll.enroll("carl", [], mode=EnrollMode.CREATE)
    with pytest.raises(FaceQualityError, match="no face found"):
        stack.enroll.enroll("carl", [fake_image(3, faces=0)], mode=EnrollMode.CREATE)
    assert _count(stack.db, Person) == 1


def test_identify_known_unknown_and_topk(stack: Stack) -> None:
    for p in (1, 2, 3, 4):
        stack.enroll.enroll(f"p{p}", [fake_image(p, variant=1), fake_image(p, variant=2)])
    two = fake_image(2, faces=2, variant=9)  # faces: person 2 and person 3
    res = stack.ident.identify_image(two, actor="test")
    assert [r.label for r in res] == ["p2", "p3"]
    assert len(res[0].candidates) == 3
    sims = [c.similarity for c in res[0].candidates]
    assert sims == sorted(sims, reverse=True) and sims[0] > THRESHOLD
    stranger = stack.ident.identify_image(fake_image(50))
    assert not stranger[0].known and stranger[0].label == "unknown"
    assert stranger[0].candidates[0].similarity < THRESHOLD
    assert stack.ident.identify_image(fake_image(1, faces=0)) == []
    decisions = [e.decision for e in stack.audit.query(AuditQuery(action="identify"))]
    assert decisions == ["no_face", "unknown", "known", "known"]


def test_verify_person(stack: Stack) -> None:
    stack.enroll.enroll("ann", [fake_image(1, variant=1)])
    stack.enroll.enroll("bob", [fake_image(2, variant=1)])
    ok = stack.ident.verify("ann", fake_image(1, variant=7))
    assert ok.verified and ok.decision == "granted" and ok.similarity > 0.9
    no = stack.ident.verify("bob", fake_image(1, variant=7))
    assert not no.verified and no.decision == "denied"
    with pytest.raises(NotFoundError):
        stack.ident.verify("nobody", fake_image(1))
    with pytest.raises(NoFaceError):
        stack.ident.verify("ann", fake_image(1, faces=0))
    with stack.db.session(write=True) as s:  # a person row without templates (older data)
        store.create_person(s, "carl")
    with pytest.raises(NotFoundError, match="no face templates"):
        stack.ident.verify("carl", fake_image(3))
    log = stack.audit.query(AuditQuery(action="verify"))
    assert [e.decision for e in log] == ["error", "error", "error", "denied", "granted"]
    assert log[-1].subject == "ann" and log[-1].score == pytest.approx(ok.similarity)


def test_remove_erases_everything_and_search_forgets(stack: Stack) -> None:
    stack.enroll.enroll("ann", [fake_image(1, variant=1), fake_image(1, variant=2)])
    stack.enroll.enroll("bob", [fake_image(2, variant=1)])
    assert stack.ident.identify_image(fake_image(1))[0].label == "ann"
    info = stack.enroll.remove_person("ann")
    assert info.sample_count == 2
    with pytest.raises(NotFoundError):
        stack.enroll.remove_person("ann")
    with stack.db.session() as s:
        assert s.scalar(select(func.count()).select_from(FaceTemplate)) == 2  # bob: sample+mean
        if stack.db.is_postgres:
            assert s.scalar(select(func.count()).select_from(TemplateSearchVector)) == 1
    assert stack.ident.identify_image(fake_image(1))[0].label == "unknown"


def test_other_process_changes_are_seen(backend_url: str, tmp_path: Path) -> None:  # noqa: F811
    """Two stacks on one database (like two server workers), each with its own memory index."""
    a = Stack(backend_url, tmp_path / "keys", pg_search=False)
    a.db.upgrade()
    b = Stack(backend_url, tmp_path / "keys", pg_search=False)
    a.enroll.enroll("ann", [fake_image(1)])
    assert b.ident.identify_image(fake_image(1))[0].label == "ann"  # b loads the gallery
    b.enroll.enroll("bob", [fake_image(2)])
    assert a.ident.identify_image(fake_image(2))[0].label == "bob"  # a reloads: revision moved
    a.enroll.remove_person("bob")
    assert b.ident.identify_image(fake_image(2))[0].label == "unknown"
    reloads = b.search.reloads  # type: ignore[attr-defined]
    b.ident.identify_image(fake_image(1))
    assert b.search.reloads == reloads  # type: ignore[attr-defined]  # unchanged: no reload


def test_removing_a_faceless_person_does_not_hide_another_workers_change(
    backend_url: str, tmp_path: Path  # noqa: F811
) -> None:
    """Removing a person without templates bumps no revision, so it must not mark the memory
    index current: another worker's removal (already counted in the revision) would stay hidden
    (found by the CompreFace client suite: a deleted subject kept matching new enrolments)."""
    a = Stack(backend_url, tmp_path / "keys", pg_search=False)
    a.db.upgrade()
    b = Stack(backend_url, tmp_path / "keys", pg_search=False)
    a.enroll.enroll("ann", [fake_image(1)])
    assert a.ident.identify_image(fake_image(1))[0].label == "ann"  # a's index is loaded
    b.enroll.remove_person("ann")  # another worker: the revision moves, a's index is stale
    with a.db.session(write=True) as s:
        store.create_person(s, "carl")  # a person without faces (a CompreFace subject)
    a.enroll.remove_person("carl")
    assert a.ident.identify_image(fake_image(1))[0].label == "unknown"


def test_pgvector_search_agrees_with_exact_search(pg_url: str, tmp_path: Path) -> None:  # noqa: F811
    stack = Stack(pg_url, tmp_path / "keys")
    stack.db.upgrade()
    assert isinstance(stack.search, PgVectorSearch)
    for p in range(30):
        stack.enroll.enroll(f"p{p}", [fake_image(p, variant=1)])
    exact = MemorySearch(stack.db, stack.cipher)
    probes = np.stack([person_vector(p) for p in range(0, 30, 3)])
    pg = stack.search.search(probes, "fake", 3)
    ex = exact.search(probes, "fake", 3)
    for a, b in zip(pg, ex, strict=True):
        assert [h.external_id for h in a] == [h.external_id for h in b]
        np.testing.assert_allclose([h.similarity for h in a], [h.similarity for h in b], atol=1e-5)


def test_key_rotation_reencrypts_everything(stack: Stack, tmp_path: Path) -> None:
    stack.enroll.enroll("ann", [fake_image(1, variant=1), fake_image(1, variant=2)])
    old_id = stack.cipher.current_key_id
    result = rotate_template_keys(stack.db, stack.keystore, batch=2)
    assert result.reencrypted == 3 and result.new_key_id != old_id
    assert result.removed_key_files == (old_id,)
    fresh = Stack(str(stack.db.url.render_as_string(hide_password=False)), tmp_path / "keys")
    with fresh.db.session() as s:
        assert store.key_ids_in_use(s) == {result.new_key_id}
    assert fresh.ident.verify("ann", fake_image(1, variant=5)).verified
    # the old cipher lost its key file: a new process cannot read old blobs any more
    assert set(fresh.cipher.ring.keys) == {result.new_key_id}
