"""``FACEGATE_SEARCH_BACKEND``: exact in-memory search on PostgreSQL too, and a clear refusal of
pgvector on SQLite."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from facegate.app.bootstrap import Container
from facegate.core.errors import ConfigError
from facegate.core.people.identification import MemorySearch, PgVectorSearch
from facegate.core.settings import Settings
from tests.integration.store_helpers import image
from tests.store_backends import postgres_url


def _container(shared: Any, url: str, data: Path, backend: str) -> Container:
    c = Container(Settings(data_dir=data, database_url=url, search_backend=backend))  # type: ignore[arg-type]
    c.__dict__["pipeline"] = shared.pipeline
    c.prepare_store()
    return c


def test_memory_search_on_postgres_is_exact_and_follows_other_workers(
    shared_container: Any, tmp_path: Path, faces_dir: Path
) -> None:
    url = postgres_url()
    a = _container(shared_container, url, tmp_path / "a", "memory")
    b = _container(shared_container, url, tmp_path / "a", "memory")  # a second worker, same DB
    assert isinstance(a.identification.search, MemorySearch)
    a.enrollment.enroll("obama", [image(faces_dir, "people/obama/obama.jpg")], "Barack Obama")
    (r,) = b.identification.identify_image(image(faces_dir, "scenes/obama1.jpg"))
    assert r.known and r.best is not None and r.best.external_id == "obama"
    a.enrollment.enroll("biden", [image(faces_dir, "people/biden/biden.jpg")], "Joe Biden")
    results = b.identification.identify_image(image(faces_dir, "scenes/obama_and_biden.jpg"))
    labels = sorted(x.best.external_id if x.best else "unknown" for x in results)
    assert labels == ["biden", "obama", "unknown"]  # b reloaded after a's enrolment
    a.enrollment.remove_person("biden")
    results = b.identification.identify_image(image(faces_dir, "scenes/obama_and_biden.jpg"))
    assert sorted(x.best.external_id if x.best else "unknown" for x in results) == [
        "obama", "unknown", "unknown"
    ]
    for c in (a, b):
        c.shutdown()


def test_auto_picks_pgvector_on_postgres(tmp_path: Path) -> None:
    c = Container(Settings(data_dir=tmp_path / "d", database_url=postgres_url()))
    assert isinstance(c.template_search, PgVectorSearch)
    c.shutdown()


def test_pgvector_on_sqlite_is_refused(tmp_path: Path) -> None:
    c = Container(Settings(data_dir=tmp_path / "d", search_backend="pgvector"))
    with pytest.raises(ConfigError, match="needs a PostgreSQL database"):
        _ = c.template_search
