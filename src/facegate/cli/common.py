"""Shared CLI plumbing: the container from settings, error → exit code 2, output helpers."""

from __future__ import annotations

import json
import sys
from functools import lru_cache
from typing import Any

import typer

from facegate.container import Container
from facegate.errors import FaceGateError
from facegate.settings import load_settings

EXIT_ERROR = 2


@lru_cache(maxsize=1)
def container() -> Container:
    """The CLI's container, built from the environment on first use."""
    return Container(load_settings())


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
