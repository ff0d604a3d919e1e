"""Load benchmark of ``WS /v1/stream``: 1, 4 and 8 clients replaying a shared 640x480 video.

    nice -n 10 python benchmarks/stream_load.py [--clients 1,4,8] [--seconds 10] [--fps 30]

Starts a real server (uvicorn subprocess, a fresh data dir, one person enrolled from
../shared/data/faces so identification searches a gallery), registers a device token, then for each
level runs N clients in this process. Every client sends the frames of
``video/webcam_blink_turns.webm`` (640x480, JPEG quality 80, looped) at ``--fps`` and records the
answers. Reported per level: processed frames/s per client and overall, p50/p95 decision latency
(frame sent → result received, client clock), dropped-frame ratio (frames sent but never answered,
because the server always works on the newest one) and the server's own processing time.

Anchor (same run): one frame processed in-process (``AccessSession.process_jpeg``, no network);
ratios are latency / anchor and overall fps / (1000 / anchor).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("FACEGATE_TEST_DATA", REPO.parent / "shared" / "data"))
VIDEO = DATA / "video" / "webcam_blink_turns.webm"
ENROL = DATA / "faces" / "people" / "obama" / "obama.jpg"


@dataclass
class LevelResult:
    clients: int
    seconds: float
    sent_fps_per_client: float
    processed_fps_per_client: float
    processed_fps_total: float
    latency_p50_ms: float
    latency_p95_ms: float
    dropped_ratio: float
    server_processing_p50_ms: float
    server_cpu_ms_per_frame: float
    errors: int


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def load_frames(limit: int = 300) -> list[bytes]:
    cap = cv2.VideoCapture(str(VIDEO))
    frames: list[bytes] = []
    while len(frames) < limit:
        ok, img = cap.read()
        if not ok:
            break
        if img.shape[1] != 640:
            img = cv2.resize(img, (640, 480))
        frames.append(bytes(cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 80])[1]))
    cap.release()
    if not frames:
        raise SystemExit(f"cannot read {VIDEO}")
    return frames


def prepare(data_dir: Path) -> tuple[str, float, float]:
    """Migrate, enrol one person, create a device token; measure the in-process anchor."""
    from facegate.app.bootstrap import Container
    from facegate.core.settings import Settings
    from facegate.core.vision.images import read_image_file

    c = Container(Settings(data_dir=data_dir))
    c.prepare_store()
    c.enrollment.enroll("obama", [read_image_file(ENROL)], "Barack Obama")
    from facegate.core.auth.credentials import KIND_DEVICE
    from facegate.core.auth.principal import CLI_PRINCIPAL

    _, token = c.credentials.create("bench", frozenset({"stream"}), CLI_PRINCIPAL, kind=KIND_DEVICE)
    frames = load_frames(60)
    session = c.access.open_session("bench")
    for f in frames[:5]:
        session.process_jpeg(f)
    times = []
    cpu0 = time.process_time()
    for f in frames:
        t0 = time.perf_counter()
        session.process_jpeg(f)
        times.append((time.perf_counter() - t0) * 1000.0)
    cpu_ms = (time.process_time() - cpu0) * 1000.0 / len(frames)
    c.shutdown()
    return token, float(np.median(times)), cpu_ms


def start_server(data_dir: Path, port: int, workers: int | None) -> subprocess.Popen[bytes]:
    env = {**os.environ, "FACEGATE_DATA_DIR": str(data_dir), "FACEGATE_STREAM_LOG_INTERVAL_S": "60",
           "FACEGATE_STREAM_DOOR_LIVENESS": "off"}  # photos stand in for people: identify cost only
    if workers is not None:
        env["FACEGATE_STREAM_WORKERS"] = str(workers)
    cmd = [sys.executable, "-m", "uvicorn", "facegate.app.main:app", "--host", "127.0.0.1",
           "--port", str(port), "--log-level", "warning"]
    proc = subprocess.Popen(cmd, env=env)
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("server did not start")


@dataclass
class ClientRun:
    sent: int
    latencies: list[float]
    server_ms: list[float]
    errors: int


async def run_client(url: str, token: str, frames: list[bytes], fps: float, seconds: float,
                     offset: int) -> ClientRun:
    from websockets.asyncio.client import connect

    from facegate.features.access.protocol import FrameHeader, encode_frame

    sent_at: dict[int, float] = {}
    latencies: list[float] = []
    server_ms: list[float] = []
    errors = 0
    async with connect(url, additional_headers={"Authorization": f"Bearer {token}"},
                       max_size=2**20) as ws:
        json.loads(await ws.recv())  # hello

        async def receive() -> None:
            nonlocal errors
            async for raw in ws:
                msg = json.loads(raw)
                if msg["type"] == "result":
                    latencies.append((time.monotonic() - sent_at[msg["frame"]]) * 1000.0)
                    server_ms.append(msg["processing_ms"])
                else:
                    errors += 1

        receiver = asyncio.create_task(receive())
        start = time.monotonic()
        n = 0
        while (now := time.monotonic()) - start < seconds:
            sent_at[n] = now
            jpeg = frames[(n + offset) % len(frames)]
            await ws.send(encode_frame(FrameHeader(frame=n, ts=time.time(), camera="bench"), jpeg))
            n += 1
            await asyncio.sleep(max(0.0, start + n / fps - time.monotonic()))
        await asyncio.sleep(0.5)  # let the last answer arrive
        receiver.cancel()
    return ClientRun(n, latencies, server_ms, errors)


async def run_level(url: str, token: str, frames: list[bytes], clients: int, fps: float,
                    seconds: float, server_pid: int) -> LevelResult:
    cpu0 = cpu_seconds(server_pid)
    runs = await asyncio.gather(
        *(run_client(url, token, frames, fps, seconds, i * 37) for i in range(clients))
    )
    cpu = cpu_seconds(server_pid) - cpu0
    sent = sum(r.sent for r in runs)
    lat = [x for r in runs for x in r.latencies]
    srv = [x for r in runs for x in r.server_ms]
    processed = len(lat)
    return LevelResult(
        clients=clients,
        seconds=seconds,
        sent_fps_per_client=sent / clients / seconds,
        processed_fps_per_client=processed / clients / seconds,
        processed_fps_total=processed / seconds,
        latency_p50_ms=float(np.percentile(lat, 50)) if lat else float("nan"),
        latency_p95_ms=float(np.percentile(lat, 95)) if lat else float("nan"),
        dropped_ratio=1.0 - processed / sent if sent else float("nan"),
        server_processing_p50_ms=float(np.percentile(srv, 50)) if srv else float("nan"),
        server_cpu_ms_per_frame=cpu * 1000.0 / processed if processed else float("nan"),
        errors=sum(r.errors for r in runs),
    )


def table(results: list[LevelResult], anchor_ms: float, anchor_cpu_ms: float) -> str:
    lines = [
        f"anchor: one 640x480 frame processed in-process (decode+detect+embed+identify): "
        f"{anchor_ms:.1f} ms wall (p50), {anchor_cpu_ms:.1f} ms CPU (mean) → ideal "
        f"{1000 / anchor_ms:.1f} fps at this wall time",
        "",
        "| clients | sent fps/client | processed fps/client | processed fps total | "
        "p50 latency ms | p95 latency ms | dropped | server proc p50 ms | server CPU ms/frame | "
        "p50/anchor | total fps/ideal |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.clients} | {r.sent_fps_per_client:.1f} | {r.processed_fps_per_client:.1f} | "
            f"{r.processed_fps_total:.1f} | {r.latency_p50_ms:.0f} | {r.latency_p95_ms:.0f} | "
            f"{r.dropped_ratio:.0%} | {r.server_processing_p50_ms:.1f} | {r.server_cpu_ms_per_frame:.0f} | "
            f"{r.latency_p50_ms / anchor_ms:.1f}x | "
            f"{r.processed_fps_total / (1000 / anchor_ms):.2f} |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", default="1,4,8", help="comma-separated client counts")
    ap.add_argument("--seconds", type=float, default=10.0, help="duration of each level")
    ap.add_argument("--fps", type=float, default=30.0, help="frames sent per second per client")
    ap.add_argument("--workers", type=int, default=None, help="FACEGATE_STREAM_WORKERS of the server")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = ap.parse_args()
    if not VIDEO.is_file():
        raise SystemExit(f"video not found: {VIDEO} (set FACEGATE_TEST_DATA)")
    levels = [int(x) for x in args.clients.split(",")]
    frames = load_frames()
    with tempfile.TemporaryDirectory(prefix="fg-stream-bench-") as tmp:
        data_dir = Path(tmp) / "data"
        token, anchor_ms, anchor_cpu_ms = prepare(data_dir)
        port = free_port()
        server = start_server(data_dir, port, args.workers)
        url = f"ws://127.0.0.1:{port}/v1/stream"
        results = []
        try:
            asyncio.run(run_level(url, token, frames, 1, args.fps, 2.0, server.pid))  # warm-up
            for n in tqdm(levels, desc="stream load", unit="level"):
                results.append(
                    asyncio.run(run_level(url, token, frames, n, args.fps, args.seconds, server.pid))
                )
        finally:
            server.terminate()
            server.wait(10)
    load = os.getloadavg()
    print(f"stream workers: {args.workers or 'default (2)'}; load average at the end: "
          f"{load[0]:.1f} {load[1]:.1f} {load[2]:.1f} on {os.cpu_count()} CPUs")
    print(table(results, anchor_ms, anchor_cpu_ms))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(
            {"anchor_ms": anchor_ms, "anchor_cpu_ms": anchor_cpu_ms, "fps": args.fps,
             "workers": args.workers,
             "loadavg": os.getloadavg(), "levels": [asdict(r) for r in results]}, indent=2
        ))


if __name__ == "__main__":
    main()
