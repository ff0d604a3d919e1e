"""Fit the similarity calibration of the CompreFace/DeepStack-compatible API on LFW.

P(same person | cosine) is a logistic function of the cosine, fitted on LFW folds 1-9 (the
training folds) and judged on the held-out fold 10. The embeddings are those of
``facegate bench lfw`` (same cache: <data_dir>/cache/lfw), so a rerun costs seconds.

Run: FACEGATE_EMBED_THREADS=1 python benchmarks/compat_calibration.py [--model sface] [--data DIR]
Prints the fit (slope, intercept), the held-out figures and what the pack's thresholds map to;
the shipped constants live in facegate.features.compat.similarity (docs/compat.md).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from facegate.app.bootstrap import Container
from facegate.core.settings import load_settings
from facegate.core.vision.packs import get_pack
from facegate.research.eval.calibration import fit_on_folds
from facegate.research.eval.lfw import LfwOptions, evaluate_lfw
from facegate.research.eval.lfw_pairs import load_pairs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None)
    ap.add_argument("--data", type=Path, default=Path("../shared/data"), help="shared data folder")
    ap.add_argument("--test-fold", type=int, default=10, help="held-out fold (1-10)")
    args = ap.parse_args()
    base = Container(load_settings())
    name = args.model or base.settings.embedding_model
    pack = get_pack(name)

    def pipeline_for(member: str):  # type: ignore[no-untyped-def]
        return Container(base.settings.model_copy(update={"embedding_model": member})).pipeline

    options = LfwOptions(lfw_dir=args.data / "lfw", cache_dir=base.settings.data_dir / "cache" / "lfw")
    report = evaluate_lfw(pack.name, pipeline_for, options, members=pack.members)
    scores = np.asarray(report.scores)
    labels = np.asarray(report.labels, dtype=bool)
    folds = np.array([p.fold + 1 for p in load_pairs(options.pairs_file)])
    fit, held = fit_on_folds(scores, labels, folds, args.test_fold)
    thresholds = {"1:1 default": pack.default_threshold, "1:N identify": pack.default_identify_threshold}
    print(json.dumps({
        "model": pack.name,
        "train_folds": [f for f in range(1, 11) if f != args.test_fold],
        "test_fold": args.test_fold,
        "slope": round(fit.slope, 4),
        "intercept": round(fit.intercept, 4),
        "cosine_at_p50": round(fit.cosine_at(0.5), 4),
        "held_out": {"pairs": held.pairs, "log_loss": round(held.log_loss, 4),
                     "brier": round(held.brier, 5), "accuracy_at_p50": round(held.accuracy_at_half, 4),
                     "bins": [[round(v, 4) if isinstance(v, float) else v for v in b] for b in held.bins]},
        "thresholds": {k: {"cosine": v, "p_same": round(float(fit.probability(v)), 4)}
                       for k, v in thresholds.items()},
        "table": {f"{c:.2f}": round(float(fit.probability(c)), 4)
                  for c in (0.0, 0.1, 0.2, 0.25, 0.3, 0.325, 0.35, 0.4, 0.45, 0.48, 0.5, 0.6, 0.7)},
    }, indent=2))


if __name__ == "__main__":
    main()
