"""Server-paced liveness: a reactive source against replays that cannot react and a looped photo.

    nice -n 10 python benchmarks/liveness_paced.py [--challenges 200] [--seed 7]

For each of ``--challenges`` random challenges (5 steps, drawn like the server draws them from the
actions the clip's person was filmed doing, at most 2 blinks), on the clips listed in ``CLIPS``:

* **reactive**: ``ReactiveSource`` plays the matching segment only after each step is revealed,
  250–600 ms later (it stands in for a live person *and* for an attacker who can puppet a
  recording of the victim doing every move: the challenge does not stop that attacker);
* **replay, start** / **replay, offset**: the same clip played as recorded (looping), from its
  start or from a random offset: a video that cannot react;
* **still**: one calm frame of the clip repeated: a looped still photo.

Virtual time, the server's pure decision functions (``map_batch``, ``evaluate_paced``), frames at
15 fps in batches of 4, 10–60 ms latency; per-frame measurements from the clip cache
(``facegate.research.eval.clips``; the first run computes it, about 3 minutes). Prints a table.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

from facegate.app.bootstrap import Container
from facegate.core.liveness.paced import PacedOptions
from facegate.core.settings import Settings
from facegate.research.eval.clips import load_clip
from facegate.research.eval.reactive import (
    ClipIndex,
    ReactiveSource,
    ReplaySource,
    SimResult,
    StillSource,
    draw_steps,
    index_clip,
    simulate,
    validated,
)

# Clips whose person performs at least two different head/mouth actions cleanly.
CLIPS = ("webcam_blink_turns.webm", "expressions_d12.mp4", "expressions_d6.mp4")
STEPS = 5


def load_indexes(video_dir: Path, options: PacedOptions) -> list[ClipIndex]:
    container = None
    out = []
    for name in CLIPS:
        path = video_dir / name
        try:
            clip = load_clip(path)
        except FileNotFoundError:
            container = container or Container(Settings(data_dir=Path(tempfile.mkdtemp()), testing=True))
            clip = load_clip(path, container)
        out.append(validated(index_clip(clip), options))
    return out


def main() -> None:
    repo = Path(__file__).resolve().parents[1]
    data = Path(os.environ.get("FACEGATE_TEST_DATA") or repo.parent / "shared/data")
    ap = argparse.ArgumentParser()
    ap.add_argument("--video-dir", type=Path, default=data / "video")
    ap.add_argument("--challenges", type=int, default=200)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    options = PacedOptions()
    indexes = load_indexes(args.video_dir, options)
    rng = random.Random(args.seed)
    kinds = ("reactive", "replay, start", "replay, offset", "still")
    results: dict[str, list[SimResult]] = {k: [] for k in kinds}
    started = time.perf_counter()
    for n in range(args.challenges):
        ix = indexes[n % len(indexes)]
        clip = ix.clip
        steps = draw_steps(rng, ix.actions, STEPS)
        length = float(clip.timestamps_ms[-1] - clip.timestamps_ms[0])
        sources = {
            "reactive": ReactiveSource(ix, rng),
            "replay, start": ReplaySource(clip, 0.0),
            "replay, offset": ReplaySource(clip, rng.uniform(0.0, length)),
            "still": StillSource(rng.randint(*ix.idle)),
        }
        for kind, source in sources.items():
            results[kind].append(simulate(clip, source, steps, options, rng))
    elapsed = time.perf_counter() - started
    print(f"{args.challenges} challenges of {STEPS} steps on {', '.join(CLIPS)} (seed {args.seed})")
    for ix in indexes:
        acts = ", ".join(f"{a.value} ({len(ix.segments[a])})" for a in ix.actions)
        print(f"  {ix.clip.name}: actions with clean segments: {acts}")
    print()
    print("| source | passed | pass rate | median reaction (ms) | most common failure |")
    print("|---|---|---|---|---|")
    for kind in kinds:
        rs = results[kind]
        passed = sum(r.status == "passed" for r in rs)
        reactions = [x for r in rs if r.status == "passed" for x in r.reactions_ms if x is not None]
        med = f"{statistics.median(reactions):.0f}" if reactions else "–"
        fails = [_kind_of(r.reason) for r in rs if r.status != "passed"]
        common = max(set(fails), key=fails.count) if fails else "–"
        print(f"| {kind} | {passed}/{len(rs)} | {passed / len(rs):.1%} | {med} | {common} |")
    print(f"\n{sum(len(v) for v in results.values())} simulated sessions in {elapsed:.1f} s")


def _kind_of(reason: str | None) -> str:
    if not reason:
        return "?"
    text = reason.split(": ", 1)[-1]
    for key in ("not begun", "instead of", "sooner than", "not at rest", "took over",
                "not completed", "faces", "calibrate"):
        if key in text:
            return key
    return text[:40]


if __name__ == "__main__":
    main()
