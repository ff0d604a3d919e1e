"""``bench identify`` on a tiny LFW subset: the open-set protocol and its report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from facegate.research.eval.identify_bench import IdentifyBenchOptions, run_identify_bench, write_report


def test_open_set_protocol_on_a_small_subset(
    shared_container: Any, lfw_dir: Path, tmp_path: Path
) -> None:
    options = IdentifyBenchOptions(lfw_dir, cache_dir=tmp_path / "cache", max_people=4, max_probes=1,
                                   max_impostors=4, progress=False)
    r = run_identify_bench(shared_container.pipeline, 0.325, options)
    assert r.enrolled + r.enrol_no_face == 4
    assert r.genuine_probes == 4 and r.impostor_probes == 4
    assert 0.0 <= r.false_known_rate <= 1.0 and r.dir_at_threshold <= r.rank1
    assert r.rank1 >= 0.75  # 4 distinct LFW people: SFace gets (nearly) all right
    assert r.false_known_rate <= 0.25
    # with threshold 0 every impostor with a face is "known"; with 1.01 none is
    loose = run_identify_bench(shared_container.pipeline, 0.0, options)
    assert loose.false_known_rate == (r.impostor_probes - r.impostor_no_face) / r.impostor_probes
    strict = run_identify_bench(shared_container.pipeline, 1.01, options)
    assert strict.false_known_rate == 0.0 and strict.dir_at_threshold == 0.0
    paths = write_report(r, tmp_path)
    assert json.loads(paths[0].read_text())["rank1"] == r.rank1
    assert paths[2].stat().st_size > 5000  # the PNG
