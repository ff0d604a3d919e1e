"""The training loop: CosFace on the training identities, validation by verification accuracy.

Deterministic: weights start from ``seed``, batch order and augmentation of epoch ``e`` come from
a generator seeded with ``seed + e``, and the global RNG state (dropout) is saved in every
checkpoint, so ``--resume`` continues exactly where the interrupted run would have been.
Checkpoints: ``last.pt`` after every epoch, ``best.pt`` when validation accuracy improves.
"""

from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm import tqdm

from facegate.research.eval.lfw_pairs import accuracy_at, best_threshold
from facegate.research.training.data import CropCache, IdentitySplit, validation_pairs
from facegate.research.training.model import CosFaceHead, EmbeddingNet, augment

CHECKPOINT_FORMAT = 1


@dataclass(frozen=True)
class TrainOptions:
    """The recipe. Defaults are the shipped run (docs/training.md)."""

    epochs: int = 8
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    warmup_epochs: float = 1.0
    min_images: int = 2  # identities with at least this many training images become classes
    dim: int = 128
    width: int = 32
    dropout: float = 0.2
    margin: float = 0.35
    scale: float = 30.0
    augment_strength: float = 1.0
    patience: int = 5  # early stop after this many epochs without a better validation accuracy
    seed: int = 0
    threads: int = 2
    max_minutes: float | None = None  # the run's time budget: checked before and inside epochs
    max_steps: int | None = None  # stop after this many optimiser steps (smoke tests)


@dataclass(frozen=True)
class EpochStats:
    epoch: int
    loss: float
    train_accuracy: float
    val_accuracy: float
    lr: float
    seconds: float


@dataclass(frozen=True)
class TrainResult:
    out_dir: Path
    best_checkpoint: Path
    last_checkpoint: Path
    history: tuple[EpochStats, ...]
    best_val_accuracy: float
    stopped: str  # "epochs", "early stop", "time budget", "max steps"
    classes: int
    train_images: int
    step_losses: tuple[float, ...] = field(default=())


@dataclass
class _State:
    epoch: int = 0  # epochs completed
    step: int = 0
    best_val: float = -1.0
    stale: int = 0
    history: list[EpochStats] = field(default_factory=list)


def _train_set(cache: CropCache, split: IdentitySplit, min_images: int) -> tuple[np.ndarray, np.ndarray]:
    names = cache.identities
    wanted = set(split.train_identities)
    counts: dict[str, int] = {}
    for n in names:
        if n in wanted:
            counts[n] = counts.get(n, 0) + 1
    classes = sorted(n for n, c in counts.items() if c >= min_images)
    if len(classes) < 2:
        raise ValueError("fewer than two training identities: lower --min-images or use more data")
    label_of = {n: i for i, n in enumerate(classes)}
    idx = np.array([i for i, n in enumerate(names) if n in label_of], dtype=np.int64)
    labels = np.array([label_of[names[i]] for i in idx], dtype=np.int64)
    return idx, labels


def prepare_crops(crops: np.ndarray, indices: np.ndarray, chunk: int = 512) -> Tensor:
    """uint8 BGR N×112×112×3 crops → normalised, halved float N×3×56×56 (done once)."""
    parts = []
    for s in range(0, len(indices), chunk):
        x = torch.from_numpy(np.ascontiguousarray(crops[indices[s : s + chunk]]))
        parts.append(EmbeddingNet.prepare(x.permute(0, 3, 1, 2).float()))
    return torch.cat(parts) if parts else torch.zeros(0, 3, 56, 56)


@torch.no_grad()
def embed_prepared(net: EmbeddingNet, prepared: Tensor, batch: int = 256) -> Tensor:
    """Unit embeddings of crop + mirrored crop, as the exported ``VerifierNet`` computes them."""
    was = net.training
    net.eval()
    out = []
    for s in range(0, len(prepared), batch):
        x = prepared[s : s + batch]
        out.append(F.normalize(net.features(x) + net.features(torch.flip(x, dims=[3])), dim=1))
    net.train(was)
    return torch.cat(out)


def _lr_at(step: int, steps_per_epoch: int, o: TrainOptions) -> float:
    warm = max(1, int(o.warmup_epochs * steps_per_epoch))
    total = max(warm + 1, o.epochs * steps_per_epoch)
    if step < warm:
        return o.lr * (step + 1) / warm
    return 0.5 * o.lr * (1.0 + math.cos(math.pi * min(1.0, (step - warm) / (total - warm))))


