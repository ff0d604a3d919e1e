"""Cross-dataset evaluation of passive anti-spoof models (``facegate bench spoof-cross``).

Every training recipe (``spoof_recipes.RECIPES``) is trained with the same seed and scored on every
test set at the threshold chosen on its own held-out training groups; test sources never influence
training or thresholds. Rows whose test source was also a training source are marked in-domain.
The old linear model (NUAA-trained, ``antispoof_linear``) is scored as a baseline.

Besides APCER / BPCER / ACER / EER, each row gives BPCER on turned faces (bona fide crops with an
estimated yaw between ``TURNED_MIN`` and ``TURNED_MAX`` degrees) and, for the video set, BPCER on
every frame of each shared video.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from facegate.research.eval.spoof_bench import compute_spoof_metrics
from facegate.research.training.spoof_recipes import IN_DOMAIN, SpoofTestSet

F64 = npt.NDArray[np.float64]
U8 = npt.NDArray[np.uint8]
TURNED_MIN, TURNED_MAX = 20.0, 45.0


@dataclass
class CrossRow:
    train: str
    test: str
    in_domain: bool
    threshold: float
    real: int
    attack: int
    apcer: float
    bpcer: float
    acer: float
    eer: float
    turned: int
    bpcer_turned: float
    per_group_bpcer: dict[str, float] = field(default_factory=dict)


@dataclass
class Curve:
    """Scores behind one row, for the DET plot."""

    train: str
    test: str
    live: F64
    attack: F64
    threshold: float


def score_row(
    train: str, test: SpoofTestSet, score: Callable[[U8], F64], threshold: float, per_group: bool
) -> tuple[CrossRow, Curve]:
    live, attack = score(test.real), score(test.attack)
    m = compute_spoof_metrics(test.name, live, attack, threshold)
    yaw = np.abs(test.real_yaw)
    turned = (yaw >= TURNED_MIN) & (yaw <= TURNED_MAX)
    groups: dict[str, float] = {}
    if per_group:
        names = np.array(test.real_groups)
        for g in sorted(set(test.real_groups)):
            groups[g] = float(np.mean(live[names == g] < threshold))
    row = CrossRow(
        train=train,
        test=test.name,
        in_domain=train in IN_DOMAIN.get(test.name, ()),
        threshold=threshold,
        real=m.real,
        attack=m.spoof,
        apcer=m.apcer,
        bpcer=m.bpcer,
        acer=m.acer,
        eer=m.eer,
        turned=int(turned.sum()),
        bpcer_turned=float(np.mean(live[turned] < threshold)) if turned.any() else float("nan"),
        per_group_bpcer=groups,
    )
    return row, Curve(train, test.name, live, attack, threshold)


def format_cross_table(rows: Sequence[CrossRow]) -> list[str]:
    head = (
        f"{'train → test':<28}{'real':>6}{'attack':>7}{'thr':>7}{'APCER':>8}{'BPCER':>8}"
        f"{'ACER':>8}{'EER':>8}{'turned':>8}{'BPCER@turned':>14}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        tag = f"{r.train} → {r.test}" + (" *" if r.in_domain else "")
        lines.append(
            f"{tag:<28}{r.real:>6}{r.attack:>7}{r.threshold:>7.3f}{r.apcer:>8.2%}{r.bpcer:>8.2%}"
            f"{r.acer:>8.2%}{r.eer:>8.2%}{r.turned:>8}{r.bpcer_turned:>14.2%}"
        )
        for g, b in r.per_group_bpcer.items():
            lines.append(f"    {g:<40} BPCER {b:.2%}")
    lines.append("* in-domain: the test source (not its images) was also a training source")
    return lines


def write_cross_report(
    rows: Sequence[CrossRow], curves: Sequence[Curve], out_dir: Path, meta: dict[str, object]
) -> list[Path]:
    """``spoof_cross.json`` and ``spoof_cross_det.png`` (one DET panel per training recipe)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / "spoof_cross.json"
    json_path.write_text(json.dumps({**meta, "rows": [asdict(r) for r in rows]}, indent=2) + "\n")
    trains = list(dict.fromkeys(c.train for c in curves))
    fig, axes = plt.subplots(1, len(trains), figsize=(5.2 * len(trains), 4.6), squeeze=False)
    for ax, train in zip(axes[0], trains, strict=True):
        for c in (c for c in curves if c.train == train):
            ts = np.unique(np.concatenate([c.live, c.attack, [np.inf]]))
            apcer = np.array([np.mean(c.attack >= t) for t in ts])
            bpcer = np.array([np.mean(c.live < t) for t in ts])
            (line,) = ax.plot(np.clip(apcer, 1e-3, 1), np.clip(bpcer, 1e-3, 1), label=c.test)
            op = (
                max(float(np.mean(c.attack >= c.threshold)), 1e-3),
                max(float(np.mean(c.live < c.threshold)), 1e-3),
            )
            ax.plot([op[0]], [op[1]], "o", color=line.get_color())
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("APCER (attacks accepted)")
        ax.set_ylabel("BPCER (bona fide rejected)")
        ax.set_title(f"{train} (dot: its threshold)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    png_path = out_dir / "spoof_cross_det.png"
    fig.savefig(png_path, dpi=100)
    plt.close(fig)
    return [json_path, png_path]
