"""`bench speed` table arithmetic (no timing is asserted: benchmarks are not tests)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from facegate.research.eval.speed import (
    SPEED_IMAGES,
    SpeedResult,
    fit_640x480,
    format_speed,
    write_speed_report,
)


def _result(name: str, scale: float) -> SpeedResult:
    return SpeedResult(name, 10 * scale, 20 * scale, 1 * scale, 5 * scale, 8 / scale, faces=30)


def test_table_ratios_are_anchor_over_facegate() -> None:
    lines = format_speed(_result("fg", 1.0), _result("anchor", 4.0), 24)
    body = "\n".join(lines)
    assert "24 images" in lines[0]
    detect = next(ln for ln in lines if ln.startswith("detect 640x480"))
    assert detect.split()[-1] == "4.0x" and "10.00" in detect and "40.00" in detect
    e2e = next(ln for ln in lines if ln.startswith("end to end"))
    assert e2e.split()[-3:] == ["8.00", "2.00", "4.0x"]
    assert "anchor = anchor" in body


def test_table_without_anchor_has_no_ratios() -> None:
    lines = format_speed(_result("fg", 1.0), None, 3)
    assert all(not ln.endswith("x") for ln in lines[2:7])


def test_fit_640x480_keeps_aspect_and_pads() -> None:
    tall = np.full((1000, 500, 3), 200, dtype=np.uint8)
    out = fit_640x480(tall)
    assert out.shape == (480, 640, 3)
    assert out[:, :240].min() == 200 and out[:, 240:].max() == 0


def test_speed_image_list_is_fixed_and_unique() -> None:
    assert len(SPEED_IMAGES) == len(set(SPEED_IMAGES)) == 24


def test_speed_report_writes_json_and_png(tmp_path: Path) -> None:
    ours, anchor = _result("fg", 1.0), _result("anchor", 4.0)
    for other in (anchor, None):
        out = tmp_path / ("with" if other else "without")
        json_path, png_path = write_speed_report(ours, other, out)
        data = json.loads(json_path.read_text())
        assert data["facegate"]["embed_ms"] == 5.0
        assert (data["anchor"] or {}).get("embed_ms") == (20.0 if other else None)
        assert png_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert cv2.imread(str(png_path)).shape[1] > 600
