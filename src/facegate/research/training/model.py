"""The Siamese verifier in PyTorch: a shared embedding CNN, a cosine distance layer, a margin head.

Architecture (``EmbeddingNet``): input is an aligned BGR crop as float 0..255 in NCHW (exactly what
``SiameseOnnxEmbedder`` feeds the exported graph); the network normalises it, halves the
resolution (112 → 56, the detail a from-scratch model on ~7k images can use), runs a small
residual CNN (stride-2 stem, three stages of 32-64-128 channels down to 7×7, ~1.2 M parameters)
and projects to a 128-dimensional embedding. ``VerifierNet`` wraps it for export: embedding of the crop plus
embedding of its mirror image, L2-normalised, so the "distance layer" is the cosine similarity
(equivalently the L2 distance of unit vectors) between the two branches of the Siamese pair.

Training uses a CosFace (large-margin cosine) head over the training identities: every class
centre acts as a negative for every sample, which on small data trains the shared embedding far
better than sampled contrastive pairs; validation and evaluation use only the embedding + distance.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

MEAN = 127.5
STD = 128.0


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.act = nn.PReLU(cout)
        self.skip: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.skip = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: Tensor) -> Tensor:
        y = self.act(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + self.skip(x))


class EmbeddingNet(nn.Module):
    """Aligned crop (N×3×112×112, BGR, 0..255) → un-normalised embedding (N×dim)."""

    def __init__(self, dim: int = 128, width: int = 32, dropout: float = 0.2) -> None:
        super().__init__()
        w = width
        self.stem = nn.Sequential(  # 56 → 28
            nn.Conv2d(3, w, 3, 2, 1, bias=False), nn.BatchNorm2d(w), nn.PReLU(w)
        )
        self.stages = nn.Sequential(
            BasicBlock(w, w, 1),  # 28
            BasicBlock(w, 2 * w, 2),  # 14
            BasicBlock(2 * w, 2 * w, 1),
            BasicBlock(2 * w, 4 * w, 2),  # 7
        )
        self.head = nn.Sequential(
            nn.BatchNorm2d(4 * w),
            nn.Dropout(dropout),
            nn.Flatten(),
            nn.Linear(4 * w * 7 * 7, dim),
            nn.BatchNorm1d(dim),
        )
        self.dim = dim

    @staticmethod
    def prepare(x: Tensor) -> Tensor:
        """Normalise a 0..255 112×112 batch and halve it to 56×56 (training does this once)."""
        return F.avg_pool2d((x - MEAN) / STD, 2)

    def features(self, prepared: Tensor) -> Tensor:
        return self.head(self.stages(self.stem(prepared)))

    def forward(self, x: Tensor) -> Tensor:
        return self.features(self.prepare(x))


class VerifierNet(nn.Module):
    """The exported branch of the Siamese pair: unit embedding of crop + mirrored crop."""

    def __init__(self, embedder: EmbeddingNet) -> None:
        super().__init__()
        self.embedder = embedder

    def forward(self, x: Tensor) -> Tensor:
        e = self.embedder(x) + self.embedder(torch.flip(x, dims=[3]))
        return F.normalize(e, dim=1)


def cosine_distance_layer(a: Tensor, b: Tensor) -> Tensor:
    """The Siamese distance layer: cosine similarity of the two branches' unit embeddings."""
    return (F.normalize(a, dim=1) * F.normalize(b, dim=1)).sum(dim=1)


class CosFaceHead(nn.Module):
    """Large-margin cosine loss: logits s·(cos θ_y − m) for the true class, s·cos θ_j otherwise."""

    def __init__(self, dim: int, classes: int, scale: float = 30.0, margin: float = 0.35) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(classes, dim))
        nn.init.normal_(self.weight, std=1.0 / math.sqrt(dim))
        self.scale = scale
        self.margin = margin

    def forward(self, embeddings: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
        """The loss, and the cosines to every class centre (for training accuracy)."""
        cos = F.linear(F.normalize(embeddings, dim=1), F.normalize(self.weight, dim=1))
        onehot = F.one_hot(labels, cos.shape[1]).to(cos.dtype)
        return F.cross_entropy(self.scale * (cos - self.margin * onehot), labels), cos


def augment(batch: Tensor, generator: torch.Generator, strength: float = 1.0) -> Tensor:
    """Random flip, colour jitter and a small affine warp, on a float N×3×H×W batch.

    Works on raw (0..255) or normalised pixels; colour changes keep the batch's own value range.

        All randomness comes from ``generator`` so runs are reproducible.
    """
    n = batch.shape[0]

    def uniform(lo: float, hi: float, *shape: int) -> Tensor:
        return lo + (hi - lo) * torch.rand(n, *shape, generator=generator)

    flip = torch.rand(n, generator=generator) < 0.5
    x = torch.where(flip[:, None, None, None], torch.flip(batch, dims=[3]), batch)
    # colour jitter: brightness, contrast, saturation
    s = strength
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * uniform(1 - 0.3 * s, 1 + 0.3 * s, 1, 1, 1) + mean
    x = x * uniform(1 - 0.25 * s, 1 + 0.25 * s, 1, 1, 1)
    gray = x.mean(dim=1, keepdim=True)
    x = (x - gray) * uniform(1 - 0.4 * s, 1 + 0.4 * s, 1, 1, 1) + gray
    # small affine: rotation ±8°, scale ±8 %, shift ±3.5 % of the width
    angle = uniform(-8.0, 8.0) * s * math.pi / 180.0
    scale = uniform(1 - 0.08 * s, 1 + 0.08 * s)
    shift = uniform(-0.07 * s, 0.07 * s, 2)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack(
        [torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1
    )
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return x
