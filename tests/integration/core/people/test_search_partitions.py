"""PostgreSQL search vectors are hash-partitioned (migration 0007): one HNSW graph per partition,
searched together, rows kept across upgrade and downgrade."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import text

from facegate.core.people.identification import PgVectorSearch
from facegate.core.store.db import Database
from tests.store_backends import postgres_url

DIM = 128
N = 3000


def _fill(db: Database, vectors: np.ndarray) -> None:
    with db.session(write=True) as s:
        for i, v in enumerate(vectors, 1):
            s.execute(text(
                "INSERT INTO people (id, external_id, display_name, created_at, updated_at) "
                "VALUES (:i, :e, :e, now(), now())"), {"i": i, "e": f"p{i}"})
            s.execute(text(
                "INSERT INTO face_templates (id, person_id, model, model_version, dim, is_mean, "
                "sample_count, key_id, ciphertext, source, created_at) "
                "VALUES (:i, :i, 'm', '1', :d, true, 1, 'k', '\\x00', 'mean', now())"),
                {"i": i, "d": DIM})
            s.execute(text(
                "INSERT INTO template_search_vectors (template_id, person_id, model, dim, embedding) "
                "VALUES (:i, :i, 'm', :d, CAST(:v AS vector))"),
                {"i": i, "d": DIM, "v": "[" + ",".join(f"{x:.6f}" for x in v) + "]"})


def _count(db: Database, sql: str) -> int:
    with db.session() as s:
        return int(s.execute(text(sql)).scalar_one())


@pytest.fixture(scope="module")
def filled() -> tuple[Database, np.ndarray]:
    db = Database(postgres_url())
    db.upgrade()
    rng = np.random.default_rng(7)
    vectors = rng.standard_normal((N, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    _fill(db, vectors)
    return db, vectors


def test_search_table_is_partitioned_with_an_hnsw_graph_per_partition(
    filled: tuple[Database, np.ndarray],
) -> None:
    db, _ = filled
    parts = _count(db, "SELECT count(*) FROM pg_inherits "
                       "WHERE inhparent = 'template_search_vectors'::regclass")
    assert parts == 16
    graphs = _count(db, "SELECT count(*) FROM pg_indexes WHERE tablename LIKE 'template_search_vectors_p%' "
                        "AND indexdef LIKE '%USING hnsw%'")
    assert graphs == 16 * 2  # 128-d and 512-d
    per_part = _count(db, "SELECT min(c) FROM (SELECT count(*) AS c FROM template_search_vectors "
                          "GROUP BY tableoid) t")
    assert per_part > N / 16 / 2  # hashing spreads the rows


def test_search_uses_every_partition_graph_and_finds_the_nearest(
    filled: tuple[Database, np.ndarray],
) -> None:
    db, vectors = filled
    rng = np.random.default_rng(8)
    targets = rng.integers(0, N, 40)
    noise = rng.standard_normal((40, DIM)).astype(np.float32)
    probes = vectors[targets] + 0.8 * noise / np.linalg.norm(noise, axis=1, keepdims=True)
    probes /= np.linalg.norm(probes, axis=1, keepdims=True)
    exact = np.argmax(probes @ vectors.T, axis=1) + 1
    hits = PgVectorSearch(db, ef_search=100).search(probes, "m", 3)
    assert [h[0].person_id for h in hits] == exact.tolist()
    assert all(h[0].similarity >= h[1].similarity >= h[2].similarity for h in hits)
    with db.session() as s:  # the plan: ordered HNSW scans of the partitions, merged under LIMIT
        s.execute(text("SET LOCAL enable_seqscan = off"))
        q = "[" + ",".join(f"{x:.6f}" for x in probes[0]) + "]"
        plan = "\n".join(r[0] for r in s.execute(text(
            f"EXPLAIN SELECT template_id FROM template_search_vectors WHERE dim = {DIM} "
            f"ORDER BY embedding::vector({DIM}) <=> CAST('{q}' AS vector({DIM})) LIMIT 5")))
    assert "Merge Append" in plan and plan.count("Index Scan using") == 16, plan


def test_downgrade_and_upgrade_keep_every_row(filled: tuple[Database, np.ndarray]) -> None:
    from alembic import command

    db, vectors = filled
    with db.engine.connect() as conn:
        command.downgrade(db.alembic_config(conn), "0006_face_images")
    assert _count(db, "SELECT count(*) FROM pg_inherits "
                      "WHERE inhparent = 'template_search_vectors'::regclass") == 0
    assert _count(db, "SELECT count(*) FROM template_search_vectors") == N
    db.upgrade()
    assert _count(db, "SELECT count(*) FROM template_search_vectors") == N
    hits = PgVectorSearch(db).search(vectors[:5], "m", 1)
    assert [h[0].person_id for h in hits] == [1, 2, 3, 4, 5]
    with db.session(write=True) as s:  # cascades still reach the partitions
        s.execute(text("DELETE FROM people WHERE id = 1"))
    assert _count(db, "SELECT count(*) FROM template_search_vectors") == N - 1
