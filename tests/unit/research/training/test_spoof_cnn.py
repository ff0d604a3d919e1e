"""The anti-spoof CNN's training loop and ONNX export on toy data (needs the ``train`` extra)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the train extra (torch) is not installed")

from facegate.core.liveness.antispoof import AntiSpoofModel  # noqa: E402
from facegate.research.training.spoof_cnn import (  # noqa: E402
    TrainConfig,
    export_spoof_onnx,
    predict,
    train_spoof_cnn,
)


def _toy(n: int, striped: bool, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.normal(128, 20, (n, 64, 64, 3))
    if striped:  # a pixel-grid-like pattern marks the "attacks"
        x[:, :, ::3, :] -= 60
    return np.clip(x, 0, 255).astype(np.uint8)


def test_training_is_seeded_and_learns_a_toy_pattern() -> None:
    real, attack = _toy(48, False, 0), _toy(48, True, 1)
    cfg = TrainConfig(epochs=3, batch=16, lr=1e-2, width=4, seed=5)
    net_a = train_spoof_cnn(real, attack, cfg, log=lambda _: None)
    net_b = train_spoof_cnn(real, attack, cfg, log=lambda _: None)
    for pa, pb in zip(net_a.state_dict().values(), net_b.state_dict().values(), strict=True):
        assert torch.equal(pa, pb)
    live, spoof = predict(net_a, _toy(20, False, 2)), predict(net_a, _toy(20, True, 3))
    assert live.mean() > spoof.mean() + 0.2


def test_onnx_export_scores_like_torch(tmp_path: Path) -> None:
    net = train_spoof_cnn(_toy(16, False, 0), _toy(16, True, 1), TrainConfig(epochs=1, batch=8, width=4))
    path = export_spoof_onnx(net, tmp_path / "m.onnx", 0.42, {"facegate.name": "toy"})
    model = AntiSpoofModel.load(path)
    assert isinstance(model, AntiSpoofModel)
    assert model.threshold == pytest.approx(0.42) and model.name == "toy"
    crops = _toy(5, True, 9)
    assert np.allclose(model.score_crops(list(crops)), predict(net, crops), atol=1e-4)
