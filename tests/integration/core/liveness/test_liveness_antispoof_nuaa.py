"""The shipped passive anti-spoof model on a fixed subsample of the NUAA test split.

The full figure comes from ``facegate bench spoof`` (docs/benchmarks.md, "Anti-spoofing"); this
test uses every 5th listed image so it stays quick, and holds the model to ACER ≤ 10%.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facegate.app.bootstrap import Container
from facegate.core.liveness.training import extract_features, list_images
from facegate.research.eval.spoof_bench import compute_spoof_metrics


def test_shipped_model_on_nuaa_test_subsample(shared_container: Container, data_dir: Path) -> None:
    nuaa = data_dir / "nuaa"
    if not (nuaa / "test_real.txt").is_file():
        pytest.skip(f"NUAA not found at {nuaa}")
    real = list_images(nuaa / "test_real.txt")[::5]
    spoof = list_images(nuaa / "test_spoof.txt")[::5]
    detector = shared_container.detector
    model = shared_container.antispoof.model
    live = model.score_features(extract_features(real, detector, "real", progress=False).features)
    attacks = model.score_features(extract_features(spoof, detector, "spoof", progress=False).features)
    m = compute_spoof_metrics("nuaa-test/5", live, attacks, model.threshold)
    print(f"APCER {m.apcer:.3f} BPCER {m.bpcer:.3f} ACER {m.acer:.3f} on {m.real}+{m.spoof}")
    assert m.real == len(real) and m.spoof == len(spoof)  # a face was found in every image
    assert m.acer <= 0.10
    assert float(np.mean(live)) > float(np.mean(attacks))
