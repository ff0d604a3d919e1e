"""Does detecting at a smaller scale cost verification accuracy? (the coarse-first detection of
largest-face requests, ``FacePipeline.choose`` / setting ``FACEGATE_DETECT_SINGLE_MAX_SIDE``)

    python benchmarks/detect_scale.py [--folds 3] [--upscale 4] [--sides 0,640,320,160]
        [--out bench-out/detect-scale]

LFW pairs (the first ``--folds`` folds of pairs.txt) are upscaled ``--upscale`` times (250 px →
1000 px, like a phone photo of a face) and every image is detected at each longer side of
``--sides`` (0 = the full image, the reference), then aligned and embedded from the FULL upscaled
image, as ``choose`` does. Per scale: the face width at detection, the landmark error against the
full-scale landmarks (mean point distance / inter-ocular distance), the mean |Δ similarity| of the
pairs against the reference, and the LFW accuracy (threshold picked on the other folds of the
run, and at the pack's fixed threshold). The native 250 px images are the published protocol's
baseline. Writes a table (stdout, ``table.md``), ``results.json`` and ``detect_scale.png``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import cv2
import numpy as np

from facegate.core.vision.detector import DetectorOptions, YunetDetector, most_central_face
from facegate.core.vision.images import read_image_file
from facegate.core.vision.packs import EmbedderOptions, get_pack
from facegate.core.vision.pipeline import FaceChoice, FacePipeline
from facegate.research.eval.lfw_pairs import accuracy_at, best_threshold, load_pairs

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("FACEGATE_TEST_DATA", REPO.parent / "shared" / "data"))
LFW = DATA / "lfw"


def landmarks_error(points: np.ndarray, ref: np.ndarray) -> float:
    """Mean distance of the 5 points to the reference, over the reference inter-ocular distance."""
    iod = float(np.linalg.norm(ref[0] - ref[1])) or 1.0
    return float(np.mean(np.linalg.norm(points - ref, axis=1)) / iod)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--folds", type=int, default=3)
    ap.add_argument("--upscale", type=float, default=4.0)
    ap.add_argument("--sides", default="0,640,320,160")
    ap.add_argument("--model", default="sface")
    ap.add_argument("--out", type=Path, default=REPO / "bench-out" / "detect-scale")
    args = ap.parse_args()
    sides = [int(s) for s in args.sides.split(",")]
    if sides[0] != 0:
        sides.insert(0, 0)
    pairs = [p for p in load_pairs(LFW / "pairs.txt") if p.fold < args.folds]
    paths = sorted({p.path_a for p in pairs} | {p.path_b for p in pairs})
    pack = get_pack(args.model)
    embedder = pack.build(EmbedderOptions(REPO / "bench-out" / "models", 1, "auto"))
    native = FacePipeline(YunetDetector(), embedder)
    detectors = {s: YunetDetector(DetectorOptions(max_side=s or 1_000_000)) for s in sides}
    keys = ["native", *[str(s) for s in sides]]
    vectors: dict[str, dict[str, np.ndarray | None]] = {k: {} for k in keys}
    widths: dict[str, list[float]] = {str(s): [] for s in sides}
    errors: dict[str, list[float]] = {str(s): [] for s in sides}
    image_root = LFW / "lfw-deepfunneled"
    for i, rel in enumerate(paths):
        if i % 200 == 0:
            print(f"[detect_scale] {i}/{len(paths)} images", file=sys.stderr, flush=True)
        small = read_image_file(image_root / rel)
        face, _ = native.choose(small, FaceChoice.CENTRAL)
        vectors["native"][rel] = None if face is None or face.embedding is None else face.embedding.vector
        big = cv2.resize(small, None, fx=args.upscale, fy=args.upscale, interpolation=cv2.INTER_CUBIC)
        h, w = big.shape[:2]
        ref: np.ndarray | None = None
        for s in sides:
            found = detectors[s].detect(big)
            pick = most_central_face(found, w, h)
            if pick is None:
                vectors[str(s)][rel] = None
                continue
            pts = np.asarray(pick.landmarks.points, dtype=np.float64)
            if s == 0:
                ref = pts
            elif ref is not None:
                errors[str(s)].append(landmarks_error(pts, ref))
            scale = min(1.0, (s or 1_000_000) / float(max(w, h)))
            widths[str(s)].append(pick.box.width * scale)
            analyzed = native.analyze_face(big, pick)
            vectors[str(s)][rel] = None if analyzed.embedding is None else analyzed.embedding.vector
    labels = np.array([p.same for p in pairs])
    folds = np.array([p.fold for p in pairs])
    sims: dict[str, np.ndarray] = {}
    for k in keys:
        va = [vectors[k].get(p.path_a) for p in pairs]
        vb = [vectors[k].get(p.path_b) for p in pairs]
        # a missed face scores -1 (a rejected pair), as the LFW benchmark counts it
        sims[k] = np.array([-1.0 if a is None or b is None else float(np.dot(a, b))
                            for a, b in zip(va, vb, strict=True)])
    rows = []
    for k in keys:
        accs = []
        for f in range(args.folds):
            train, test = folds != f, folds == f
            t = best_threshold(sims[k][train], labels[train]) if args.folds > 1 else pack.default_threshold
            accs.append(accuracy_at(sims[k][test], labels[test], t))
        fixed = accuracy_at(sims[k], labels, pack.default_threshold)
        ref_sims = sims["0"]
        delta = float(np.mean(np.abs(sims[k] - ref_sims))) if k != "native" else float("nan")
        missed = sum(v is None for v in vectors[k].values())
        rows.append({
            "detect": "native 250 px" if k == "native" else ("full" if k == "0" else f"{k} px"),
            "face_px_at_detection": (
                round(float(np.median(widths[k])), 1) if widths.get(k) else None),
            "landmark_error_iod": round(float(np.mean(errors[k])), 4) if errors.get(k) else None,
            "mean_abs_delta_similarity": None if np.isnan(delta) else round(delta, 4),
            "accuracy_cv": round(float(np.mean(accs)), 4),
            "accuracy_fixed_threshold": round(fixed, 4),
            "missed_faces": missed,
        })
    args.out.mkdir(parents=True, exist_ok=True)
    head = ("| detection | median face px at detection | landmark error / IOD | mean abs Δ similarity "
            "| accuracy (threshold from the other folds) | accuracy at the pack threshold | faces missed |")
    lines = [head, "|" + "---|" * 7]
    for r in rows:
        lines.append(f"| {r['detect']} | {r['face_px_at_detection']} | {r['landmark_error_iod']} | "
                     f"{r['mean_abs_delta_similarity']} | {r['accuracy_cv']:.4f} | "
                     f"{r['accuracy_fixed_threshold']:.4f} | {r['missed_faces']} |")
    table = "\n".join(lines)
    print(f"\n{len(pairs)} pairs ({args.folds} folds), {len(paths)} images, upscaled x{args.upscale}, "
          f"model {args.model} (threshold {pack.default_threshold})\n\n{table}")
    (args.out / "table.md").write_text(table + "\n")
    (args.out / "results.json").write_text(json.dumps(
        {"pairs": len(pairs), "folds": args.folds, "upscale": args.upscale, "rows": rows}, indent=2))
    _plot(rows[1:], len(pairs), args.out / "detect_scale.png")


def _plot(rows: list[dict[str, object]], n_pairs: int, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    px = [float(r["face_px_at_detection"] or 0) for r in rows]  # type: ignore[arg-type]
    acc = [float(r["accuracy_cv"]) for r in rows]  # type: ignore[arg-type]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(px, acc, "o-")
    for x, y, r in zip(px, acc, rows, strict=True):
        ax.annotate(str(r["detect"]), (x, y), textcoords="offset points", xytext=(4, 4))
    ax.set_xscale("log")
    ax.set_xlabel("median face width at detection (px)")
    ax.set_ylabel("LFW accuracy (cross-validated threshold)")
    ax.set_ylim(min(acc) - 0.01, 1.0)  # one pair is 1/n_pairs: keep the noise at its true size
    ax.set_title(f"LFW accuracy vs detection scale ({n_pairs} pairs; 1 pair = {100 / n_pairs:.3f}%)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
