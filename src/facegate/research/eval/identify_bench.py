"""Open-set identification accuracy on LFW (``facegate bench identify``).

Protocol: every LFW person with ≥ 2 images is enrolled with their first image (the face nearest
the image centre, as LFW labels it); their other images are genuine probes. People with exactly
one image are never enrolled: their image is an impostor probe that must come back "unknown".
Search is the production exact search (``facegate.core.matching.index.GalleryIndex``, as used by
``MemorySearch``). Reported at the shipped threshold:

- rank-1 identification rate: genuine probes whose most similar enrolled person is right
  (closed-set, threshold ignored);
- detection-and-identification rate (DIR): right person AND similarity ≥ threshold;
- wrong-person rate: genuine probes answered with another enrolled person (≥ threshold);
- false "known" rate (FPIR): impostor probes answered with any enrolled person (≥ threshold).
Probes without a detected face are counted as failures (genuine) / correct rejections (impostor)
and reported separately.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from facegate.core.domain import FloatArray
from facegate.core.errors import FaceGateError
from facegate.core.matching.index import GalleryIndex
from facegate.core.vision.pipeline import FaceChoice, FacePipeline
from facegate.research.eval.lfw import EmbeddingCache, cache_file, embed_images


@dataclass(frozen=True)
class IdentifyBenchOptions:
    lfw_dir: Path
    cache_dir: Path | None = None
    max_people: int | None = None  # enrolled people (sorted by name); None = all
    max_probes: int | None = None  # genuine probes per person; None = all their other images
    max_impostors: int | None = None  # never-enrolled people; None = all
    progress: bool = True


@dataclass(frozen=True)
class IdentifyBenchReport:
    model: str
    threshold: float
    enrolled: int
    genuine_probes: int
    impostor_probes: int
    rank1: float
    dir_at_threshold: float
    wrong_person_rate: float
    false_known_rate: float
    genuine_no_face: int
    impostor_no_face: int
    enrol_no_face: int
    curve: dict[str, list[float]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def lfw_people(images_dir: Path) -> dict[str, list[str]]:
    """name → relative image paths (sorted), for every LFW person folder."""
    if not images_dir.is_dir():
        raise FaceGateError(f"LFW images not found at {images_dir}")
    return {
        d.name: [f"{d.name}/{f.name}" for f in sorted(d.glob("*.jpg"))]
        for d in sorted(images_dir.iterdir())
        if d.is_dir()
    }


def run_identify_bench(
    pipeline: FacePipeline, threshold: float, options: IdentifyBenchOptions
) -> IdentifyBenchReport:
    images_dir = options.lfw_dir / "lfw-deepfunneled"
    people = lfw_people(images_dir)
    known = [n for n, files in people.items() if len(files) >= 2][: options.max_people]
    strangers = [n for n, files in people.items() if len(files) == 1][: options.max_impostors]
    enrol_rel = {n: people[n][0] for n in known}
    probe_rel = {n: people[n][1:][: options.max_probes] for n in known}
    rels = [*enrol_rel.values(), *(r for v in probe_rel.values() for r in v),
            *(people[n][0] for n in strangers)]
    choice = FaceChoice.CENTRAL
    cache = EmbeddingCache(cache_file(options.cache_dir, pipeline, choice) if options.cache_dir else None)
    vectors = embed_images(pipeline, images_dir, rels, cache, choice, options.progress)

    enrolled = [(i, n) for i, n in enumerate(known) if vectors[enrol_rel[n]] is not None]
    index = GalleryIndex()
    index.replace_all(
        np.asarray([i for i, _ in enrolled]), [n for _, n in enrolled], [n for _, n in enrolled],
        np.stack([vectors[enrol_rel[n]] for _, n in enrolled]), revision=0,  # type: ignore[misc]
    )
    genuine_top, genuine_sim, genuine_no_face = _search(
        index, [(i, r) for i, n in enumerate(known) for r in probe_rel[n]], vectors
    )
    impostor_top, impostor_sim, impostor_no_face = _search(
        index, [(-1, people[n][0]) for n in strangers], vectors
    )
    g_truth = np.asarray([i for i, n in enumerate(known) for _ in probe_rel[n]])
    correct = genuine_top == g_truth
    n_gen, n_imp = len(g_truth), len(impostor_top)
    ths = np.round(np.arange(0.0, 0.81, 0.01), 2)
    curve = {
        "threshold": ths.tolist(),
        "dir": [float(np.mean(correct & (genuine_sim >= t))) if n_gen else 0.0 for t in ths],
        "fpir": [float(np.mean(impostor_sim >= t)) if n_imp else 0.0 for t in ths],
    }
    return IdentifyBenchReport(
        model=pipeline.model_name,
        threshold=threshold,
        enrolled=len(enrolled),
        genuine_probes=n_gen,
        impostor_probes=n_imp,
        rank1=float(np.mean(correct)) if n_gen else 0.0,
        dir_at_threshold=float(np.mean(correct & (genuine_sim >= threshold))) if n_gen else 0.0,
        wrong_person_rate=float(np.mean(~correct & (genuine_sim >= threshold))) if n_gen else 0.0,
        false_known_rate=float(np.mean(impostor_sim >= threshold)) if n_imp else 0.0,
        genuine_no_face=genuine_no_face,
        impostor_no_face=impostor_no_face,
        enrol_no_face=len(known) - len(enrolled),
        curve=curve,
    )


def _search(
    index: GalleryIndex, probes: list[tuple[int, str]], vectors: dict[str, FloatArray | None]
) -> tuple[np.ndarray, np.ndarray, int]:
    """Top-1 person id and similarity per probe (-1 / -inf where no face was found)."""
    top = np.full(len(probes), -1, dtype=np.int64)
    sim = np.full(len(probes), -np.inf, dtype=np.float64)
    have = [k for k, (_, r) in enumerate(probes) if vectors[r] is not None]
    if have:
        mat = np.stack([vectors[probes[k][1]] for k in have])  # type: ignore[misc]
        for s in range(0, len(have), 2048):
            hits = index.search(mat[s : s + 2048], 1)
            for k, h in zip(have[s : s + 2048], hits, strict=True):
                if h:
                    top[k], sim[k] = h[0].person_id, h[0].similarity
    return top, sim, len(probes) - len(have)


def format_report(r: IdentifyBenchReport) -> str:
    return "\n".join([
        f"open-set identification on LFW, model {r.model}, threshold {r.threshold:.3f}",
        f"  enrolled people: {r.enrolled} (no face in {r.enrol_no_face} enrolment images)",
        f"  genuine probes: {r.genuine_probes} ({r.genuine_no_face} without a face)",
        f"  impostor probes (never enrolled): {r.impostor_probes} ({r.impostor_no_face} without a face)",
        f"  rank-1 identification rate: {100 * r.rank1:.2f}%",
        f"  identified correctly at threshold (DIR): {100 * r.dir_at_threshold:.2f}%",
        f"  genuine probes given the wrong person: {100 * r.wrong_person_rate:.2f}%",
        f"  false 'known' rate (impostors accepted): {100 * r.false_known_rate:.2f}%",
    ])


def write_report(r: IdentifyBenchReport, out: Path, plot: bool = True) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "identify.json", out / "identify.txt"]
    written[0].write_text(json.dumps(r.as_dict(), indent=2))
    written[1].write_text(format_report(r) + "\n")
    if plot:
        written.append(_plot(r, out / "identify_dir_fpir.png"))
    return written


def _plot(r: IdentifyBenchReport, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.2))
    ax.plot(r.curve["threshold"], r.curve["dir"], label="DIR (right person, ≥ threshold)")
    ax.plot(r.curve["threshold"], r.curve["fpir"], label="false 'known' rate (impostors)")
    ax.axvline(r.threshold, color="grey", ls=":", label=f"shipped threshold {r.threshold:.3f}")
    ax.set(xlabel="similarity threshold", ylabel="rate",
           title=f"LFW open-set: {r.enrolled} enrolled, {r.impostor_probes} impostors")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


PipelineFactory = Callable[[], FacePipeline]
