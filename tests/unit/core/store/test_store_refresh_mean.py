"""``refresh_mean``: the mean template after samples were deleted, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import delete, select

from facegate.core.store import people as store
from facegate.core.store.models import FaceTemplate, Person, TemplateSearchVector
from tests.store_backends import backend_url  # noqa: F401  (fixture)
from tests.unit.core.people.test_store_enrollment import Stack
from tests.unit.fake_pipeline import fake_image


@pytest.fixture
def stack(backend_url: str, tmp_path: Path) -> Stack:  # noqa: F811
    s = Stack(backend_url, tmp_path / "keys")
    s.db.upgrade()
    return s


def _drop_samples(stack: Stack, keep: int) -> None:
    """Delete all but the first ``keep`` samples of ann and refresh her mean, in one transaction."""
    with stack.db.session(write=True) as s:
        person = s.scalars(select(Person).where(Person.external_id == "ann")).one()
        ids = s.scalars(select(FaceTemplate.id).where(FaceTemplate.person_id == person.id,
                                                      FaceTemplate.is_mean.is_(False))
                        .order_by(FaceTemplate.id)).all()
        s.execute(delete(FaceTemplate).where(FaceTemplate.id.in_(ids[keep:])))
        store.refresh_mean(s, stack.cipher, person, "fake", "1", stack.db.is_postgres)


def test_mean_follows_the_remaining_samples(stack: Stack) -> None:
    stack.enroll.enroll("ann", [fake_image(1, variant=v) for v in (1, 2, 3)])
    _drop_samples(stack, keep=1)
    with stack.db.session() as s:
        pid = s.scalars(select(Person.id).where(Person.external_id == "ann")).one()
        samples = store.sample_vectors(s, stack.cipher, pid, "fake")
        mean = store.mean_vector(s, stack.cipher, pid, "fake")
        count = s.scalars(select(FaceTemplate.sample_count).where(FaceTemplate.is_mean.is_(True))).one()
    assert samples.shape[0] == 1 and count == 1 and mean is not None
    np.testing.assert_allclose(mean, samples[0] / np.linalg.norm(samples[0]), atol=1e-6)
    hits = stack.ident.identify_vectors(samples[:1])[0]  # the search sees the new mean
    assert hits[0].external_id == "ann" and hits[0].similarity == pytest.approx(1.0, abs=1e-5)


def test_no_sample_left_removes_the_mean_but_keeps_the_person(stack: Stack) -> None:
    stack.enroll.enroll("ann", [fake_image(1, variant=1)])
    stack.enroll.enroll("bob", [fake_image(2, variant=1)])
    probe = np.stack([stack.ident.pipeline.analyze(fake_image(1, variant=2)).faces[0].embedding.vector])
    assert stack.ident.identify_vectors(probe)[0][0].external_id == "ann"
    _drop_samples(stack, keep=0)
    with stack.db.session() as s:
        assert s.scalars(select(Person.external_id).order_by(Person.external_id)).all() == ["ann", "bob"]
        means = s.scalars(select(FaceTemplate).where(FaceTemplate.is_mean.is_(True))).all()
        assert len(means) == 1
        if stack.db.is_postgres:
            assert len(s.scalars(select(TemplateSearchVector)).all()) == 1
    assert [h.external_id for h in stack.ident.identify_vectors(probe)[0]] == ["bob"]
