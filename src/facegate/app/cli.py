"""The ``facegate`` command line. Built on the same container and services as the server.

Every command prints one clear line and exits 2 on a FaceGate error; never a traceback.
"""

from __future__ import annotations

import sys

import typer

from facegate.app import serve
from facegate.app.bootstrap import Container
from facegate.core.cli import run_app, set_container_factory
from facegate.core.settings import load_settings
from facegate.features.access import cli as access_cli
from facegate.features.accounts import cli as accounts_cli
from facegate.features.admin import cli as admin_cli
from facegate.features.faces import cli_people, cli_vision
from facegate.features.liveness import cli as liveness_cli
from facegate.features.lockers import cli as lockers_cli
from facegate.research.eval import cli as bench_cli
from facegate.research.training import cli as train_cli

set_container_factory(lambda: Container(load_settings()))

app = typer.Typer(
    name="facegate",
    help="FaceGate: self-hosted face authentication and access control.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
cli_vision.register(app)
serve.register(app)
accounts_cli.register(app)
admin_cli.register(app)
access_cli.register(app)
cli_people.register(app)
bench_cli.register(app)
train_cli.register(app)
lockers_cli.register(app)
liveness_cli.register(app)


def _plain_help(typer_app: typer.Typer) -> None:
    """Plain click help for every command: it wraps long words (a URL, an env var name) instead of
    cutting them with "…" at the terminal's width as the Rich tables do."""
    typer_app.rich_markup_mode = None
    for group in typer_app.registered_groups:
        if group.typer_instance is not None:
            _plain_help(group.typer_instance)


_plain_help(app)


def main() -> None:
    sys.exit(run_app(app))
