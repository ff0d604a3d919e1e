"""Server cost of one liveness frame: YuNet + Face Mesh (+ EAR, pose) and the sampled extras.

    python benchmarks/liveness_frames.py [--video ../shared/data/video/webcam_blink_turns.webm]

Per 640x480 frame of the video: the anchor is YuNet detection alone (what every FaceGate frame
pays); then the full liveness measurement (YuNet + Face Mesh 478 points + EAR + solvePnP); then
the per-sample extras (SFace embedding, passive anti-spoof score), which run about once a second.
Prints a table (median and p95 ms, ratio to the anchor measured in the same run) and writes
``liveness_frames.json`` to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import cv2
from tqdm import tqdm

from facegate.app.bootstrap import Container
from facegate.core.domain import ImageArray
from facegate.core.liveness.landmarks import FrameMeasurer, MeshLandmarker
from facegate.core.settings import Settings
from facegate.core.vision.detector import largest_face


def timed(fn: Callable[[], object], repeat: int = 1) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) * 1000.0 / repeat


def main() -> None:
    repo = Path(__file__).resolve().parents[1]
    ap = argparse.ArgumentParser()
    ap.add_argument("--video", type=Path, default=repo.parent / "shared/data/video/webcam_blink_turns.webm")
    ap.add_argument("--frames", type=int, default=60, help="frames measured (every 3rd of the video)")
    ap.add_argument("--out", type=Path, default=Path("bench-out/liveness"))
    args = ap.parse_args()

    cap = cv2.VideoCapture(str(args.video))
    frames: list[ImageArray] = []
    i = 0
    while len(frames) < args.frames:
        ok, img = cap.read()
        if not ok:
            break
        if i % 3 == 0:
            frames.append(img)
        i += 1
    cap.release()
    if not frames:
        raise SystemExit(f"no frames read from {args.video}")

    c = Container(Settings(data_dir=args.out / "data"))
    detector, pipeline, antispoof = c.detector, c.pipeline, c.antispoof
    measurer = FrameMeasurer(detector, MeshLandmarker())
    rows: dict[str, list[float]] = {"yunet (anchor)": [], "liveness measure": [], "embed": [],
                                    "passive score": []}
    for img in frames[:3]:  # warm-up
        measurer.measure(img, 0, 0)
    for img in tqdm(frames, desc="frames", unit="frame"):
        rows["yunet (anchor)"].append(timed(partial(detector.detect, img)))
        rows["liveness measure"].append(timed(partial(measurer.measure, img, 0, 0)))
        face = largest_face(detector.detect(img))
        if face is not None:
            rows["embed"].append(timed(partial(pipeline.analyze_face, img, face)))
            rows["passive score"].append(timed(partial(antispoof.score_face, img, face)))
    anchor = statistics.median(rows["yunet (anchor)"])
    table = []
    print(f"{len(frames)} frames of {args.video.name}, {frames[0].shape[1]}x{frames[0].shape[0]}")
    print(f"{'step':<20}{'median ms':>10}{'p95 ms':>10}{'x anchor':>10}")
    for name, values in rows.items():
        med = statistics.median(values)
        p95 = sorted(values)[max(0, round(0.95 * len(values)) - 1)]
        table.append({"step": name, "median_ms": round(med, 2), "p95_ms": round(p95, 2),
                      "ratio_to_anchor": round(med / anchor, 2), "n": len(values)})
        print(f"{name:<20}{med:>10.1f}{p95:>10.1f}{med / anchor:>10.2f}")
    args.out.mkdir(parents=True, exist_ok=True)
    report = {"video": str(args.video), "rows": table}
    (args.out / "liveness_frames.json").write_text(json.dumps(report, indent=2))
    print(f"wrote {args.out / 'liveness_frames.json'}")


if __name__ == "__main__":
    main()
