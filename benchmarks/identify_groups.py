"""1:N limited to a group: exact in-memory and pgvector, at --size templates (default 100k).

    nice -n 10 python benchmarks/identify_groups.py --size 100000 --queries 100

Synthetic 128-d unit vectors (SFace size); every person is in ``everyone``, the first
``--small`` (1k) also in ``g1k`` and the first ``--large`` (50k) in ``g50k``. Probes are rows of the
group perturbed to a cosine of ~0.6 (a genuine-looking probe); the answer must be the probe's own
row. Exact = ``GalleryIndex.search(groups=...)`` (what ``MemorySearch`` runs); pgvector =
``PgVectorSearch`` on the product's schema (migration 0007's 16 hash partitions, HNSW m=16,
ef_construction=64, ef_search 400) with ``person_groups`` rows from migration 0009: a group of at
most ``exact_max`` people is an exact scan of its rows, a bigger one is the HNSW walk with a
membership filter. Prints a markdown table (one probe per search, p50/p95 ms, top-1 = own row).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from identify_scale import DIM, MODEL, _copy, genuine_probes, percentiles, start_postgres, unit

GROUPS = ("everyone", "g1k", "g50k")


def timed(search: Any, probes: np.ndarray, own: np.ndarray) -> tuple[float, float, float]:
    search(probes[:1])  # warm
    ts, ok = [], 0
    for q, want in zip(probes, own, strict=True):
        t = time.perf_counter()
        hits = search(q[None, :])
        ts.append(time.perf_counter() - t)
        ok += bool(hits[0]) and hits[0][0].person_id == want
    p50, p95 = percentiles(ts)
    return p50, p95, ok / len(probes)


def bench_exact(vectors: np.ndarray, groups: list[frozenset[str]], cases: dict[str, Any]) -> list[Any]:
    from facegate.core.matching.index import GalleryIndex

    n = len(vectors)
    index = GalleryIndex()
    ids = np.arange(1, n + 1)
    index.replace_all(ids, [f"p{i}" for i in ids], [""] * n, vectors, 1, groups)
    rows = []
    for label, (g, probes, own) in cases.items():
        rows.append(("exact in-memory", label, *timed(lambda q, g=g: index.search(q, 5, g), probes, own)))
    return rows


def _explain(db: Any, search: Any, cases: dict[str, Any]) -> None:
    """EXPLAIN ANALYZE of each group search's SQL (the plans behind the table)."""
    from sqlalchemy import select, text

    from facegate.core.people.gallery import _literal, _pg_query
    from facegate.core.store.models import Group

    for label, (g, probes, _own) in cases.items():
        if g is None:
            continue
        with db.session() as s:
            gids = list(s.scalars(select(Group.id).where(Group.name.in_(sorted(g)))))
            exact = search._members(s, gids, search.exact_max + 1) <= search.exact_max
            sql = _pg_query(DIM, True, exact).text
            if exact:  # as PgVectorSearch does
                s.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))
            params = {"q": _literal(probes[0]), "model": MODEL, "k": 5, "gids": gids}
            plan = s.execute(text("EXPLAIN (ANALYZE, COSTS OFF) " + sql), params).scalars().all()
        print(f"-- {label}:\n" + "\n".join(plan), flush=True)


