"""A small CNN for passive anti-spoofing, trained on the CPU with PyTorch and exported to ONNX.

Needs the ``train`` extra (torch); the product runs the exported file with onnxruntime
(``facegate.core.liveness.antispoof.AntiSpoofModel``). Everything is seeded: the same data and seed
give the same weights (PyTorch CPU kernels are deterministic with ``use_deterministic_algorithms``).

Input: float32 N × 3 × S × S, BGR, 0..255 (the product's spoof crop resized to S); the network
scales it itself. Output: one logit per crop, ``live`` = sigmoid(logit) ≥ threshold.
"""

from __future__ import annotations

import io
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnx
import torch
from torch import nn

from facegate.core.liveness.antispoof import (
    CNN_INPUT_SIZE,
    META_INPUT_SIZE,
    META_KIND,
    META_THRESHOLD,
    SPOOF_CNN_KIND,
)
from facegate.research.training.spoof_data import CropSet
from facegate.research.training.spoof_recipes import RECIPES, build_split, val_threshold

U8 = npt.NDArray[np.uint8]
F64 = npt.NDArray[np.float64]
OPSET = 17


def _block(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class SpoofNet(nn.Module):
    """Four 3×3 convolutions (16-32-64-64 channels) with 2× pooling between, global average pool,
    one logit: about 60 k parameters, 14 M multiply-adds per 64 × 64 crop."""

    def __init__(self, width: int = 16) -> None:
        super().__init__()
        w = width
        self.features = nn.Sequential(
            *_block(3, w), nn.MaxPool2d(2),
            *_block(w, 2 * w), nn.MaxPool2d(2),
            *_block(2 * w, 4 * w), nn.MaxPool2d(2),
            *_block(4 * w, 4 * w),
        )  # fmt: skip
        self.head = nn.Sequential(nn.Dropout(0.2), nn.Linear(4 * w, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x / 127.5 - 1.0
        f = self.features(x).mean(dim=(2, 3))
        return self.head(f).squeeze(1)


def to_tensor(crops: U8) -> torch.Tensor:
    """N × S × S × 3 uint8 BGR → N × 3 × S × S float32 0..255."""
    return torch.from_numpy(np.ascontiguousarray(crops.transpose(0, 3, 1, 2))).float()


def _augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Horizontal flip and a random shift of up to 4 pixels (reflect-padded)."""
    n, _, s, _ = x.shape
    flip = torch.rand(n, generator=gen) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(3), x)
    pad = torch.nn.functional.pad(x, (4, 4, 4, 4), mode="reflect")
    dy, dx = (int(v) for v in torch.randint(0, 9, (2,), generator=gen))
    return pad[:, :, dy : dy + s, dx : dx + s]


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 6
    batch: int = 64
    lr: float = 3e-3
    weight_decay: float = 1e-4
    width: int = 16
    seed: int = 0
    threads: int = 1  # faster than 2 on a shared 2-core machine


def train_spoof_cnn(real: U8, attack: U8, cfg: TrainConfig, log: Callable[[str], None] = print) -> SpoofNet:
    """Class-balanced BCE, AdamW, one-cycle schedule; returns the network in eval mode."""
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    torch.use_deterministic_algorithms(True)
    gen = torch.Generator().manual_seed(cfg.seed)
    x = to_tensor(np.concatenate([real, attack]))
    y = torch.cat([torch.ones(len(real)), torch.zeros(len(attack))])
    pos_weight = torch.tensor(len(attack) / max(len(real), 1))
    net = SpoofNet(cfg.width)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps = cfg.epochs * ((len(y) + cfg.batch - 1) // cfg.batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=steps)
    loss_fn = nn.BCEWithLogitsLoss(pos_weight=pos_weight)
    for epoch in range(cfg.epochs):
        net.train()
        order = torch.randperm(len(y), generator=gen)
        total, start = 0.0, time.perf_counter()
        for i in range(0, len(y), cfg.batch):
            idx = order[i : i + cfg.batch]
            xb = _augment(x[idx], gen)
            loss = loss_fn(net(xb), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
        log(
            f"epoch {epoch + 1}/{cfg.epochs}: loss {total / len(y):.4f} ({time.perf_counter() - start:.0f} s)"
        )
    return net.eval()


def predict(net: SpoofNet, crops: U8, batch: int = 256) -> F64:
    """Live probability of each crop."""
    out: list[F64] = []
    with torch.no_grad():
        for i in range(0, len(crops), batch):
            logits = net(to_tensor(crops[i : i + batch]))
            out.append(torch.sigmoid(logits).double().numpy())
    return np.concatenate(out) if out else np.zeros(0)


def export_spoof_onnx(net: SpoofNet, out: Path, threshold: float, meta: dict[str, str]) -> Path:
    """Write the ONNX model (threshold and provenance in its metadata) atomically."""
    buf = io.BytesIO()
    s = CNN_INPUT_SIZE
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            net.eval(),
            (torch.zeros(1, 3, s, s),),
            buf,  # type: ignore[arg-type]  # the TorchScript exporter writes to file objects
            dynamo=False,
            opset_version=OPSET,
            input_names=["crop"],
            output_names=["logit"],
            dynamic_axes={"crop": {0: "n"}, "logit": {0: "n"}},
        )
    proto = onnx.load_from_string(buf.getvalue())
    fields = {META_KIND: SPOOF_CNN_KIND, META_THRESHOLD: f"{threshold:.6f}", META_INPUT_SIZE: str(s)}
    for key, value in {**fields, **meta}.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(proto)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + f".tmp{os.getpid()}")
    tmp.write_bytes(proto.SerializeToString())
    os.replace(tmp, out)
    return out


@dataclass
class TrainedRecipe:
    name: str
    net: SpoofNet
    threshold: float
    val_bpcer: float
    val_apcer: float
    counts: dict[str, int]
    seconds: float


def train_recipe(
    name: str, sources: dict[str, CropSet], cfg: TrainConfig, log: Callable[[str], None] = print
) -> TrainedRecipe:
    """Build the recipe's data, train on the training groups, threshold on the held-out groups."""
    start = time.perf_counter()
    split = build_split(RECIPES[name], sources, cfg.seed)
    counts = {
        "train_real": len(split.train_real), "train_attack": len(split.train_attack),
        "val_real": len(split.val_real), "val_attack": len(split.val_attack),
    }  # fmt: skip
    log(f"{name}: {counts} (data ready in {time.perf_counter() - start:.0f} s)")
    net = train_spoof_cnn(split.train_real, split.train_attack, cfg, log)
    live, attack = predict(net, split.val_real), predict(net, split.val_attack)
    t = val_threshold(live)
    return TrainedRecipe(
        name, net, t, float(np.mean(live < t)), float(np.mean(attack >= t)), counts,
        time.perf_counter() - start,
    )  # fmt: skip
