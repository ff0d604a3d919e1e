"""The training loop: CosFace on the training identities, validation by verification accuracy.

Deterministic: weights start from ``seed``, batch order and augmentation of epoch ``e`` come from
a generator seeded with ``seed + e``, and the global RNG state (dropout) is saved in every
checkpoint, so ``--resume`` continues exactly where the interrupted run would have been.
Checkpoints: ``last.pt`` after every epoch, ``best.pt`` when validation accuracy improves.
"""

from __future__ import annotations

import math
import os
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
    max_minutes: float | None = None  # stop before an epoch that would end past this budget
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


@dataclass(frozen=True)
class _Validation:
    """Validation pairs: the images to embed (``idx``) and the pair indices into them."""

    idx: np.ndarray
    pa: np.ndarray
    pb: np.ndarray
    y: np.ndarray

    @classmethod
    def of(cls, cache: CropCache, split: IdentitySplit, seed: int) -> _Validation:
        val_a, val_b, val_y = validation_pairs(cache.paths, split.val_identities, seed=seed)
        val_idx = np.unique(np.r_[val_a, val_b])
        val_pos = {int(g): k for k, g in enumerate(val_idx)}
        pa = np.array([val_pos[int(i)] for i in val_a])
        pb = np.array([val_pos[int(i)] for i in val_b])
        return cls(val_idx, pa, pb, val_y)


def _resume(
    last_path: Path, o: TrainOptions, split: IdentitySplit, net: EmbeddingNet, head: CosFaceHead,
    opt: torch.optim.Optimizer,
) -> _State:
    """Load ``last_path`` into the network, head and optimizer; the training state it had."""
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
    return _State(
        epoch=ckpt["epoch"],
        step=ckpt["step"],
        best_val=ckpt["best_val"],
        stale=ckpt["stale"],
        history=[EpochStats(**h) for h in ckpt["history"]],
    )


@dataclass
class _Run:
    """One training run's moving parts: epochs, validation and checkpoints."""

    net: EmbeddingNet
    head: CosFaceHead
    opt: torch.optim.Optimizer
    state: _State
    o: TrainOptions
    images: torch.Tensor
    labels: torch.Tensor
    progress: bool
    step_losses: list[float] = field(default_factory=list)

    def epoch(self, epoch: int, val: _Validation, val_images: torch.Tensor) -> bool:
        """Train one epoch, validate, update the state; True when ``max_steps`` was reached."""
        o, state = self.o, self.state
        t0 = time.monotonic()
        steps_per_epoch = max(1, len(self.labels) // o.batch_size)  # drop the ragged last batch
        gen = torch.Generator().manual_seed(o.seed * 1000 + epoch)
        order = torch.randperm(len(self.labels), generator=gen)
        self.net.train()
        self.head.train()
        total, correct, seen = 0.0, 0, 0
        last_val = state.history[-1].val_accuracy if state.history else float("nan")
        bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch}/{o.epochs}", disable=not self.progress,
                   leave=True)
        lr = o.lr
        hit_max_steps = False
        for k in bar:
            lr = _lr_at(state.step, steps_per_epoch, o)
            sel = order[k * o.batch_size : (k + 1) * o.batch_size]
            value, right = self._step(sel, gen, lr)
            total += value * len(sel)
            correct += right
            seen += len(sel)
            bar.set_postfix(loss=f"{total / seen:.3f}", lr=f"{lr:.4f}", val_acc=f"{last_val:.4f}")
            if o.max_steps is not None and state.step >= o.max_steps:
                hit_max_steps = True
                break
        emb = embed_prepared(self.net, val_images)
        val_scores = (emb[val.pa] * emb[val.pb]).sum(dim=1).numpy().astype(np.float64)
        val_acc = accuracy_at(val_scores, val.y, best_threshold(val_scores, val.y))
        state.epoch = epoch
        state.history.append(EpochStats(
            epoch, total / max(seen, 1), correct / max(seen, 1), val_acc, lr, time.monotonic() - t0
        ))
        bar.set_postfix(loss=f"{total / max(seen, 1):.3f}", lr=f"{lr:.4f}", val_acc=f"{val_acc:.4f}")
        bar.close()
        if val_acc > state.best_val:
            state.best_val, state.stale = val_acc, 0
        else:
            state.stale += 1
        return hit_max_steps

    def _step(self, sel: torch.Tensor, gen: torch.Generator, lr: float) -> tuple[float, int]:
        """One SGD step on the batch ``sel``: its loss and how many it classified right."""
        for g in self.opt.param_groups:
            g["lr"] = lr
        x = augment(self.images[sel], gen, self.o.augment_strength)
        y = self.labels[sel]
        loss, cos = self.head(self.net.features(x), y)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.state.step += 1
        value = float(loss.detach())
        self.step_losses.append(value)
        return value, int((cos.detach().argmax(dim=1) == y).sum())

    def save(self, path: Path, meta: dict[str, Any]) -> None:
        o, state = self.o, self.state
        _save(path, {
            "format": CHECKPOINT_FORMAT,
            "arch": {"dim": o.dim, "width": o.width, "dropout": o.dropout},
            "model": self.net.state_dict(),
            "head": self.head.state_dict(),
            "optimizer": self.opt.state_dict(),
            "rng": torch.get_rng_state(),
            "epoch": state.epoch,
            "step": state.step,
            "best_val": state.best_val,
            "stale": state.stale,
            "history": [asdict(h) for h in state.history],
            "options": _options_dict(o),
            "split": meta["split"],
            "eval_folds": meta["eval_folds"],
            "classes": meta["classes"],
            "train_images": meta["train_images"],
        })


