"""1:N identify and 1:1 verify with the real models, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from facegate.core.errors import NotFoundError
from facegate.core.people.identification import MemorySearch, PgVectorSearch
from tests.integration.store_helpers import image, store_container
from tests.store_backends import BACKENDS, database_url

PEOPLE = {
    "obama": ["people/obama/obama.jpg", "people/obama/obama2.jpg"],
    "biden": ["people/biden/biden.jpg", "people/biden/biden2.jpg"],
    "kit_harington": ["people/kit_harington/john1.jpeg", "people/kit_harington/john2.jpeg"],
}


@pytest.fixture(scope="module", params=BACKENDS)
def c(request: pytest.FixtureRequest, shared_container: Any, tmp_path_factory: Any) -> Any:
    tmp = tmp_path_factory.mktemp(f"ident-{request.param}")
    container = store_container(shared_container, database_url(request.param, tmp), tmp / "d")
    return container


@pytest.fixture(scope="module")
def enrolled(c: Any, faces_dir: Path) -> Any:
    for ext, files in PEOPLE.items():
        c.enrollment.enroll(ext, [image(faces_dir, f) for f in files], ext.replace("_", " "))
    return c


def test_backend_search_is_the_documented_one(enrolled: Any) -> None:
    expected = PgVectorSearch if enrolled.database.is_postgres else MemorySearch
    assert isinstance(enrolled.identification.search, expected)


def test_identify_group_photo_known_and_unknown(enrolled: Any, faces_dir: Path) -> None:
    results = enrolled.identification.identify_image(image(faces_dir, "scenes/obama_and_biden.jpg"))
    labels = sorted(r.best.external_id if r.best else "unknown" for r in results)
    assert labels == ["biden", "obama", "unknown"]
    for r in results:
        assert r.threshold == pytest.approx(0.48)  # SFace's measured 1:N threshold
        assert len(r.candidates) == 3  # top-k is capped by the 3 enrolled people
        if r.known:
            assert r.candidates[0].similarity >= r.threshold


def test_identify_strangers_are_unknown(enrolled: Any, faces_dir: Path) -> None:
    results = enrolled.identification.identify_image(image(faces_dir, "scenes/bbt1.jpg"))
    assert len(results) == 4 and all(not r.known for r in results)


def test_identify_single_faces(enrolled: Any, faces_dir: Path) -> None:
    for rel, who in [("scenes/obama1.jpg", "obama"), ("scenes/johnsnow_test1.jpg", "kit_harington")]:
        (r,) = enrolled.identification.identify_image(image(faces_dir, rel))
        assert r.known and r.best.external_id == who, rel


def test_verify(enrolled: Any, faces_dir: Path) -> None:
    probe = image(faces_dir, "scenes/obama3.jpg")
    yes = enrolled.identification.verify("obama", probe, actor="t")
    no = enrolled.identification.verify("biden", probe, actor="t")
    assert yes.verified and not no.verified and yes.similarity > no.similarity
    # one claimed person: the 1:1 threshold (LFW pairs), not the stricter 1:N one
    assert yes.threshold == enrolled.match_threshold < enrolled.identification.threshold
    assert yes.threshold == pytest.approx(0.325)  # 1:1 keeps the pair threshold, not 1:N's 0.48
    with pytest.raises(NotFoundError):
        enrolled.identification.verify("nobody", probe)
    decisions = [e.decision for e in enrolled.audit.latest(3)]
    assert decisions == ["error", "denied", "granted"]
