"""Loopback HTTP load on ``POST /v1/verify`` and ``POST /v1/identify``, then a soak.

    nice -n 10 python benchmarks/http_load.py [--levels 1,4,16] [--workers 1,2] [--seconds 10]
        [--soak-seconds 300] [--soak-concurrency 4] [--json out.json]

For each number of uvicorn workers, starts a real server (``facegate serve --workers N``, a fresh
data dir, two people enrolled from ../shared/data/faces, preload on, rate limits ON with limits
too high to trigger, so the limiter's database write per request is part of the cost), then for
each endpoint and concurrency level runs that many closed-loop clients (asyncio + httpx, in this
process) for ``--seconds``: every client sends its next request as soon as the last one answered.
Reported: requests/s, p50/p95 latency, errors (non-200), the server's RSS (all its processes)
before/after, the load average before/after. The soak runs ``--soak-concurrency`` clients on
``/v1/verify`` with one worker for ``--soak-seconds`` and reports the RSS growth.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx
import psutil

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("FACEGATE_TEST_DATA", REPO.parent / "shared" / "data"))
PEOPLE = DATA / "faces" / "people"
MB = 1024 * 1024


@dataclass
class Level:
    endpoint: str
    workers: int
    concurrency: int
    seconds: float
    requests: int
    rps: float
    p50_ms: float
    p95_ms: float
    errors: int
    rss_before_mb: float
    rss_after_mb: float
    load_before: float
    load_after: float


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tree_rss(pid: int) -> float:
    """RSS of a process and its children (uvicorn's workers), in MB."""
    try:
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)]
        return sum(p.memory_info().rss for p in procs) / MB
    except psutil.NoSuchProcess:
        return float("nan")


HEADERS: dict[str, str] = {}  # the API key of the server under test (every /v1 route needs one)