def train_siamese(
    cache: CropCache,
    split: IdentitySplit,
    out_dir: Path,
    options: TrainOptions,
    resume: bool = False,
    progress: bool = True,
) -> TrainResult:
    """Train (or resume) the embedding network; checkpoints go to ``out_dir``."""
    o = options
    torch.set_num_threads(o.threads)
    torch.manual_seed(o.seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    last_path, best_path = out_dir / "last.pt", out_dir / "best.pt"

    idx, labels_np = _train_set(cache, split, o.min_images)
    classes = int(labels_np.max()) + 1
    val = _Validation.of(cache, split, o.seed)
    net = EmbeddingNet(dim=o.dim, width=o.width, dropout=o.dropout)
    head = CosFaceHead(o.dim, classes, scale=o.scale, margin=o.margin)
    params = list(net.parameters()) + list(head.parameters())
    opt = torch.optim.SGD(params, lr=o.lr, momentum=o.momentum, weight_decay=o.weight_decay, nesterov=True)
    state = _resume(last_path, o, split, net, head, opt) if resume and last_path.is_file() else _State()
    run = _Run(net, head, opt, state, o, prepare_crops(cache.crops, idx), torch.from_numpy(labels_np),
               progress)
    val_images = prepare_crops(cache.crops, val.idx)
    meta = {"split": split.describe(), "eval_folds": list(split.eval_folds), "classes": classes,
            "train_images": len(idx)}
    started = time.monotonic()
    stopped = "epochs"
    while state.epoch < o.epochs:
        if state.history and o.max_minutes is not None:
            elapsed = (time.monotonic() - started) / 60.0
            if elapsed + state.history[-1].seconds / 60.0 > o.max_minutes:
                stopped = "time budget"
                break
        hit_max_steps = run.epoch(state.epoch + 1, val, val_images)
        if state.stale == 0:
            run.save(best_path, meta)
        run.save(last_path, meta)
        if hit_max_steps:
            stopped = "max steps"
            break
        if state.stale >= o.patience:
            stopped = "early stop"
            break
    step_losses = run.step_losses
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
