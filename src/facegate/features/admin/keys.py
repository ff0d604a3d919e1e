"""``/admin/keys``: the API keys page (web admin session; every POST carries the CSRF token).

The web admin acts with every scope (``web_principal``); the page shows a new or rotated key's
secret once, in the answer to that POST, and never again."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Form
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from facegate.core.auth.credentials import KIND_KEY, parse_expiry, parse_groups, parse_scopes
from facegate.core.auth.principal import ALL_SCOPES, Principal
from facegate.core.errors import FaceGateError
from facegate.core.http import http_status
from facegate.core.store.db import utcnow
from facegate.core.web.deps import Ctx, WebContext, check_csrf, register_templates, require_admin

router = APIRouter(prefix="/admin/keys", include_in_schema=False)
register_templates(Path(__file__).resolve().parent / "templates")


def web_principal(ctx: WebContext) -> Principal:
    admin = require_admin(ctx)
    return Principal(name=admin.username, kind="web", scopes=ALL_SCOPES, client=ctx.client)


def _page(ctx: WebContext, status_code: int = 200, **extra: object) -> Response:
    keys = ctx.container.credentials.list(KIND_KEY)
    return ctx.render("admin_keys.html", status_code, keys=keys, now=utcnow(),
                      scopes=sorted(ALL_SCOPES), **extra)


@router.get("", response_class=HTMLResponse)
def keys_page(ctx: Ctx) -> Response:
    require_admin(ctx)
    return _page(ctx)


@router.post("", response_class=HTMLResponse)
def create_key(
    ctx: Ctx,
    name: str = Form(""),
    scopes: list[str] = Form(default=[]),
    groups: str = Form(""),
    expires: str = Form(""),
    uuid: bool = Form(False),
    csrf_token: str = Form(""),
) -> Response:
    check_csrf(ctx, csrf_token)
    by = web_principal(ctx)
    form = {"name": name, "groups": groups, "expires": expires}
    try:
        info, secret = ctx.container.credentials.create(
            name, parse_scopes(scopes), by, groups=parse_groups(groups) if groups.strip() else None,
            expires_at=parse_expiry(expires), uuid_shaped=uuid,
        )
    except FaceGateError as exc:
        return _page(ctx, http_status(exc), form=form, error=exc.message)
    return _page(ctx, shown=(info.name, secret))


@router.post("/{name}/revoke", response_class=HTMLResponse)
def revoke_key(ctx: Ctx, name: str, csrf_token: str = Form("")) -> Response:
    check_csrf(ctx, csrf_token)
    ctx.container.credentials.revoke(name[:64], web_principal(ctx))
    return RedirectResponse("/admin/keys", status_code=303)


@router.post("/{name}/rotate", response_class=HTMLResponse)
def rotate_key(ctx: Ctx, name: str, csrf_token: str = Form("")) -> Response:
    check_csrf(ctx, csrf_token)
    try:
        info, secret = ctx.container.credentials.rotate(name[:64], web_principal(ctx))
    except FaceGateError as exc:
        return _page(ctx, http_status(exc), error=exc.message)
    return _page(ctx, shown=(info.name, secret))
