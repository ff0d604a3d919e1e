"""``people import`` folder layout: folder = person, file = person; other files ignored."""

from __future__ import annotations

from pathlib import Path

import pytest

from facegate.core.errors import FaceGateError
from facegate.features.faces.importer import display_name_of, scan_import_dir


def test_scan_layout(tmp_path: Path) -> None:
    (tmp_path / "Ann_Lee").mkdir()
    (tmp_path / "Ann_Lee" / "b.jpg").write_bytes(b"x")
    (tmp_path / "Ann_Lee" / "a.PNG").write_bytes(b"x")
    (tmp_path / "Ann_Lee" / "notes.txt").write_text("x")
    (tmp_path / "empty").mkdir()
    (tmp_path / ".hidden").mkdir()
    (tmp_path / "bob_smith.jpeg").write_bytes(b"x")
    (tmp_path / "readme.md").write_text("x")
    people = scan_import_dir(tmp_path)
    assert [(p.external_id, p.display_name, [f.name for f in p.files]) for p in people] == [
        ("Ann_Lee", "Ann Lee", ["a.PNG", "b.jpg"]),
        ("bob_smith", "bob smith", ["bob_smith.jpeg"]),
    ]


def test_scan_refuses_a_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(FaceGateError, match="not a directory"):
        scan_import_dir(tmp_path / "nope")


def test_display_names() -> None:
    assert display_name_of("George_W__Bush") == "George W Bush"
