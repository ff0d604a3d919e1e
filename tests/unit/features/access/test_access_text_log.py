"""The text access log (access_log.txt): on by default under the data dir, rotated by size."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from facegate.app.bootstrap import Container
from facegate.core.settings import Settings
from facegate.features.access.textlog import AccessTextLog


def test_written_by_default_under_the_data_dir(tmp_path: Path) -> None:
    c = Container(Settings(data_dir=tmp_path / "data"))
    log = c.access.text_log
    assert log is not None and log.path == tmp_path / "data" / "access_log.txt"
    log.write("Ada Lovelace", "granted", datetime(2026, 5, 1, 8, 0, 1, tzinfo=UTC))
    log.write("Eve, Mallory", "denied", datetime(2026, 5, 1, 8, 0, 2, tzinfo=UTC))
    c.shutdown()
    assert log.path.read_text(encoding="utf-8").splitlines() == [
        "2026-05-01 08:00:01,Ada Lovelace,GRANTED",
        "2026-05-01 08:00:02,Eve Mallory,DENIED",  # no comma inside a field
    ]


def test_can_be_moved_or_turned_off(tmp_path: Path) -> None:
    moved = Container(Settings(data_dir=tmp_path / "d1", stream_access_log_file=tmp_path / "x.log"))
    assert moved.access.text_log is not None and moved.access.text_log.path == tmp_path / "x.log"
    off = Container(Settings(data_dir=tmp_path / "d2", stream_access_log=False))
    assert off.access.text_log is None


def test_rotates_by_size_and_keeps_the_backups(tmp_path: Path) -> None:
    log = AccessTextLog(tmp_path / "logs" / "access_log.txt", max_bytes=1024, backups=2)
    for i in range(200):  # ~40 bytes a line: about 8 KB in all
        log.write(f"person {i:03d}", "granted" if i % 2 else "denied")
    log.close()
    files = sorted(p.name for p in (tmp_path / "logs").iterdir())
    assert files == ["access_log.txt", "access_log.txt.1", "access_log.txt.2"]
    sizes = [(tmp_path / "logs" / f).stat().st_size for f in files]
    assert all(0 < s <= 1024 for s in sizes)
    newest = (tmp_path / "logs" / "access_log.txt").read_text(encoding="utf-8").splitlines()
    assert newest[-1].endswith(",person 199,GRANTED")