def bench_pg(
    vectors: np.ndarray, sizes: dict[str, int], cases: dict[str, Any], ef: int, explain: bool
) -> list[Any]:
    import psycopg

    from facegate.core.people.identification import PgVectorSearch
    from facegate.core.store.db import Database

    server = start_postgres()
    n = len(vectors)
    name = f"bench_groups_{n}"
    server.psql(f"CREATE DATABASE {name};")
    db = Database(server.get_uri(name).replace("postgresql://", "postgresql+psycopg://", 1))
    db.upgrade()
    t0 = time.perf_counter()
    with psycopg.connect(server.get_uri(name)) as conn, conn.cursor() as cur:
        cur.execute(f"DROP INDEX ix_template_search_vectors_hnsw_{DIM}")
        for g in GROUPS:
            cur.execute("INSERT INTO groups (name, created_at) VALUES (%s, now())", (g,))
        gid = dict(cur.execute("SELECT name, id FROM groups").fetchall())
        _copy(cur, "people (id, external_id, display_name, created_at, updated_at)",
              (f"{i}\tp{i}\tP{i}\t2026-01-01\t2026-01-01\n" for i in range(1, n + 1)))
        _copy(cur, "person_groups (person_id, group_id)",
              (f"{i}\t{gid[g]}\n" for g in GROUPS for i in range(1, sizes[g] + 1)))
        _copy(cur, "face_templates (id, person_id, model, model_version, dim, is_mean, "
              "sample_count, key_id, ciphertext, source, created_at)",
              (f"{i}\t{i}\t{MODEL}\t1\t{DIM}\tt\t1\tk\t\\\\x00\tmean\t2026-01-01\n"
               for i in range(1, n + 1)))
        _copy(cur, "template_search_vectors (template_id, person_id, model, dim, embedding)",
              (f"{i + 1}\t{i + 1}\t{MODEL}\t{DIM}\t[{','.join(f'{x:.6f}' for x in v)}]\n"
               for i, v in enumerate(vectors)))
        cur.execute("SET maintenance_work_mem = '1GB'")
        cur.execute(
            f"CREATE INDEX ix_template_search_vectors_hnsw_{DIM} ON template_search_vectors "
            f"USING hnsw ((embedding::vector({DIM})) vector_cosine_ops) WHERE dim = {DIM}"
        )
        cur.execute("ANALYZE")
        conn.commit()
    print(f"pgvector load + HNSW build: {time.perf_counter() - t0:.0f} s", flush=True)
    search = PgVectorSearch(db, ef_search=ef)
    if explain:
        _explain(db, search, cases)
    rows = []
    for label, (g, probes, own) in cases.items():
        r = timed(lambda q, g=g: search.search(q, MODEL, 5, g), probes, own)
        how = "HNSW" if g is None else ("exact scan" if sizes[next(iter(g))] <= search.exact_max
                                        else "HNSW + filter")
        rows.append((f"pgvector ({how})", label, *r))
    db.dispose()
    server.cleanup()
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=100_000)
    ap.add_argument("--small", type=int, default=1_000)
    ap.add_argument("--large", type=int, default=50_000)
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--ef-search", type=int, default=400)
    ap.add_argument("--no-pg", action="store_true")
    ap.add_argument("--explain", action="store_true", help="print the PostgreSQL plans")
    args = ap.parse_args()
    rng = np.random.default_rng(7)
    vectors = unit(rng, args.size)
    sizes = {"everyone": args.size, "g1k": args.small, "g50k": args.large}
    groups = [frozenset(g for g in GROUPS if i < sizes[g]) for i in range(args.size)]
    cases: dict[str, Any] = {}
    for label, g, members in (("all (no filter)", None, args.size),
                              (f"group of {args.small:,}", frozenset({"g1k"}), args.small),
                              (f"group of {args.large:,}", frozenset({"g50k"}), args.large)):
        own = rng.choice(members, size=args.queries, replace=False)
        cases[label] = (g, genuine_probes(rng, vectors[own]), own + 1)
    rows = bench_exact(vectors, groups, cases)
    if not args.no_pg:
        rows += bench_pg(vectors, sizes, cases, args.ef_search, args.explain)
    print(f"\n{args.size:,} templates, {args.queries} probes, top-5, one probe per search\n")
    print("| backend | search among | p50 ms | p95 ms | top-1 = own row |")
    print("|---|---|---:|---:|---:|")
    for backend, label, p50, p95, acc in rows:
        print(f"| {backend} | {label} | {p50:.2f} | {p95:.2f} | {acc:.2f} |")


if __name__ == "__main__":
    main()
