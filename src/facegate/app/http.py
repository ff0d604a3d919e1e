"""``create_app``: the FastAPI application factory (REST API, docs at /docs, web pages)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from facegate import __version__
from facegate.app import health
from facegate.app.bootstrap import Container
from facegate.app.errors import install_error_handlers
from facegate.app.openapi import DocsPolicy, install_openapi
from facegate.app.web import install_web
from facegate.core.settings import Settings, load_settings
from facegate.features.access import api as access_api
from facegate.features.faces.api import compare, identify, people
from facegate.features.liveness import api as liveness_api
from facegate.features.lockers import api as lockers_api

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

    # /docs and /redoc from Swagger UI and ReDoc files shipped in the fastapi-offline package
    # (no CDN: the docs work on an offline host)
    app = FastAPIOffline(
        static_url="/static-docs",
        title="FaceGate",
        version=__version__,
        description="Self-hosted face authentication and access control.",
        lifespan=lifespan,
    )
    app.state.container = container
    install_error_handlers(app)
    for router in (
        health.router, compare.router, access_api.router, people.router, identify.router,
        lockers_api.router, liveness_api.router,
    ):
        app.include_router(router)
    install_web(app)
    install_openapi(app)
    app.add_middleware(DocsPolicy)
    return app
