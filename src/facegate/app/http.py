"""``create_app``: the FastAPI application factory (REST API, docs at /docs, web pages)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from facegate import __version__
from facegate.app import health
from facegate.app.bootstrap import Container
from facegate.app.errors import install_error_handlers
from facegate.app.openapi import DocsPolicy, install_openapi
from facegate.app.web import install_web
from facegate.core.http import ClientAddressMiddleware
from facegate.core.settings import Settings, load_settings
from facegate.features import compat
from facegate.features.access import api as access_api
from facegate.features.admin import api as admin_api
from facegate.features.faces.api import compare, identify, people
from facegate.features.liveness import api as liveness_api
from facegate.features.lockers import api as lockers_api
from facegate.features.lockers import pages as lockers_pages

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
    # (no CDN: the docs work on an offline host); FACEGATE_API_DOCS=0 closes them and the schema
    about: dict[str, Any] = {
        "title": "FaceGate",
        "version": __version__,
        "description": "Self-hosted face authentication and access control. Every /v1 route needs "
        "an API key: `Authorization: Bearer <key>` (or `X-API-Key`), made with "
        "`facegate apikeys create`.",
        "lifespan": lifespan,
    }
    if container.settings.api_docs:
        app = FastAPIOffline(static_url="/static-docs", **about)
    else:
        app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None, **about)
    app.state.container = container
    app.add_middleware(ClientAddressMiddleware)
    install_error_handlers(app)
    for router in (
        health.router, compare.router, access_api.router, people.router, identify.router,
        lockers_api.router, lockers_pages.router, liveness_api.router, admin_api.router,
    ):
        app.include_router(router)
    compat.install(app, container)  # CompreFace /api/v1, DeepStack /v1/vision
    install_web(app)
    install_openapi(app)
    app.add_middleware(DocsPolicy)
    return app
