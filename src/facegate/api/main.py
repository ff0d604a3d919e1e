"""ASGI entry for ``uvicorn facegate.api.main:app`` (multi-worker): settings from the environment."""

from facegate.api.app import create_app

app = create_app()