def start_server(workers: int, data: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {
        **os.environ, "FACEGATE_DATA_DIR": str(data), "FACEGATE_PORT": str(port),
        "FACEGATE_HOST": "127.0.0.1", "FACEGATE_PRELOAD": "true",
        "FACEGATE_RATE_LIMIT_RECOGNITION": "10000000/minute",
        "FACEGATE_RATE_LIMIT_ENROL": "10000000/minute",
    }
    key = subprocess.run(
        [sys.executable, "-m", "facegate", "apikeys", "create", "load-bench", "--scopes", "admin",
         "--quiet"], env=env, capture_output=True, text=True, check=True,
    ).stdout.strip()
    HEADERS["Authorization"] = f"Bearer {key}"
    subprocess.run([sys.executable, "-m", "facegate", "db", "upgrade"], env=env, check=True,
                   capture_output=True)
    log = (data / "server.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "facegate", "serve", "--workers", str(workers)],
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            # /healthz answers once ONE worker is up; wait for every worker's startup (models
            # loaded: preload is on), or the first level measures the others still loading
            if (httpx.get(f"{url}/healthz", timeout=2).status_code == 200
                    and workers_started(data) >= workers):
                return proc, url
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            break
        time.sleep(0.5)
    proc.kill()
    raise SystemExit(f"server did not start: {(data / 'server.log').read_text()[-2000:]}")


def workers_started(data: Path) -> int:
    """How many uvicorn workers have finished their startup (lifespan, with the preload)."""
    return (data / "server.log").read_text(errors="replace").count("Application startup complete")


def enrol(url: str) -> None:
    for person in ("obama", "biden"):
        files = [("images", (p.name, p.read_bytes(), "image/jpeg"))
                 for p in sorted((PEOPLE / person).glob("*.jpg"))[:1]]
        r = httpx.post(f"{url}/v1/people", data={"external_id": person}, files=files, timeout=120,
                       headers=HEADERS)
        if r.status_code != 201:
            raise SystemExit(f"enrolment failed: {r.status_code} {r.text}")


async def run_level(url: str, endpoint: str, concurrency: int, seconds: float,
                    probe: bytes) -> tuple[list[float], int]:
    latencies: list[float] = []
    errors = 0
    stop = time.perf_counter() + seconds

    async def client(http: httpx.AsyncClient) -> None:
        nonlocal errors
        while time.perf_counter() < stop:
            data = {"external_id": "obama"} if endpoint == "verify" else None
            started = time.perf_counter()
            try:
                r = await http.post(f"/v1/{endpoint}", data=data,
                                    files={"image": ("probe.jpg", probe, "image/jpeg")})
                ok = r.status_code == 200
            except httpx.HTTPError:
                ok = False
            latencies.append((time.perf_counter() - started) * 1000)
            errors += 0 if ok else 1

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits, headers=HEADERS) as http:
        await asyncio.gather(*(client(http) for _ in range(concurrency)))
    return latencies, errors


def measure(proc: subprocess.Popen[bytes], url: str, endpoint: str, workers: int,
            concurrency: int, seconds: float, probe: bytes) -> Level:
    rss_before, load_before = tree_rss(proc.pid), os.getloadavg()[0]
    started = time.perf_counter()
    latencies, errors = asyncio.run(run_level(url, endpoint, concurrency, seconds, probe))
    elapsed = time.perf_counter() - started
    q = statistics.quantiles(latencies, n=20) if len(latencies) >= 2 else [float("nan")] * 19
    return Level(endpoint, workers, concurrency, round(elapsed, 1), len(latencies),
                 round(len(latencies) / elapsed, 1), round(statistics.median(latencies), 1),
                 round(q[18], 1), errors, round(rss_before), round(tree_rss(proc.pid)),
                 round(load_before, 2), round(os.getloadavg()[0], 2))


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


def table(levels: list[Level]) -> str:
    head = ("| endpoint | workers | concurrency | requests | req/s | p50 ms | p95 ms | errors | "
            "RSS before MB | RSS after MB | load before | load after |")
    rows = [head, "|" + "---|" * 12]
    for x in levels:
        rows.append(f"| {x.endpoint} | {x.workers} | {x.concurrency} | {x.requests} | {x.rps} | "
                    f"{x.p50_ms} | {x.p95_ms} | {x.errors} | {x.rss_before_mb} | "
                    f"{x.rss_after_mb} | {x.load_before} | {x.load_after} |")
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--levels", default="1,4,16")
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--endpoints", default="verify,identify")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--soak-seconds", type=float, default=300.0, help="0 skips the soak")
    ap.add_argument("--soak-concurrency", type=int, default=4)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    probe = (PEOPLE / "obama" / "obama2.jpg").read_bytes()
    levels: list[Level] = []
    soak: Level | None = None
    for workers in (int(w) for w in args.workers.split(",")):
        with tempfile.TemporaryDirectory(prefix="facegate-load-") as tmp:
            proc, url = start_server(workers, Path(tmp) / "data")
            try:
                enrol(url)
                for endpoint in args.endpoints.split(","):
                    measure(proc, url, endpoint, workers, 1, 2.0, probe)  # warm-up
                    for c in (int(x) for x in args.levels.split(",")):
                        levels.append(measure(proc, url, endpoint, workers, c, args.seconds, probe))
                        print(table(levels[-1:]).splitlines()[-1], flush=True)
                if workers == 1 and args.soak_seconds > 0:
                    soak = measure(proc, url, "verify", 1, args.soak_concurrency,
                                   args.soak_seconds, probe)
            finally:
                stop_server(proc)
    print(f"\nload average at the end: {os.getloadavg()} on {os.cpu_count()} CPUs\n")
    print(table(levels))
    if soak is not None:
        print(f"\nsoak: verify, 1 worker, concurrency {soak.concurrency}, {soak.seconds} s: "
              f"{soak.requests} requests, {soak.rps} req/s, p50/p95 {soak.p50_ms}/{soak.p95_ms} ms, "
              f"{soak.errors} errors, RSS {soak.rss_before_mb} → {soak.rss_after_mb} MB "
              f"({soak.rss_after_mb - soak.rss_before_mb:+.0f} MB), load {soak.load_before} → "
              f"{soak.load_after}")
    if args.json:
        args.json.write_text(json.dumps(
            {"levels": [asdict(x) for x in levels], "soak": asdict(soak) if soak else None},
            indent=2))


if __name__ == "__main__":
    main()
