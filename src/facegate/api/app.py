"""``create_app``: the FastAPI application factory (REST API, docs at /docs, web pages)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from facegate import __version__
from facegate.api.errors import install_error_handlers
from facegate.api.routes import compare, health, identify, liveness, lockers, people, stream
from facegate.container import Container
from facegate.settings import Settings, load_settings
from facegate.web import install_web  # web pages (issue 6)

log = logging.getLogger("uvicorn.error")  # uvicorn's configured logger: shown in the server log


def create_app(settings: Settings | None = None, container: Container | None = None) -> FastAPI:
    """Build the app. Settings are read here (not on import); the container is built once."""
    container = container or Container(settings or load_settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        container.startup()
        if container.settings.preload:
            seconds = container.preload()
            log.info("models and gallery loaded in %.1f s", seconds)
        try:
            yield
        finally:
            container.shutdown()

    app = FastAPI(
        title="FaceGate",
        version=__version__,
        description="Self-hosted face authentication and access control.",
        lifespan=lifespan,
    )
    app.state.container = container
    install_error_handlers(app)
    for router in (
        health.router, compare.router, stream.router, people.router, identify.router,
        lockers.router,  # bank lockers (issue 8)
        liveness.router,  # liveness (issue 5)
    ):
        app.include_router(router)
    install_web(app)  # web pages + /static (issue 6)
    return app
