"""Shared CLI plumbing: the container from settings, error → exit code 2, output helpers."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import typer

from facegate.core.errors import FaceGateError

EXIT_ERROR = 2


_factory: Callable[[], Any] | None = None


def set_container_factory(factory: Callable[[], Any]) -> None:
    """Called once by the root CLI (``facegate.app.cli``): how to build the service wiring."""
    global _factory
    _factory = factory
    container.cache_clear()


@lru_cache(maxsize=1)
def container() -> Any:
    """The CLI's service wiring (``facegate.app.bootstrap.Container``), built on first use."""
    if _factory is None:
        raise RuntimeError("the CLI wiring is not installed (run through facegate.app.cli)")
    return _factory()


def fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(EXIT_ERROR)


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


def run_app(app: typer.Typer) -> int:
    """Run the Typer app; FaceGate errors become one line on stderr and exit status 2."""
    try:
        result = app(standalone_mode=False)
    except FaceGateError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        return EXIT_ERROR
    except typer.Exit as exc:
        return int(exc.exit_code)
    except typer.Abort:
        if not sys.stdin.isatty():  # a prompt (left unfinished: hence the newline) met the end
            # of input: a script, a pipe, no terminal
            typer.echo("\nerror: this command asks a question and there is no terminal to answer "
                       "it; see its --help for the option that answers it", err=True)
            return EXIT_ERROR
        typer.echo("aborted", err=True)
        return 130
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # click usage errors and anything unexpected
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            return EXIT_ERROR
        typer.echo(f"error: unexpected {type(exc).__name__}: {exc}", err=True)
        return EXIT_ERROR
    return result if isinstance(result, int) else 0


def stderr_isatty() -> bool:
    return sys.stderr.isatty()
