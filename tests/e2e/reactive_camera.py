"""The test hook for the server-paced challenge in real Chromium: a fake webcam that reacts.

Chromium's own fake camera (a y4m file) plays a recording from its start and cannot react to a
step it has not seen, so it can no longer pass the challenge (by design). ``install`` adds
``reactive_camera.js`` to a Playwright browser context as an init script: it replaces
``getUserMedia`` with a canvas stream of the clip's frames that plays the segment of each step
only after the page shows it (see that file), like ``tests/reactive.py`` does over HTTP. The
frames and the plan are served by Playwright's request interception under ``/__reactive__/``,
to the browser only: nothing in FaceGate knows about it, no server setting is involved.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from facegate.research.eval.reactive import strong
from tests.reactive import index_of, jpegs_of

SCRIPT = Path(__file__).with_name("reactive_camera.js")


def plan_of(video: Path) -> dict[str, Any]:
    ix = index_of(video)
    return {
        "fps": ix.clip.fps,
        "idle": list(ix.idle),
        "segments": {
            a.value: [[s.start, s.end] for s in strong(segs)] for a, segs in ix.segments.items()
        },
        "count": len(jpegs_of(video)),
    }


def install(context: Any, video: Path) -> dict[str, Any]:
    """Make every page of ``context`` see the reactive camera; returns the plan it plays."""
    plan = plan_of(video)
    jpegs = jpegs_of(video)
    body = json.dumps(plan).encode()

    def serve(route: Any) -> None:
        name = route.request.url.rsplit("/", 1)[-1]
        if name == "plan.json":
            route.fulfill(status=200, content_type="application/json", body=body)
        else:
            route.fulfill(status=200, content_type="image/jpeg", body=jpegs[int(name.split(".")[0])])

    context.route("**/__reactive__/**", serve)
    context.add_init_script(path=str(SCRIPT))
    return plan
