"""The ``facegate`` command line. Built on the same container and services as the server.

Every command prints one clear line and exits 2 on a FaceGate error; never a traceback.
"""

from __future__ import annotations

import sys

import typer

from facegate.cli import serve, vision_cmds
from facegate.cli.common import run_app

app = typer.Typer(
    name="facegate",
    help="FaceGate: self-hosted face authentication and access control.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
vision_cmds.register(app)
serve.register(app)


def main() -> None:
    sys.exit(run_app(app))