def _save(path: Path, payload: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    torch.save(payload, tmp)
    os.replace(tmp, path)


RUN_CONTROL = ("threads", "max_minutes", "max_steps", "patience")  # may change on --resume


def _recipe(options: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in options.items() if k not in RUN_CONTROL}


def _options_dict(o: TrainOptions) -> dict[str, Any]:
    return asdict(o)


def load_checkpoint(path: Path) -> dict[str, Any]:
    ckpt: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=False)
    if ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a FaceGate siamese checkpoint (format {CHECKPOINT_FORMAT})")
    return ckpt


def net_from_checkpoint(ckpt: dict[str, Any]) -> EmbeddingNet:
    arch = ckpt["arch"]
    net = EmbeddingNet(dim=arch["dim"], width=arch["width"], dropout=arch["dropout"])
    net.load_state_dict(ckpt["model"])
    return net.eval()


def _save_partial_epoch(
    checkpoint: Any, best_path: Path, last_path: Path, partial: dict[str, Any], state: _State,
    stats: EpochStats,
) -> None:
    """An epoch cut short by the time budget: ``last.pt`` can resume inside it (same batches,
    same augmentation), ``best.pt`` exists even when this was the first epoch. Best/stale are
    left for the completed epoch to decide, so a resumed run equals an uninterrupted one."""
    state.history.append(stats)
    if not best_path.exists():
        checkpoint(best_path, partial)
    checkpoint(last_path, partial)


