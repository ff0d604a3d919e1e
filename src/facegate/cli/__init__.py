"""The ``facegate`` command line. Built on the same container and services as the server.

Every command prints one clear line and exits 2 on a FaceGate error; never a traceback.
"""

from __future__ import annotations

import sys

import typer

from facegate.cli import (
    admin_cmds,  # web admin (issue 6)
    bench_cmds,
    client_cmds,
    liveness_cmds,
    locker_cmds,  # bank lockers (issue 8)
    people_cmds,
    serve,
    train_cmds,
    vision_cmds,
)
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
admin_cmds.register(app)  # web admin (issue 6)
client_cmds.register(app)
people_cmds.register(app)
bench_cmds.register(app)
train_cmds.register(app)
locker_cmds.register(app)  # bank lockers (issue 8)
liveness_cmds.register(app)  # liveness (issue 5)


def main() -> None:
    sys.exit(run_app(app))
