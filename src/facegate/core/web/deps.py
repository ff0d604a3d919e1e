"""Shared plumbing of the web pages: templates, cookies, the request's session, CSRF checks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape

from facegate.core.auth.sessions import AccountInfo, SessionInfo, new_token, tokens_equal
from facegate.core.errors import FaceGateError, PermissionDeniedError
from facegate.core.http import get_container

WEB_DIR = Path(__file__).resolve().parent
# base.html lives here; each feature adds its own templates folder with ``register_templates``
_LOADER = FileSystemLoader([str(WEB_DIR / "templates")])
TEMPLATES = Jinja2Templates(env=Environment(loader=_LOADER, autoescape=select_autoescape()))
SESSION_COOKIE = "fg_session"
CSRF_COOKIE = "fg_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
SECURITY_HEADERS = {
    # every script and style is ours, served from /static (no inline script, no CDN)
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data: blob:; media-src 'self' blob: mediastream:; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def register_templates(folder: Path) -> None:
    """Make a feature's ``templates`` folder visible to ``WebContext.render`` (names are unique)."""
    if str(folder) not in _LOADER.searchpath:
        _LOADER.searchpath.append(str(folder))


class CsrfError(PermissionDeniedError):
    code = "csrf_failed"


@dataclass
class WebContext:
    """What every page needs: the container, the caller, the session and its CSRF token."""

    container: Any  # the app's service wiring (facegate.app.bootstrap.Container)
    request: Request
    client: str
    token: str | None
    session: SessionInfo | None
    account: AccountInfo | None
    csrf: str
    new_csrf_cookie: bool

    @property
    def user(self) -> AccountInfo | None:
        """The logged-in account (None during the face step or when anonymous)."""
        return self.account if self.session is not None and self.session.full else None

    def render(self, name: str, status_code: int = 200, **values: Any) -> HTMLResponse:
        values.update(ctx=self, user=self.user, csrf=self.csrf)
        response = TEMPLATES.TemplateResponse(self.request, name, values, status_code=status_code)
        response.headers.update(SECURITY_HEADERS)
        self.keep_csrf_cookie(response)
        return response

    def keep_csrf_cookie(self, response: Response) -> None:
        if self.new_csrf_cookie:
            set_cookie(self, response, CSRF_COOKIE, self.csrf, None)


def client_address(request: Request) -> str:
    """The peer address (proxies' X-Forwarded-For is not trusted here)."""
    return (request.client.host if request.client else "unknown")[:64]


def set_cookie(ctx: WebContext, response: Response, name: str, value: str, max_age: int | None) -> None:
    response.set_cookie(
        name, value, max_age=max_age, path="/", httponly=True, samesite="strict",
        secure=ctx.container.settings.web_cookie_secure,
    )


def web_context(request: Request) -> WebContext:
    container = get_container(request)
    token = request.cookies.get(SESSION_COOKIE)
    session = container.auth.sessions.get_session(token) if token else None
    account = container.accounts.account_by_id(session.account_id) if session else None
    if session is not None and account is None:
        session = None
    if session is not None:
        csrf, new_cookie = session.csrf_token, False
    else:
        cookie = request.cookies.get(CSRF_COOKIE)
        csrf, new_cookie = (cookie, False) if cookie and len(cookie) >= 32 else (new_token(), True)
    return WebContext(container, request, client_address(request), token if session else None,
                      session, account, csrf, new_cookie)


Ctx = Annotated[WebContext, Depends(web_context)]


def check_csrf(ctx: WebContext, submitted: str | None) -> None:
    """The form field or X-CSRF-Token header must equal the session's (or cookie's) token."""
    submitted = submitted or ctx.request.headers.get(CSRF_HEADER)
    if ctx.new_csrf_cookie or not tokens_equal(submitted, ctx.csrf):
        raise CsrfError("the form expired or did not come from this site (CSRF check failed)")


def require_user(ctx: WebContext) -> AccountInfo:
    """The logged-in account, or a redirect to the login page."""
    if ctx.user is None:
        raise HTTPException(status_code=303, detail="login required", headers={"Location": "/login"})
    return ctx.user


def require_admin(ctx: WebContext) -> AccountInfo:
    user = require_user(ctx)
    if not user.is_admin:
        raise PermissionDeniedError("administrators only")
    return user


def parse_utc(value: str, label: str) -> datetime | None:
    """A ``datetime-local`` (or ISO) value read as UTC; empty → None."""
    v = value.strip()
    if not v:
        return None
    try:
        dt = datetime.fromisoformat(v)
    except ValueError:
        raise FaceGateError(f"{label}: not a date/time (YYYY-MM-DDTHH:MM)") from None
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
