"""LFW 10-fold benchmark and threshold of a model pack: a thin wrapper over ``facegate bench lfw``.

Run: python benchmarks/lfw_threshold.py [--model sface] [--folds 1] [--out bench-out/lfw]
(every option of ``facegate bench lfw --help``). The API is ``facegate.research.eval.lfw.evaluate_lfw``.
"""

from __future__ import annotations

import sys

from facegate.app.cli import main

if __name__ == "__main__":
    sys.argv = ["facegate", "bench", "lfw", *sys.argv[1:]]
    main()
