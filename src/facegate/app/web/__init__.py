"""The web site: server-rendered pages (Jinja2) + small local JS/CSS, no CDN.

``install_web(app)`` adds every feature's page router and serves ``/static`` from the packages
that ship static files (core's shared CSS/JS and each feature's own).
"""

from __future__ import annotations

from importlib.resources import files

from fastapi import FastAPI
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from facegate.app.web import dashboard
from facegate.features.accounts import pages as account_pages
from facegate.features.admin import keys as admin_keys
from facegate.features.admin import pages as admin_pages
from facegate.features.voting import pages as voting_pages

routers = (
    account_pages.router, dashboard.router, voting_pages.router, admin_pages.router,
    admin_keys.router,
)
STATIC_PACKAGES: list[str | tuple[str, str]] = [
    ("facegate.core.web", "static"),
    ("facegate.features.accounts", "static"),
]


def _favicon() -> Response:
    data = files("facegate.core.web").joinpath("static", "favicon.ico").read_bytes()
    return Response(data, media_type="image/x-icon",
                    headers={"Cache-Control": "public, max-age=86400"})


def install_web(app: FastAPI) -> None:
    for router in routers:
        app.include_router(router)
    app.add_api_route("/favicon.ico", _favicon, methods=["GET"], include_in_schema=False)
    app.mount("/static", StaticFiles(packages=STATIC_PACKAGES), name="static")
