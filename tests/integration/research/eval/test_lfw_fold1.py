"""Issue 2 acceptance: the shipped default threshold is ≥ 98.5% correct on LFW fold 1 (600 pairs)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facegate.app.bootstrap import Container
from facegate.core.matching.similarity import cosine_similarity
from facegate.core.vision.images import read_image_file
from facegate.core.vision.pipeline import FaceChoice
from facegate.research.eval.lfw_pairs import accuracy_at, load_pairs


@pytest.mark.slow
def test_fold1_accuracy_with_shipped_threshold(shared_container: Container, lfw_dir: Path) -> None:
    pairs = [p for p in load_pairs(lfw_dir / "pairs.txt") if p.fold == 0]
    assert len(pairs) == 600
    root = lfw_dir / "lfw-deepfunneled"
    emb: dict[str, np.ndarray | None] = {}
    for rel in sorted({p.path_a for p in pairs} | {p.path_b for p in pairs}):
        face, _ = shared_container.pipeline.choose(read_image_file(root / rel), FaceChoice.CENTRAL)
        emb[rel] = None if face is None or face.embedding is None else face.embedding.vector
    scores = np.array(
        [
            -1.0
            if emb[p.path_a] is None or emb[p.path_b] is None
            else cosine_similarity(emb[p.path_a], emb[p.path_b])  # type: ignore[arg-type]
            for p in pairs
        ]
    )
    labels = np.array([p.same for p in pairs])
    acc = accuracy_at(scores, labels, shared_container.match_threshold)
    print(f"LFW fold 1: {acc:.4f} at threshold {shared_container.match_threshold}")
    assert acc >= 0.985
