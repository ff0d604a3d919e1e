"""Containers on SQLite or PostgreSQL that reuse the session's loaded models."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from facegate.app.bootstrap import Container
from facegate.core.settings import Settings
from facegate.core.vision.images import read_image_file


def store_container(shared: Any, url: str | None, data_dir: Path) -> Container:
    """A fresh store (database + key file) whose pipeline is the shared, already loaded one."""
    c = Container(Settings(data_dir=data_dir, database_url=url))
    c.__dict__["pipeline"] = shared.pipeline  # cached_property: reuse the loaded models
    c.prepare_store()
    return c


def image(faces_dir: Path, rel: str) -> Any:
    return read_image_file(faces_dir / rel)


@contextmanager
def cli_runner(shared: Any) -> Iterator[Callable[..., Any]]:
    """``run(*args)`` invokes the ``facegate`` CLI in-process with the shared, loaded pipeline
    (the settings come from the environment, so set FACEGATE_* before entering)."""
    from typer.testing import CliRunner

    from facegate.app.cli import app
    from facegate.core import cli as common

    common.container.cache_clear()
    common.container().__dict__["pipeline"] = shared.pipeline
    runner = CliRunner()

    def run(*args: object) -> Any:
        return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)

    try:
        yield run
    finally:
        common.container.cache_clear()