def train_siamese(
    cache: CropCache,
    split: IdentitySplit,
    out_dir: Path,
    options: TrainOptions,
    resume: bool = False,
    progress: bool = True,
    started: float | None = None,
) -> TrainResult:
    """Train (or resume) the embedding network; checkpoints go to ``out_dir``.

    ``max_minutes`` counts from ``started`` (``time.monotonic()``; default: now): no epoch starts
    when the previous one says it would end past the budget, and a running epoch stops at the
    budget, is validated and checkpointed like a full one (``stopped == "time budget"``).
    """
    o = options
    torch.set_num_threads(o.threads)
    torch.manual_seed(o.seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    last_path, best_path = out_dir / "last.pt", out_dir / "best.pt"

    idx, labels_np = _train_set(cache, split, o.min_images)
    classes = int(labels_np.max()) + 1
    val_a, val_b, val_y = validation_pairs(cache.paths, split.val_identities, seed=o.seed)
    val_idx = np.unique(np.r_[val_a, val_b])
    val_pos = {int(g): k for k, g in enumerate(val_idx)}
    pa = np.array([val_pos[int(i)] for i in val_a])
    pb = np.array([val_pos[int(i)] for i in val_b])

    net = EmbeddingNet(dim=o.dim, width=o.width, dropout=o.dropout)
    head = CosFaceHead(o.dim, classes, scale=o.scale, margin=o.margin)
    params = list(net.parameters()) + list(head.parameters())
    opt = torch.optim.SGD(params, lr=o.lr, momentum=o.momentum, weight_decay=o.weight_decay, nesterov=True)
    state = _State()
    partial: dict[str, Any] | None = None  # an epoch the time budget cut short, to finish first
    if resume and last_path.is_file():
        ckpt = load_checkpoint(last_path)
        if _recipe(ckpt["options"]) != _recipe(_options_dict(o)) or ckpt["split"] != split.describe():
            raise ValueError(
                f"{last_path} was made with another recipe or split; resume with the same "
                "options, or train into a new --out directory"
            )
        net.load_state_dict(ckpt["model"])
        head.load_state_dict(ckpt["head"])
        opt.load_state_dict(ckpt["optimizer"])
        torch.set_rng_state(ckpt["rng"])
        state = _State(
            epoch=ckpt["epoch"],
            step=ckpt["step"],
            best_val=ckpt["best_val"],
            stale=ckpt["stale"],
            history=[EpochStats(**h) for h in ckpt["history"]],
        )
        partial = ckpt.get("partial")
        if partial is not None:  # its provisional line is replaced when the epoch completes
            state.history = [h for h in state.history if h.epoch != partial["epoch"]]

    images = prepare_crops(cache.crops, idx)
    val_images = prepare_crops(cache.crops, val_idx)
    labels = torch.from_numpy(labels_np)
    steps_per_epoch = max(1, len(idx) // o.batch_size)  # drop the ragged last batch (BatchNorm)
    started = time.monotonic() if started is None else started
    budget_s = None if o.max_minutes is None else o.max_minutes * 60.0
    stopped = "epochs"
    step_losses: list[float] = []

    def checkpoint(path: Path, partial: dict[str, Any] | None = None) -> None:
        _save(
            path,
            {
                "format": CHECKPOINT_FORMAT,
                "arch": {"dim": o.dim, "width": o.width, "dropout": o.dropout},
                "model": net.state_dict(),
                "head": head.state_dict(),
                "optimizer": opt.state_dict(),
                "rng": torch.get_rng_state(),
                "epoch": state.epoch,
                "step": state.step,
                "best_val": state.best_val,
                "stale": state.stale,
                "history": [asdict(h) for h in state.history],
                "options": _options_dict(o),
                "split": split.describe(),
                "eval_folds": list(split.eval_folds),
                "classes": classes,
                "train_images": len(idx),
                "partial": partial,
            },
        )

    while state.epoch < o.epochs:
        epoch = state.epoch + 1
        if state.history and o.max_minutes is not None and partial is None:
            elapsed = (time.monotonic() - started) / 60.0
            if elapsed + state.history[-1].seconds / 60.0 > o.max_minutes:
                stopped = "time budget"
                break
        t0 = time.monotonic()
        gen = torch.Generator().manual_seed(o.seed * 1000 + epoch)
        order = torch.randperm(len(idx), generator=gen)
        net.train()
        head.train()
        total, correct, seen, first = 0.0, 0, 0, 0
        if partial is not None and partial["epoch"] == epoch:  # resume inside this epoch
            gen.set_state(partial["generator"])
            first, total, correct, seen = partial["k"], partial["total"], partial["correct"], partial["seen"]
        partial = None
        done = first
        last_val = state.history[-1].val_accuracy if state.history else float("nan")
        bar = tqdm(range(first, steps_per_epoch), desc=f"epoch {epoch}/{o.epochs}",
                   disable=not progress, leave=True, file=sys.stderr)
        lr = o.lr
        for k in bar:
            lr = _lr_at(state.step, steps_per_epoch, o)
            for g in opt.param_groups:
                g["lr"] = lr
            sel = order[k * o.batch_size : (k + 1) * o.batch_size]
            x = augment(images[sel], gen, o.augment_strength)
            y = labels[sel]
            loss, cos = head(net.features(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            state.step += 1
            value = float(loss.detach())
            step_losses.append(value)
            total += value * len(sel)
            correct += int((cos.detach().argmax(dim=1) == y).sum())
            seen += len(sel)
            done = k + 1
            bar.set_postfix(loss=f"{total / seen:.3f}", lr=f"{lr:.4f}", val_acc=f"{last_val:.4f}")
            if o.max_steps is not None and state.step >= o.max_steps:
                stopped = "max steps"
                break
            if budget_s is not None and time.monotonic() - started >= budget_s:
                stopped = "time budget"  # inside the epoch: validate and save what was learnt
                break
        emb = embed_prepared(net, val_images)
        val_scores = (emb[pa] * emb[pb]).sum(dim=1).numpy().astype(np.float64)
        val_acc = accuracy_at(val_scores, val_y, best_threshold(val_scores, val_y))
        if stopped == "time budget" and done < steps_per_epoch:
            _save_partial_epoch(checkpoint, best_path, last_path, {
                "epoch": epoch, "k": done, "generator": gen.get_state(), "total": total,
                "correct": correct, "seen": seen,
            }, state, EpochStats(epoch, total / max(seen, 1), correct / max(seen, 1), val_acc,
                                 lr, time.monotonic() - t0))
            bar.close()
            break
        state.epoch = epoch
        state.history.append(
            EpochStats(
                epoch, total / max(seen, 1), correct / max(seen, 1), val_acc, lr, time.monotonic() - t0
            )
        )
        bar.set_postfix(loss=f"{total / max(seen, 1):.3f}", lr=f"{lr:.4f}", val_acc=f"{val_acc:.4f}")
        bar.close()
        if val_acc > state.best_val:
            state.best_val, state.stale = val_acc, 0
            checkpoint(best_path)
        else:
            state.stale += 1
        checkpoint(last_path)
        if stopped in ("max steps", "time budget"):
            break
        if state.stale >= o.patience:
            stopped = "early stop"
            break
    return TrainResult(
        out_dir=out_dir,
        best_checkpoint=best_path,
        last_checkpoint=last_path,
        history=tuple(state.history),
        best_val_accuracy=state.best_val,
        stopped=stopped,
        classes=classes,
        train_images=len(idx),
        step_losses=tuple(step_losses),
    )
