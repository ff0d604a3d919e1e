"""``facegate serve``: run the HTTP server (API, docs, web pages)."""

from __future__ import annotations

from typing import Annotated

import typer

from facegate.core.cli import container


def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (FACEGATE_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (FACEGATE_PORT)")] = None,
    workers: Annotated[int, typer.Option(help="Worker processes")] = 1,
) -> None:
    """Start the FaceGate server on the configured database (SQLite under the data dir by default)."""
    import uvicorn

    s = container().settings
    h, p = host or s.host, port or s.port
    typer.echo(f"FaceGate serving on http://{h}:{p}  (API docs: http://{h}:{p}/docs)")
    typer.echo(f"data dir: {s.data_dir.resolve()}  database: {s.masked_database_url()}")
    if workers > 1:
        uvicorn.run("facegate.app.main:app", host=h, port=p, workers=workers, log_level="info")
    else:
        from facegate.app.http import create_app

        uvicorn.run(create_app(s), host=h, port=p, log_level="info")


def register(app: typer.Typer) -> None:
    app.command()(serve)
