"""The web site (issue 6): server-rendered pages (Jinja2) + small local JS/CSS, no CDN.

``install_web(app)`` adds the page routers and serves ``/static`` from this package.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from facegate.web import admin_pages, pages, voting_pages
from facegate.web.deps import STATIC_DIR

routers = (pages.router, voting_pages.router, admin_pages.router)


def install_web(app: FastAPI) -> None:
    for router in routers:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
