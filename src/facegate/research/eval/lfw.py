"""LFW verification benchmark: embed the pair images, score, 10-fold protocol, figures and plots.

``evaluate_lfw`` is what ``facegate bench lfw`` runs. For every image the face nearest the image
centre is used (LFW's labelled person; the largest or best-scoring face is often a bystander).
An image where no face is found gets no embedding, and every pair that uses it is scored −1
(i.e. counted as DIFFERENT, the conservative choice); the report counts both.

Embeddings are cached on disk (``EmbeddingCache``) keyed by model, detector, face choice and the
SHA-256 of the image bytes, so a rerun (another threshold, plots, fusion) costs seconds.
A fusion pack is evaluated from its members' cached similarities: per fold, the fusion weights and
the threshold are learned on the nine other folds only, and the held-out fold is scored with them.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from facegate.core.domain import FloatArray
from facegate.core.errors import FaceGateError, InvalidImageError
from facegate.core.vision.fusion import fuse_similarities, learn_fusion_weights
from facegate.core.vision.images import read_image_file
from facegate.core.vision.pipeline import FaceChoice, FacePipeline
from facegate.research.eval.lfw_pairs import FoldResult, Pair, accuracy_at, best_threshold, load_pairs
from facegate.research.eval.metrics import equal_error_rate, roc_auc, roc_curve, tar_at_far

MISSING_SCORE = -1.0
TARGET_FARS = (1e-2, 1e-3)


class LfwDataError(FaceGateError):
    code = "lfw_data"


@dataclass(frozen=True)
class LfwOptions:
    lfw_dir: Path
    """Folder holding ``pairs.txt`` and ``lfw-deepfunneled/``."""
    cache_dir: Path | None = None
    """Where embeddings are cached (``None``: no cache)."""
    folds: tuple[int, ...] | None = None
    """Only these folds (1-based); None = all ten. Fewer than two folds: no cross-validation."""
    face_choice: FaceChoice = FaceChoice.CENTRAL
    progress: bool = True

    @property
    def images_dir(self) -> Path:
        return self.lfw_dir / "lfw-deepfunneled"

    @property
    def pairs_file(self) -> Path:
        return self.lfw_dir / "pairs.txt"


class EmbeddingCache:
    """Image SHA-256 → embedding (or "no face") for one model/detector/face-choice, in one file."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._data: dict[str, FloatArray | None] = {}
        self._dirty = False
        if path is not None and path.is_file():
            with np.load(path) as npz:
                for key in npz.files:
                    v = npz[key]
                    self._data[key] = v.astype(np.float32) if v.size else None

    def __contains__(self, digest: str) -> bool:
        return digest in self._data

    def __len__(self) -> int:
        return len(self._data)

    def get(self, digest: str) -> FloatArray | None:
        return self._data[digest]

    def put(self, digest: str, vector: FloatArray | None) -> None:
        self._data[digest] = vector
        self._dirty = True

    def save(self) -> None:
        if self.path is None or not self._dirty:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        empty = np.zeros(0, dtype=np.float32)
        arrays = {k: (empty if v is None else v) for k, v in self._data.items()}
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, suffix=".npz")
        os.close(fd)
        try:
            np.savez(tmp, **arrays)
            os.replace(tmp, self.path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        self._dirty = False


def cache_file(cache_dir: Path, pipeline: FacePipeline, choice: FaceChoice) -> Path:
    """One file per model, implementation, detector and face choice."""
    impl = type(pipeline.embedder).__name__
    variant = getattr(pipeline.embedder, "variant", "")  # e.g. the graph file and its runtime
    if variant:
        impl = f"{impl}-{variant}"
    name = f"{pipeline.model_name}__{impl}__{pipeline.detector.name}__{choice.value}.npz"
    return cache_dir / name


def embed_images(
    pipeline: FacePipeline,
    images_dir: Path,
    relative_paths: Sequence[str],
    cache: EmbeddingCache,
    choice: FaceChoice = FaceChoice.CENTRAL,
    progress: bool = True,
) -> dict[str, FloatArray | None]:
    """Embedding of the chosen face of every image (None where no face was found)."""
    out: dict[str, FloatArray | None] = {}
    bar = tqdm(relative_paths, desc=f"embed {pipeline.model_name}", unit="img", disable=not progress)
    for n, rel in enumerate(bar, 1):
        path = images_dir / rel
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise LfwDataError(f"cannot read LFW image {path}: {exc.strerror or exc}") from exc
        digest = hashlib.sha256(data).hexdigest()
        if digest not in cache:
            try:
                image = read_image_file(path)
            except InvalidImageError as exc:
                raise LfwDataError(exc.message) from exc
            face, _ = pipeline.choose(image, choice)
            cache.put(digest, None if face is None or face.embedding is None else face.embedding.vector)
            if n % 500 == 0:
                cache.save()  # an interrupted run keeps most of its work
        out[rel] = cache.get(digest)
    cache.save()
    return out


def score_pairs(pairs: Sequence[Pair], vectors: dict[str, FloatArray | None]) -> np.ndarray:
    """Cosine similarity of each pair (embeddings are unit length); MISSING_SCORE without a face."""
    scores = np.empty(len(pairs), dtype=np.float64)
    for i, p in enumerate(pairs):
        a, b = vectors[p.path_a], vectors[p.path_b]
        scores[i] = MISSING_SCORE if a is None or b is None else float(np.dot(a, b))
    return scores


@dataclass(frozen=True)
class FusionFold:
    fold: int
    weights: tuple[float, ...]


@dataclass(frozen=True)
class LfwReport:
    """Every figure of one ``bench lfw`` run; ``to_json`` writes it out."""

    model: str
    pairs: int
    folds: list[FoldResult]
    mean_accuracy: float
    std_accuracy: float
    mean_threshold: float
    auc: float
    eer: float
    operating_points: list[dict[str, float]]
    images: int
    images_without_face: list[str]
    pairs_with_missing_face: int
    missing_face_handling: str
    shipped_threshold: float | None
    accuracy_at_shipped: dict[str, float]
    members: list[dict[str, object]] = field(default_factory=list)
    fusion_folds: list[FusionFold] = field(default_factory=list)
    mean_fusion_weights: tuple[float, ...] = ()
    scores: list[float] = field(default_factory=list, repr=False)
    labels: list[bool] = field(default_factory=list, repr=False)

    def to_json(self) -> dict[str, object]:
        d = asdict(self)
        d.pop("scores")
        d.pop("labels")
        return d


def _protocol(
    scores: np.ndarray, labels: np.ndarray, folds: np.ndarray
) -> tuple[list[FoldResult], float]:
    """Per fold: threshold on the other folds (or on itself when only one fold is given)."""
    uniq = np.unique(folds)
    if len(uniq) < 2:
        t = best_threshold(scores, labels)
        return [FoldResult(int(uniq[0]), t, accuracy_at(scores, labels, t))], t
    out = []
    for k in uniq:
        train, test = folds != k, folds == k
        t = best_threshold(scores[train], labels[train])
        out.append(FoldResult(int(k), t, accuracy_at(scores[test], labels[test], t)))
    return out, float(np.mean([r.threshold for r in out]))


def fuse_out_of_fold(
    member_scores: np.ndarray, labels: np.ndarray, folds: np.ndarray
) -> tuple[np.ndarray, list[FusionFold], list[FoldResult]]:
    """The fusion protocol: per held-out fold, weights *and* threshold learned on the other folds.

    For held-out fold k: weights w_k are fitted on the other folds, the threshold is the best one
    on the other folds' similarities fused with w_k, and fold k is fused with w_k and judged with
    that threshold. Returns each pair's fused score (with its fold's w_k), the weights and results.
    """
    fused = np.empty(len(labels), dtype=np.float64)
    out: list[FusionFold] = []
    results: list[FoldResult] = []
    uniq = np.unique(folds)
    for k in uniq:
        test = folds == k
        train = ~test if len(uniq) > 1 else test
        w = learn_fusion_weights(member_scores[train], labels[train]).weights
        t = best_threshold(fuse_similarities(member_scores[train], w), labels[train])
        fused[test] = fuse_similarities(member_scores[test], w)
        out.append(FusionFold(int(k), w))
        results.append(FoldResult(int(k), t, accuracy_at(fused[test], labels[test], t)))
    return fused, out, results


def summarize(
    model: str,
    scores: np.ndarray,
    labels: np.ndarray,
    folds: np.ndarray,
    shipped_threshold: float | None = None,
    fold_results: list[FoldResult] | None = None,
) -> tuple[list[FoldResult], dict[str, object]]:
    """10-fold accuracies and ROC figures of one score vector (``fold_results``: already done)."""
    if fold_results is None:
        results, mean_t = _protocol(scores, labels, folds)
    else:
        results, mean_t = fold_results, float(np.mean([r.threshold for r in fold_results]))
    accs = np.array([r.accuracy for r in results])
    roc = roc_curve(scores, labels)
    points = [asdict(tar_at_far(roc, f)) for f in TARGET_FARS]
    figures: dict[str, object] = {
        "model": model,
        "mean_accuracy": float(accs.mean()),
        "std_accuracy": float(accs.std()),
        "mean_threshold": mean_t,
        "auc": roc_auc(roc),
        "eer": equal_error_rate(roc),
        "operating_points": points,
    }
    if shipped_threshold is not None:
        figures["accuracy_at_shipped"] = {
            f"fold {int(k) + 1}": accuracy_at(scores[folds == k], labels[folds == k], shipped_threshold)
            for k in np.unique(folds)
        } | {"all": accuracy_at(scores, labels, shipped_threshold)}
    return results, figures


def _protocol_pairs(options: LfwOptions) -> list[Pair]:
    """The protocol's pairs (of the chosen folds); ``LfwDataError`` when LFW is missing."""
    if not options.pairs_file.is_file() or not options.images_dir.is_dir():
        raise LfwDataError(
            f"LFW not found at {options.lfw_dir} (expected pairs.txt and lfw-deepfunneled/)"
        )
    pairs = load_pairs(options.pairs_file)
    if options.folds is not None:
        wanted = {f - 1 for f in options.folds}
        bad = sorted(f for f in options.folds if not 1 <= f <= 10)
        if bad:
            raise LfwDataError(f"folds are numbered 1 to 10, got {bad}")
        pairs = [p for p in pairs if p.fold in wanted]
    return pairs


def _member_scores(
    names: Sequence[str], pipeline_for: Callable[[str], FacePipeline], options: LfwOptions,
    pairs: list[Pair], rels: list[str],
) -> tuple[list[np.ndarray], set[str]]:
    """Each model's pair scores, and the images where some model found no face."""
    member_scores = []
    missing: set[str] = set()
    for name in names:
        pipe = pipeline_for(name)
        cache = EmbeddingCache(
            cache_file(options.cache_dir, pipe, options.face_choice) if options.cache_dir else None
        )
        vectors = embed_images(
            pipe, options.images_dir, rels, cache, options.face_choice, options.progress
        )
        missing |= {r for r, v in vectors.items() if v is None}
        member_scores.append(score_pairs(pairs, vectors))
    return member_scores, missing


def evaluate_lfw(
    model: str,
    pipeline_for: Callable[[str], FacePipeline],
    options: LfwOptions,
    members: Sequence[str] = (),
    shipped_threshold: float | None = None,
) -> LfwReport:
    """Run the LFW protocol for ``model`` (or the fusion of ``members``, if given)."""
    pairs = _protocol_pairs(options)
    rels = sorted({p.path_a for p in pairs} | {p.path_b for p in pairs})
    labels = np.array([p.same for p in pairs], dtype=bool)
    folds = np.array([p.fold for p in pairs])
    names = list(members) or [model]
    member_scores, missing = _member_scores(names, pipeline_for, options, pairs, rels)
    matrix = np.stack(member_scores, axis=1)
    member_figures: list[dict[str, object]] = []
    fusion_folds: list[FusionFold] = []
    done: list[FoldResult] | None = None
    if members:
        for i, name in enumerate(names):
            _, figs = summarize(name, matrix[:, i], labels, folds)
            member_figures.append(figs)
        scores, fusion_folds, done = fuse_out_of_fold(matrix, labels, folds)
    else:
        scores = matrix[:, 0]
    results, figures = summarize(model, scores, labels, folds, shipped_threshold, done)
    bad_pair = np.array([p.path_a in missing or p.path_b in missing for p in pairs])
    mean_w = (
        tuple(float(v) for v in np.mean([f.weights for f in fusion_folds], axis=0))
        if fusion_folds
        else ()
    )
    return LfwReport(
        model=model,
        pairs=len(pairs),
        folds=results,
        mean_accuracy=float(figures["mean_accuracy"]),  # type: ignore[arg-type]
        std_accuracy=float(figures["std_accuracy"]),  # type: ignore[arg-type]
        mean_threshold=float(figures["mean_threshold"]),  # type: ignore[arg-type]
        auc=float(figures["auc"]),  # type: ignore[arg-type]
        eer=float(figures["eer"]),  # type: ignore[arg-type]
        operating_points=figures["operating_points"],  # type: ignore[arg-type]
        images=len(rels),
        images_without_face=sorted(missing),
        pairs_with_missing_face=int(bad_pair.sum()),
        missing_face_handling=f"pairs with an image without a face are scored {MISSING_SCORE} "
        "(counted as DIFFERENT)",
        shipped_threshold=shipped_threshold,
        accuracy_at_shipped=figures.get("accuracy_at_shipped", {}),  # type: ignore[arg-type]
        members=member_figures,
        fusion_folds=fusion_folds,
        mean_fusion_weights=mean_w,
        scores=[float(s) for s in scores],
        labels=[bool(v) for v in labels],
    )


def write_report(report: LfwReport, out_dir: Path) -> list[Path]:
    """Write ``lfw.json``, ``roc.png`` and ``scores.png`` into ``out_dir``; return the paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    scores = np.asarray(report.scores)
    labels = np.asarray(report.labels, dtype=bool)
    json_path = out_dir / "lfw.json"
    json_path.write_text(json.dumps(report.to_json(), indent=2))

    roc = roc_curve(scores, labels)
    fig, ax = plt.subplots(figsize=(5, 4), dpi=100)
    ax.plot(np.clip(roc.far, 1e-4, 1), roc.tar, lw=1.5)
    ax.set_xscale("log")
    ax.set_xlim(1e-4, 1)
    ax.set_ylim(max(0.0, float(roc.tar[np.searchsorted(roc.far, 1e-3)]) - 0.05), 1.001)
    ax.set_xlabel("false accept rate (log)")
    ax.set_ylabel("true accept rate")
    ax.set_title(f"LFW ROC: {report.model} (AUC {report.auc:.4f}, EER {report.eer:.2%})")
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    roc_path = out_dir / "roc.png"
    fig.savefig(roc_path)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(5, 3.5), dpi=100)
    bins = np.linspace(min(-0.2, float(scores[scores > MISSING_SCORE].min(initial=0))), 1.0, 60).tolist()
    ax.hist(scores[labels], bins=bins, alpha=0.6, label="same person")
    ax.hist(scores[~labels], bins=bins, alpha=0.6, label="different people")
    ax.axvline(report.mean_threshold, color="k", ls="--", lw=1,
               label=f"threshold {report.mean_threshold:.3f}")
    ax.set_xlabel("similarity")
    ax.set_ylabel("pairs")
    ax.set_title(f"LFW similarity: {report.model}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    hist_path = out_dir / "scores.png"
    fig.savefig(hist_path)
    plt.close(fig)
    return [json_path, roc_path, hist_path]


def format_report(report: LfwReport) -> list[str]:
    """Human-readable lines for the CLI."""
    lines = [f"LFW {report.model}: {report.pairs} pairs, {report.images} images"]
    if len(report.folds) > 1:
        lines.append("fold  threshold  accuracy" + ("  fusion weights" if report.fusion_folds else ""))
        weights = {f.fold: f.weights for f in report.fusion_folds}
        for r in report.folds:
            w = weights.get(r.fold)
            extra = "  " + " ".join(f"{v:.3f}" for v in w) if w else ""
            lines.append(f"{r.fold + 1:4d}  {r.threshold:9.4f}  {r.accuracy:8.4f}{extra}")
    lines.append(
        f"accuracy {report.mean_accuracy:.2%} ± {report.std_accuracy:.2%}  (mean threshold "
        f"{report.mean_threshold:.4f})"
    )
    lines.append(f"ROC AUC {report.auc:.5f}  EER {report.eer:.2%}")
    for p in report.operating_points:
        lines.append(
            f"TAR {p['tar']:.2%} at FAR {p['far']:.4f} (target {p['target_far']:g}, "
            f"threshold {p['threshold']:.4f})"
        )
    for m in report.members:
        lines.append(
            f"member {m['model']}: accuracy {m['mean_accuracy']:.2%} ± {m['std_accuracy']:.2%}, "
            f"AUC {m['auc']:.5f}"
        )
    if report.mean_fusion_weights:
        lines.append("mean fusion weights: " + " ".join(f"{w:.3f}" for w in report.mean_fusion_weights))
    if report.shipped_threshold is not None:
        acc = ", ".join(f"{k} {v:.2%}" for k, v in report.accuracy_at_shipped.items())
        lines.append(f"at the shipped threshold {report.shipped_threshold:.4f}: {acc}")
    lines.append(
        f"images without a face: {len(report.images_without_face)}; pairs affected: "
        f"{report.pairs_with_missing_face} ({report.missing_face_handling})"
    )
    return lines
