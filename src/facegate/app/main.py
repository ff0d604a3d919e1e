"""ASGI entry for ``uvicorn facegate.app.main:app`` (multi-worker): settings from the environment."""

from facegate.app.http import create_app

app = create_app()
