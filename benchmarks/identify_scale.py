"""Identify cost at 1k / 10k / 100k / 1M templates: exact in-memory search and pgvector HNSW.

    python benchmarks/identify_scale.py                       # exact 1k..1M, pgvector 1k..100k
    python benchmarks/identify_scale.py --pg-sizes 1000,10000,100000,1000000   # 1M HNSW: slow

Size comes from synthetic unit vectors (128-d, like SFace); correctness from real LFW people:
``--lfw-people`` people with ≥ 2 images get their first image enrolled among the synthetic rows
and their second image is the probe (rank-1 reported at every size). Latency is one probe per
search (the stream/login case), p50/p95 over ``--queries`` probes; queries are gallery rows
perturbed to a cosine of ~0.6 (a genuine-looking probe). Memory: the index matrix and the RSS
growth of this process. pgvector: the product's schema (hash-partitioned since migration 0007, one
HNSW graph per partition: m=16, ef_construction=64, cosine), indexes built after a bulk COPY;
recall@1 = share of probes whose top-1 equals the exact top-1. Ratios are against the
exact 1k p50 of the same run. Writes table.md, results.json and cost_curve.png to ``--out``.
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DIM = 128
MODEL = "bench"


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def unit(rng: np.random.Generator, n: int) -> np.ndarray:
    out = np.empty((n, DIM), dtype=np.float32)
    for s in range(0, n, 100_000):  # chunks: bounded temporary memory
        m = rng.standard_normal((min(100_000, n - s), DIM), dtype=np.float32)
        out[s : s + len(m)] = m / np.linalg.norm(m, axis=1, keepdims=True)
    return out


def genuine_probes(rng: np.random.Generator, rows: np.ndarray, cos: float = 0.6) -> np.ndarray:
    noise = unit(rng, len(rows))
    noise -= (noise * rows).sum(1, keepdims=True) * rows  # orthogonal part
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    p = cos * rows + np.sqrt(1 - cos**2) * noise
    return (p / np.linalg.norm(p, axis=1, keepdims=True)).astype(np.float32)


def lfw_pairs(data: Path, people: int, cache_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """Enrolled and probe embeddings (row i = the same person) of LFW people with ≥ 2 images."""
    from facegate.app.bootstrap import Container
    from facegate.core.settings import Settings
    from facegate.core.vision.pipeline import FaceChoice
    from facegate.research.eval.lfw import EmbeddingCache, cache_file, embed_images

    root = data / "lfw" / "lfw-deepfunneled"
    names = [d.name for d in sorted(root.iterdir()) if len(list(d.glob("*.jpg"))) >= 2][:people]
    rels = [f"{n}/{n}_{i:04d}.jpg" for n in names for i in (1, 2)]
    pipe = Container(Settings(data_dir=Path(tempfile.mkdtemp()))).pipeline
    cache = EmbeddingCache(cache_file(cache_dir, pipe, FaceChoice.CENTRAL))
    vecs = embed_images(pipe, root, rels, cache, FaceChoice.CENTRAL, progress=True)
    pairs = [(vecs[f"{n}/{n}_0001.jpg"], vecs[f"{n}/{n}_0002.jpg"]) for n in names]
    pairs = [(a, b) for a, b in pairs if a is not None and b is not None]
    return np.stack([a for a, _ in pairs]), np.stack([b for _, b in pairs])


def percentiles(ts: list[float]) -> tuple[float, float]:
    a = np.asarray(ts) * 1000
    return float(np.percentile(a, 50)), float(np.percentile(a, 95))


def bench_exact(gallery: np.ndarray, probes: np.ndarray, real: tuple[np.ndarray, np.ndarray],
                queries: int) -> dict[str, Any]:
    from facegate.core.matching.index import GalleryIndex

    n = len(gallery)
    gc.collect()
    before = rss_mb()
    index = GalleryIndex()
    t0 = time.perf_counter()
    index.replace_all(np.arange(n), [f"p{i}" for i in range(n)], [""] * n, gallery, revision=1)
    load_s = time.perf_counter() - t0
    grown = rss_mb() - before
    index.search(probes[:1], 5)  # warm
    ts, cpu = [], []
    for q in probes[:queries]:
        t, c = time.perf_counter(), time.process_time()
        index.search(q[None, :], 5)
        ts.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    p50, p95 = percentiles(ts)
    cpu50 = percentiles(cpu)[0]
    _enrolled, real_probes = real
    hits = index.search(real_probes, 1)
    rank1 = float(np.mean([h[0].person_id == i for i, h in enumerate(hits)])) if len(hits) else None
    top1 = [h[0].person_id for h in index.search(probes[:queries], 1)]
    out = {"n": n, "p50_ms": p50, "p95_ms": p95, "cpu_p50_ms": cpu50, "matrix_mb": gallery.nbytes / 2**20,
           "rss_growth_mb": grown, "load_s": load_s, "lfw_rank1": rank1, "exact_top1": top1}
    del index
    gc.collect()
    return out


def start_postgres() -> Any:
    import pgserver

    root = Path(tempfile.mkdtemp(prefix="fg-bench-pg-"))
    server = pgserver.get_server(root, cleanup_mode="delete")
    return server


def bench_pgvector(server: Any, gallery: np.ndarray, probes: np.ndarray, queries: int,
                   exact_top1: list[int], real: tuple[np.ndarray, np.ndarray],
                   ef_search: list[int]) -> list[dict[str, Any]]:
    import psycopg

    from facegate.core.people.identification import PgVectorSearch
    from facegate.core.store.db import Database

    n = len(gallery)
    name = f"bench_{n}_{int(time.time())}"
    server.psql(f"CREATE DATABASE {name};")
    url = server.get_uri(name).replace("postgresql://", "postgresql+psycopg://", 1)
    db = Database(url)
    db.upgrade()
    raw = server.get_uri(name)
    t0 = time.perf_counter()
    with psycopg.connect(raw) as conn, conn.cursor() as cur:
        cur.execute(f"DROP INDEX ix_template_search_vectors_hnsw_{DIM}")
        _copy(cur, "people (id, external_id, display_name, created_at, updated_at)",
              (f"{i + 1}\tp{i}\tP{i}\t2026-01-01\t2026-01-01\n" for i in range(n)))
        _copy(cur, "face_templates (id, person_id, model, model_version, dim, is_mean, "
              "sample_count, key_id, ciphertext, source, created_at)",
              (f"{i + 1}\t{i + 1}\t{MODEL}\t1\t{DIM}\tt\t1\tk\t\\\\x00\tmean\t2026-01-01\n"
               for i in range(n)))
        _copy(cur, "template_search_vectors (template_id, person_id, model, dim, embedding)",
              (f"{i + 1}\t{i + 1}\t{MODEL}\t{DIM}\t[{','.join(f'{x:.6f}' for x in v)}]\n"
               for i, v in enumerate(gallery)))
        conn.commit()
        load_s = time.perf_counter() - t0
        t1 = time.perf_counter()
        cur.execute("SET maintenance_work_mem = '2GB'")
        cur.execute(
            f"CREATE INDEX ix_template_search_vectors_hnsw_{DIM} ON template_search_vectors "
            f"USING hnsw ((embedding::vector({DIM})) vector_cosine_ops) WHERE dim = {DIM}"
        )
        conn.commit()
        build_s = time.perf_counter() - t1
        # the table and its HNSW index may be partitioned (migration 0007): sum over the tree
        cur.execute(
            "SELECT (SELECT sum(pg_relation_size(relid)) FROM "
            f"pg_partition_tree('ix_template_search_vectors_hnsw_{DIM}')), "
            "(SELECT sum(pg_total_relation_size(relid)) FROM pg_partition_tree('template_search_vectors')), "
            "(SELECT count(*) FROM pg_inherits WHERE inhparent = 'template_search_vectors'::regclass)"
        )
        index_bytes, table_bytes, partitions = (float(x) for x in cur.fetchone())  # type: ignore[union-attr]
    rows = []
    for ef in ef_search:
        search = PgVectorSearch(db, ef_search=ef)
        search.search(probes[:1], MODEL, 5)
        ts, top1 = [], []
        for q in probes[:queries]:
            t = time.perf_counter()
            hits = search.search(q[None, :], MODEL, 5)
            ts.append(time.perf_counter() - t)
            top1.append(hits[0][0].person_id - 1 if hits[0] else -1)
        p50, p95 = percentiles(ts)
        recall = float(np.mean([a == b for a, b in zip(top1, exact_top1, strict=True)]))
        _, real_probes = real
        rank1 = None
        if len(real_probes):
            got = search.search(real_probes, MODEL, 1)
            rank1 = float(
                np.mean([g[0].person_id - 1 == i if g else False for i, g in enumerate(got)])
            )
        rows.append({"n": n, "p50_ms": p50, "p95_ms": p95, "recall_at_1": recall,
                     "copy_s": load_s, "hnsw_build_s": build_s, "index_mb": index_bytes / 2**20,
                     "table_mb": table_bytes / 2**20, "lfw_rank1": rank1, "ef_search": ef,
                     "partitions": int(partitions) or 1})
    db.dispose()
    server.psql(f"DROP DATABASE {name};")
    return rows


def _copy(cur: Any, target: str, lines: Any) -> None:
    with cur.copy(f"COPY {target} FROM STDIN") as copy:
        buf = io.StringIO()
        for i, line in enumerate(lines, 1):
            buf.write(line)
            if i % 20_000 == 0:
                copy.write(buf.getvalue())
                buf = io.StringIO()
        copy.write(buf.getvalue())


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.2))
    ex = results["exact"]
    a.plot([r["n"] for r in ex], [r["p95_ms"] for r in ex], "o-", label="exact in-memory p95")
    a.plot([r["n"] for r in ex], [r["p50_ms"] for r in ex], "o--", label="exact in-memory p50")
    pg = results["pgvector"]
    for ef in sorted({r["ef_search"] for r in pg}):
        rows = [r for r in pg if r["ef_search"] == ef]
        a.plot([r["n"] for r in rows], [r["p95_ms"] for r in rows], "s-",
               label=f"pgvector HNSW p95 (ef_search {ef})")
    a.axhline(50, color="grey", lw=0.8, ls=":", label="50 ms target")
    a.set(xscale="log", yscale="log", xlabel="templates", ylabel="identify latency (ms)",
          title="1:N search latency (one probe)")
    a.legend(fontsize=8)
    b.plot([r["n"] for r in ex], [r["matrix_mb"] for r in ex], "o-", label="exact: float32 matrix")
    if pg:
        first = [r for r in pg if r["ef_search"] == pg[0]["ef_search"]]
        b.plot([r["n"] for r in first], [r["index_mb"] for r in first], "s-",
               label="pgvector: HNSW index")
    b.set(xscale="log", yscale="log", xlabel="templates", ylabel="MB", title="memory / index size")
    b.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def table(results: dict[str, Any]) -> str:
    anchor = results["exact"][0]["p50_ms"]
    lines = [
        f"machine: {results['cpu_count']} CPUs, load average at start {results['load_start']}, "
        f"at end {results['load_end']}",
        f"anchor: exact search p50 at {results['exact'][0]['n']:,} templates = {anchor:.3f} ms "
        "(same run)", "",
        "| backend | templates | p50 ms | p95 ms | CPU ms p50 | p50 / anchor | memory "
        "| recall@1 vs exact | LFW rank-1 | build |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results["exact"]:
        lines.append(
            f"| exact in-memory (float32) | {r['n']:,} | {r['p50_ms']:.2f} | {r['p95_ms']:.2f} | "
            f"{r['cpu_p50_ms']:.2f} | {r['p50_ms'] / anchor:.1f}x | {r['matrix_mb']:.1f} MB matrix (RSS +"
            f"{r['rss_growth_mb']:.0f} MB) | 1 (is exact) | {_pct(r['lfw_rank1'])} | "
            f"load {r['load_s']:.2f} s |"
        )
    for r in results["pgvector"]:
        lines.append(
            f"| pgvector HNSW, {r.get('partitions', 1)} partitions (ef_search {r['ef_search']}) | "
            f"{r['n']:,} | {r['p50_ms']:.2f} | "
            f"{r['p95_ms']:.2f} | (server) | {r['p50_ms'] / anchor:.1f}x | "
            f"{r['index_mb']:.1f} MB index | "
            f"{r['recall_at_1']:.3f} | {_pct(r['lfw_rank1'])} | COPY {r['copy_s']:.1f} s + "
            f"HNSW {r['hnsw_build_s']:.1f} s |"
        )
    return "\n".join(lines)


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.1f}%"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sizes", default="1000,10000,100000,1000000")
    ap.add_argument("--pg-sizes", default="1000,10000,100000")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--lfw-people", type=int, default=200)
    ap.add_argument("--ef-search", default="100,400", help="comma-separated hnsw.ef_search values")
    ap.add_argument("--data", type=Path, default=Path(os.environ.get(
        "FACEGATE_TEST_DATA", REPO.parent / "shared" / "data")))
    ap.add_argument("--cache-dir", type=Path, default=REPO / "data" / "cache" / "lfw")
    ap.add_argument("--out", type=Path, default=REPO / "data" / "bench" / "identify_scale")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    pg_sizes = [int(s) for s in args.pg_sizes.split(",") if s]
    ef_values = [int(s) for s in args.ef_search.split(",") if s]
    args.out.mkdir(parents=True, exist_ok=True)

    real = (np.zeros((0, DIM), np.float32), np.zeros((0, DIM), np.float32))
    if args.lfw_people > 0 and (args.data / "lfw").is_dir():
        real = lfw_pairs(args.data, args.lfw_people, args.cache_dir)
        print(f"LFW: {len(real[0])} people enrolled among the synthetic rows", file=sys.stderr)
    rng = np.random.default_rng(0)
    results: dict[str, Any] = {"exact": [], "pgvector": [], "dim": DIM, "queries": args.queries,
                               "lfw_people": len(real[0]), "cpu_count": os.cpu_count(),
                               "load_start": " ".join(f"{x:.1f}" for x in os.getloadavg())}
    server = start_postgres() if pg_sizes else None
    for n in sorted(set(sizes) | set(pg_sizes)):
        gallery = unit(rng, n)
        gallery[: len(real[0])] = real[0][:n]
        probes = genuine_probes(rng, gallery[rng.integers(0, n, args.queries)])
        ex = bench_exact(gallery, probes, (real[0][:n], real[1][:n]), args.queries)
        # always kept: pgvector's recall is against it, and the table's anchor is exact search
        results["exact"].append({k: v for k, v in ex.items() if k != "exact_top1"})
        print(f"exact {n:>9,}: p50 {ex['p50_ms']:.2f} ms p95 {ex['p95_ms']:.2f} ms",
              file=sys.stderr)
        if server is not None and n in pg_sizes:
            for pg in bench_pgvector(server, gallery, probes, args.queries, ex["exact_top1"],
                                     (real[0][:n], real[1][:n]), ef_values):
                results["pgvector"].append(pg)
                print(f"pgvector {n:>9,} ef {pg['ef_search']}: p50 {pg['p50_ms']:.2f} ms "
                      f"p95 {pg['p95_ms']:.2f} ms recall@1 {pg['recall_at_1']:.3f} "
                      f"build {pg['hnsw_build_s']:.1f} s", file=sys.stderr)
        del gallery, probes
        gc.collect()
    results["load_end"] = " ".join(f"{x:.1f}" for x in os.getloadavg())
    (args.out / "results.json").write_text(json.dumps(results, indent=2))
    text = table(results)
    (args.out / "table.md").write_text(text + "\n")
    plot(results, args.out / "cost_curve.png")
    print(text)
    print(f"\nwrote {args.out}/table.md, results.json, cost_curve.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
