"""LFW for training: the identity split, the aligned-crop cache and validation pairs (no torch).

Every image is aligned exactly as FaceGate aligns faces at run time (YuNet, centre-most face,
five-point similarity warp to 112×112), so training and inference see the same crops.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import numpy.typing as npt
from tqdm import tqdm

from facegate.core.domain import ImageArray, Landmarks
from facegate.core.vision.align import align_face
from facegate.core.vision.detector import FaceDetector, most_central_face
from facegate.core.vision.images import read_image_file
from facegate.research.eval.lfw_pairs import Pair, load_pairs

CROP_SIZE = 112
IMAGE_DIR = "lfw-deepfunneled"
CACHE_VERSION = 1


@dataclass(frozen=True)
class CropCache:
    """Aligned crops of LFW images: ``crops[i]`` (BGR uint8 112×112) is the image ``paths[i]``.

    ``detected[i]`` is False where YuNet found no face and the mean landmarks were used instead.
    """

    paths: tuple[str, ...]
    crops: npt.NDArray[np.uint8]
    detected: npt.NDArray[np.bool_]

    def index(self) -> dict[str, int]:
        return {p: i for i, p in enumerate(self.paths)}

    @property
    def identities(self) -> list[str]:
        return [p.split("/", 1)[0] for p in self.paths]


@dataclass(frozen=True)
class IdentitySplit:
    """Which LFW identities train and which pairs evaluate (folds are 0-based)."""

    eval_folds: tuple[int, ...]
    eval_pairs: tuple[Pair, ...]
    train_identities: tuple[str, ...]
    val_identities: tuple[str, ...]
    excluded_identities: int

    def describe(self) -> str:
        return (
            f"evaluate on LFW folds {', '.join(str(f + 1) for f in self.eval_folds)} "
            f"({len(self.eval_pairs)} pairs); train on {len(self.train_identities)} identities and "
            f"validate on {len(self.val_identities)} identities that appear in no pair of those "
            f"folds ({self.excluded_identities} identities excluded)"
        )


def list_images(lfw_dir: Path) -> list[str]:
    """Every LFW image as ``<name>/<file>.jpg`` relative to the image root, sorted."""
    root = lfw_dir / IMAGE_DIR
    if not root.is_dir():
        raise FileNotFoundError(f"LFW images not found at {root}")
    return sorted(f"{p.parent.name}/{p.name}" for p in root.glob("*/*.jpg"))


def parse_folds(text: str, total: int = 10) -> tuple[int, ...]:
    """``"6-10"`` or ``"1,3,5"`` (1-based, as in the LFW papers) → 0-based fold numbers."""
    folds: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        lo, _, hi = part.partition("-")
        try:
            a, b = int(lo), int(hi or lo)
        except ValueError:
            raise ValueError(f"bad fold list '{text}': use e.g. 6-10 or 1,3,5") from None
        if not 1 <= a <= b <= total:
            raise ValueError(f"bad fold list '{text}': folds are numbered 1 to {total}")
        folds.update(range(a - 1, b))
    if len(folds) < 2:
        raise ValueError(f"bad fold list '{text}': need at least two folds to choose thresholds")
    return tuple(sorted(folds))


def split_identities(
    images: Sequence[str],
    pairs: Sequence[Pair],
    eval_folds: Sequence[int],
    val_fraction: float = 0.1,
    seed: int = 0,
) -> IdentitySplit:
    """Train/validation identities are those in no pair of ``eval_folds``.

    Validation identities are drawn (seeded) among the remaining identities with at least two
    images, so validation pairs exist; the rest train.
    """
    folds = set(eval_folds)
    eval_pairs = tuple(p for p in pairs if p.fold in folds)
    excluded = {p.path_a.split("/", 1)[0] for p in eval_pairs} | {
        p.path_b.split("/", 1)[0] for p in eval_pairs
    }
    counts: dict[str, int] = defaultdict(int)
    for rel in images:
        counts[rel.split("/", 1)[0]] += 1
    free = sorted(n for n in counts if n not in excluded)
    multi = [n for n in free if counts[n] >= 2]
    rng = np.random.default_rng(seed)
    n_val = round(len(multi) * val_fraction)
    val = set(rng.permutation(np.array(multi, dtype=object))[:n_val].tolist()) if n_val else set()
    return IdentitySplit(
        eval_folds=tuple(sorted(folds)),
        eval_pairs=eval_pairs,
        train_identities=tuple(n for n in free if n not in val),
        val_identities=tuple(sorted(val)),
        excluded_identities=len(excluded),
    )


def validation_pairs(
    paths: Sequence[str], identities: Sequence[str], max_pairs: int = 1000, seed: int = 0
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """Balanced same/different pairs among the images of ``identities`` (indices into ``paths``)."""
    wanted = set(identities)
    by_id: dict[str, list[int]] = defaultdict(list)
    for i, rel in enumerate(paths):
        name = rel.split("/", 1)[0]
        if name in wanted:
            by_id[name].append(i)
    rng = np.random.default_rng(seed)
    same = [(a, b) for idx in by_id.values() for k, a in enumerate(idx) for b in idx[k + 1 :]]
    n = min(len(same), max_pairs // 2)
    if n == 0:
        raise ValueError("validation identities have no same-person pairs")
    chosen = [same[i] for i in rng.choice(len(same), size=n, replace=False)]
    names = sorted(by_id)
    diff: list[tuple[int, int]] = []
    while len(diff) < n:
        x, y = rng.choice(len(names), size=2, replace=False)
        diff.append((int(rng.choice(by_id[names[x]])), int(rng.choice(by_id[names[y]]))))
    a = np.array([p[0] for p in chosen + diff], dtype=np.int64)
    b = np.array([p[1] for p in chosen + diff], dtype=np.int64)
    labels = np.array([True] * n + [False] * n)
    return a, b, labels


def cache_paths(cache_dir: Path) -> tuple[Path, Path]:
    return cache_dir / f"lfw_aligned_{CROP_SIZE}.npy", cache_dir / f"lfw_aligned_{CROP_SIZE}.json"


def _detect_landmarks(detector: FaceDetector, image: ImageArray) -> Landmarks | None:
    h, w = image.shape[:2]
    face = most_central_face(detector.detect(image), w, h)
    return None if face is None else face.landmarks


class AlignmentTimeout(Exception):
    """The time budget ran out while aligning; ``done`` of ``total`` images were aligned."""

    def __init__(self, done: int, total: int) -> None:
        super().__init__(f"the time budget ran out while aligning LFW ({done} of {total} images)")
        self.done = done
        self.total = total


def align_images(
    image_root: Path, paths: Sequence[str], detector: FaceDetector, progress: bool = True,
    deadline: float | None = None,
) -> CropCache:
    """Align the centre-most face of each image (``paths`` relative to ``image_root``).

    Images without a detected face are aligned with the mean landmarks of the detected ones (LFW
    deep-funneled images are already roughly aligned) and flagged in ``detected``. Past
    ``deadline`` (``time.monotonic()``) it stops with ``AlignmentTimeout``.
    """
    crops = np.zeros((len(paths), CROP_SIZE, CROP_SIZE, 3), dtype=np.uint8)
    detected = np.zeros(len(paths), dtype=bool)
    found: list[np.ndarray] = []
    missing: list[tuple[int, ImageArray]] = []
    bar = tqdm(paths, desc="align LFW", unit="img", disable=not progress, file=sys.stderr)
    for i, rel in enumerate(bar):
        if deadline is not None and time.monotonic() > deadline:
            bar.close()
            raise AlignmentTimeout(i, len(paths))
        image = read_image_file(image_root / rel)
        marks = _detect_landmarks(detector, image)
        if marks is None:
            missing.append((i, image))
            continue
        crops[i] = align_face(image, marks, CROP_SIZE)
        detected[i] = True
        found.append(marks.as_array())
    if missing:
        mean = np.mean(np.stack(found), axis=0) if found else np.zeros((5, 2), np.float32)
        fallback = Landmarks(tuple((float(x), float(y)) for x, y in mean))
        for i, image in missing:
            crops[i] = align_face(image, fallback, CROP_SIZE)
    return CropCache(tuple(paths), crops, detected)


def build_crop_cache(
    lfw_dir: Path, cache_dir: Path, detector: FaceDetector, progress: bool = True,
    deadline: float | None = None,
) -> CropCache:
    """Align every LFW image once (a few minutes on 2 cores) and write the cache atomically."""
    cache = align_images(lfw_dir / IMAGE_DIR, list_images(lfw_dir), detector, progress, deadline)
    _write_cache(cache, lfw_dir, cache_dir)
    return cache


def _write_cache(cache: CropCache, lfw_dir: Path, cache_dir: Path) -> None:
    cache_dir.mkdir(parents=True, exist_ok=True)
    npy, meta = cache_paths(cache_dir)
    tmp_npy = npy.with_name(npy.name + f".tmp{os.getpid()}.npy")
    tmp_meta = meta.with_name(meta.name + f".tmp{os.getpid()}")
    np.save(tmp_npy, cache.crops)
    tmp_meta.write_text(
        json.dumps(
            {
                "version": CACHE_VERSION,
                "lfw_dir": str(lfw_dir.resolve()),
                "size": CROP_SIZE,
                "paths": list(cache.paths),
                "detected": [bool(d) for d in cache.detected],
            }
        )
    )
    os.replace(tmp_npy, npy)
    os.replace(tmp_meta, meta)


def load_crop_cache(cache_dir: Path) -> CropCache | None:
    """The cache written by ``build_crop_cache``, or None if absent or from another version."""
    npy, meta = cache_paths(cache_dir)
    if not (npy.is_file() and meta.is_file()):
        return None
    info = json.loads(meta.read_text())
    if info.get("version") != CACHE_VERSION or info.get("size") != CROP_SIZE:
        return None
    crops = np.load(npy, mmap_mode="r")
    if crops.shape[0] != len(info["paths"]):
        return None
    return CropCache(tuple(info["paths"]), crops, np.array(info["detected"], dtype=bool))


def load_or_build_cache(
    lfw_dir: Path, cache_dir: Path, detector: FaceDetector, progress: bool = True,
    deadline: float | None = None,
) -> CropCache:
    return load_crop_cache(cache_dir) or build_crop_cache(
        lfw_dir, cache_dir, detector, progress, deadline
    )


def smoke_subset(
    images: Sequence[str], split: IdentitySplit, identities: int = 24, per_identity: int = 6,
    pairs_per_fold: int = 20,
) -> tuple[list[str], IdentitySplit]:
    """A small, fixed slice of a split for a smoke run (minutes, not hours): ``identities``
    training and a sixth as many validation identities with at least three images (at most
    ``per_identity`` each), and ``pairs_per_fold`` held-out pairs per fold (half same, half
    different). Returns the images to align and the reduced split."""
    by_id: dict[str, list[str]] = defaultdict(list)
    for rel in images:
        by_id[rel.split("/", 1)[0]].append(rel)
    train = [n for n in split.train_identities if len(by_id[n]) >= 3][:identities]
    val = [n for n in split.val_identities if len(by_id[n]) >= 3][: max(2, identities // 6)]
    per_fold: dict[int, list[Pair]] = defaultdict(list)
    for p in split.eval_pairs:
        per_fold[p.fold].append(p)
    pairs: list[Pair] = []
    for fold in sorted(per_fold):
        same = [p for p in per_fold[fold] if p.same][: pairs_per_fold // 2]
        diff = [p for p in per_fold[fold] if not p.same][: pairs_per_fold // 2]
        pairs += same + diff
    wanted = {p for n in train + val for p in sorted(by_id[n])[:per_identity]}
    wanted |= {p.path_a for p in pairs} | {p.path_b for p in pairs}
    reduced = replace(split, eval_pairs=tuple(pairs), train_identities=tuple(train),
                      val_identities=tuple(val))
    return sorted(wanted), reduced


def load_lfw_pairs(lfw_dir: Path) -> list[Pair]:
    return load_pairs(lfw_dir / "pairs.txt")
