"""Evaluate a checkpoint on the held-out LFW folds and write JSON + PNG reports."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from facegate.research.eval.lfw_pairs import Pair
from facegate.research.training.data import CropCache
from facegate.research.training.metrics import (
    VerificationReport,
    evaluate_scores,
    plot_history,
    plot_roc,
    roc_curve,
)
from facegate.research.training.model import VerifierNet
from facegate.research.training.trainer import load_checkpoint, net_from_checkpoint


@torch.no_grad()
def embed_crops(model: VerifierNet, crops: np.ndarray, batch: int = 128) -> np.ndarray:
    """Unit embeddings of uint8 BGR 112×112 crops, through the exact graph that is exported."""
    model.eval()
    out = []
    for s in range(0, len(crops), batch):
        x = torch.from_numpy(np.ascontiguousarray(crops[s : s + batch])).permute(0, 3, 1, 2).float()
        out.append(model(x).numpy())
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def score_pairs(
    model: VerifierNet, cache: CropCache, pairs: Sequence[Pair]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cosine similarity, same-person label and fold of every pair."""
    where = cache.index()
    needed = sorted({p.path_a for p in pairs} | {p.path_b for p in pairs})
    missing = [p for p in needed if p not in where]
    if missing:
        raise ValueError(f"{len(missing)} pair images are not in the crop cache, e.g. {missing[0]}")
    rows = np.array([where[p] for p in needed])
    emb = embed_crops(model, cache.crops[rows])
    pos = {p: k for k, p in enumerate(needed)}
    a = emb[[pos[p.path_a] for p in pairs]]
    b = emb[[pos[p.path_b] for p in pairs]]
    scores = np.sum(a * b, axis=1).astype(np.float64)
    return scores, np.array([p.same for p in pairs]), np.array([p.fold for p in pairs])


def evaluate_checkpoint(
    checkpoint: Path, cache: CropCache, pairs: Sequence[Pair], report_dir: Path
) -> VerificationReport:
    """Score the pairs, write ``evaluation.json``, ``roc.png`` and ``training_curves.png``."""
    ckpt = load_checkpoint(checkpoint)
    model = VerifierNet(net_from_checkpoint(ckpt))
    scores, labels, folds = score_pairs(model, cache, pairs)
    report = evaluate_scores(scores, labels, folds)
    report_dir.mkdir(parents=True, exist_ok=True)
    where = cache.index()
    undetected = sum(
        1 for p in {q.path_a for q in pairs} | {q.path_b for q in pairs} if not cache.detected[where[p]]
    )
    history = _run_history(checkpoint, ckpt)
    payload = {
        "checkpoint": str(checkpoint),
        "epoch": ckpt["epoch"],
        "split": ckpt["split"],
        "options": ckpt["options"],
        "classes": ckpt["classes"],
        "train_images": ckpt["train_images"],
        "eval_images_without_detected_face": undetected,
        "report": report.as_dict(),
        "history": history,
    }
    (report_dir / "evaluation.json").write_text(json.dumps(payload, indent=2, default=str))
    plot_roc(roc_curve(scores, labels), f"siamese (AUC {report.auc:.3f})", report_dir / "roc.png")
    if history:
        plot_history(history, report_dir / "training_curves.png")
    return report


def _run_history(checkpoint: Path, ckpt: dict[str, Any]) -> list[dict[str, float]]:
    """The whole run's epochs: best.pt stops at its epoch, last.pt of the same run goes on."""
    history: list[dict[str, float]] = ckpt["history"]
    last = checkpoint.parent / "last.pt"
    if last.is_file() and last != checkpoint:
        other = load_checkpoint(last)
        if other["split"] == ckpt["split"] and other["history"][: len(history)] == history:
            history = other["history"]
    return history


def report_rows(report: VerificationReport) -> list[str]:
    """A markdown table of the per-fold results."""
    rows = ["| fold | threshold | accuracy |", "|---:|---:|---:|"]
    rows += [f"| {f.fold + 1} | {f.threshold:.4f} | {f.accuracy:.4f} |" for f in report.folds]
    return rows
