"""Measure SFace's decision threshold on LFW with the 10-fold protocol.

Run: python benchmarks/lfw_threshold.py [--data ../shared/data/lfw] [--fold1-only]
Prints per-fold thresholds and accuracies, and the mean threshold shipped as the default.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
from tqdm import tqdm

from facegate.eval.lfw_pairs import accuracy_at, load_pairs, ten_fold
from facegate.matching import cosine_similarity
from facegate.vision.detector import YunetDetector
from facegate.vision.embedder import SfaceOpenCVEmbedder
from facegate.vision.images import read_image_file
from facegate.vision.pipeline import FaceChoice, FacePipeline
from facegate.vision.packs import get_pack

DEFAULT = Path(os.environ.get("FACEGATE_TEST_DATA", Path(__file__).parents[1] / ".." / "shared" / "data")) / "lfw"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=DEFAULT)
    ap.add_argument("--fold1-only", action="store_true")
    args = ap.parse_args()
    pairs = load_pairs(args.data / "pairs.txt")
    if args.fold1_only:
        pairs = [p for p in pairs if p.fold == 0]
    pipe = FacePipeline(YunetDetector(), SfaceOpenCVEmbedder())
    root = args.data / "lfw-deepfunneled"
    cache: dict[str, np.ndarray | None] = {}
    missing = 0
    for rel in tqdm(sorted({p.path_a for p in pairs} | {p.path_b for p in pairs}), desc="embed"):
        face, _ = pipe.choose(read_image_file(root / rel), FaceChoice.CENTRAL)
        cache[rel] = None if face is None or face.embedding is None else face.embedding.vector
        missing += face is None
    scores = np.array(
        [
            -1.0 if cache[p.path_a] is None or cache[p.path_b] is None
            else cosine_similarity(cache[p.path_a], cache[p.path_b])  # type: ignore[arg-type]
            for p in pairs
        ]
    )
    labels = np.array([p.same for p in pairs])
    folds = np.array([p.fold for p in pairs])
    shipped = get_pack("sface").default_threshold
    print(f"images without a face: {missing} (scored as -1, i.e. DIFFERENT)")
    if args.fold1_only:
        print(f"fold 1: accuracy at shipped threshold {shipped}: {accuracy_at(scores, labels, shipped):.4f}")
        return
    res = ten_fold(scores, labels, folds)
    for r in res:
        print(f"fold {r.fold + 1:2d}: threshold {r.threshold:.4f} accuracy {r.accuracy:.4f}")
    accs = np.array([r.accuracy for r in res])
    ths = np.array([r.threshold for r in res])
    print(f"mean accuracy {accs.mean():.4f} ± {accs.std():.4f}; mean threshold {ths.mean():.4f}")
    print(f"accuracy of all 6000 pairs at shipped threshold {shipped}: {accuracy_at(scores, labels, shipped):.4f}")


if __name__ == "__main__":
    main()
