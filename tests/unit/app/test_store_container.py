"""Container wiring of the store: prepare_store (key file + migrations), thresholds, backends."""

from __future__ import annotations

import stat
from pathlib import Path

from facegate.app.bootstrap import Container
from facegate.core.people.identification import MemorySearch
from facegate.core.settings import Settings
from facegate.core.vision.packs import get_pack


def test_prepare_store_creates_key_and_migrates(tmp_path: Path) -> None:
    c = Container(Settings(data_dir=tmp_path / "d"))
    c.prepare_store()
    keys = list((tmp_path / "d" / "keys").glob("template-*.key"))
    assert len(keys) == 1 and stat.S_IMODE(keys[0].stat().st_mode) == 0o600
    assert (tmp_path / "d" / "facegate.db").is_file()
    assert c.database.current_revision() == c.database.head_revision()
    assert isinstance(c.template_search, MemorySearch)
    c.prepare_store()  # idempotent
    assert len(list((tmp_path / "d" / "keys").glob("*.key"))) == 1
    c.shutdown()


def test_identify_threshold_is_the_packs_stricter_1n_one(tmp_path: Path) -> None:
    c = Container(Settings(data_dir=tmp_path))
    assert (c.identify_threshold, c.match_threshold) == (0.48, 0.325)
    assert c.identify_threshold == get_pack("sface").identify_threshold
    c2 = Container(Settings(data_dir=tmp_path, identify_threshold=0.48, match_threshold=0.3))
    assert (c2.identify_threshold, c2.match_threshold) == (0.48, 0.3)
