"""Speed of FaceGate vs face_recognition (the anchor), same images, same run.

Run: python benchmarks/speed_vs_face_recognition.py [--repeats 3] [--out bench-out/speed.json]
A thin wrapper over ``facegate bench speed`` (API: ``facegate.research.eval.speed``). Needs the anchor:
pip install 'facegate[bench]' && pip install --no-deps face_recognition==1.3.0
"""

from __future__ import annotations

import sys

from facegate.app.cli import main

if __name__ == "__main__":
    sys.argv = ["facegate", "bench", "speed", *sys.argv[1:]]
    main()
