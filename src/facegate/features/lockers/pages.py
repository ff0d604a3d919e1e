"""The kiosk's HTML pages (access, staff registration, admin) and their script."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from facegate.core.auth.principal import SCOPE_KIOSK
from facegate.core.errors import AuthError
from facegate.core.http import KIOSK_COOKIE, ContainerDep, client_host
from facegate.features.lockers.deps import Staff

router = APIRouter(tags=["lockers"], include_in_schema=False)
HERE = Path(__file__).resolve().parent
KIOSK_TEMPLATES = Jinja2Templates(directory=str(HERE / "templates"))
KIOSK_JS = HERE / "static" / "kiosk.js"


@router.get("/kiosk/lockers/access", response_class=HTMLResponse)
async def kiosk_access_page(request: Request, c: ContainerDep) -> Response:
    if not request.cookies.get(KIOSK_COOKIE):
        return RedirectResponse("/kiosk/lockers/setup", status_code=303)
    return KIOSK_TEMPLATES.TemplateResponse(
        request, "kiosk_access.html",
        {"key_digits": c.settings.locker_key_digits, "ttl_s": c.settings.locker_key_ttl_s},
    )


@router.get("/kiosk/lockers/register", response_class=HTMLResponse)
def kiosk_register_page(request: Request, staff: Staff) -> HTMLResponse:
    """Sync: ``web_context`` reads the session from the database (run in the thread pool)."""
    from facegate.core.web.deps import web_context

    ctx = web_context(request)
    return KIOSK_TEMPLATES.TemplateResponse(
        request, "kiosk_register.html", {"staff": staff, "csrf": ctx.csrf}
    )


@router.get("/kiosk/lockers/admin", response_class=HTMLResponse)
async def kiosk_admin_page(
    request: Request, c: ContainerDep, staff: Staff, locker: int | None = None,
    customer: str | None = None,
) -> HTMLResponse:
    """Lockers with status and holder, and the history of one locker/customer (or all)."""
    lockers, events = await run_in_threadpool(
        lambda: (c.lockers.list_lockers(),
                 c.lockers.history(locker=locker, customer_id=customer, limit=200))
    )
    return KIOSK_TEMPLATES.TemplateResponse(
        request, "kiosk_admin.html",
        {"staff": staff, "lockers": lockers, "events": events, "locker": locker,
         "customer": customer},
    )


@router.get("/kiosk/lockers/kiosk.js")
async def kiosk_js() -> FileResponse:
    return FileResponse(KIOSK_JS, media_type="text/javascript")


@router.get("/kiosk/lockers/setup", response_class=HTMLResponse)
def kiosk_setup_page(request: Request) -> HTMLResponse:
    """Make this browser a kiosk: paste a key whose only scope is ``kiosk``."""
    return _setup_page(request)


@router.post("/kiosk/lockers/setup")
def kiosk_setup(
    request: Request, c: ContainerDep,
    key: Annotated[str, Form(max_length=200)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Check the key (audited like every key) and keep it in the HttpOnly kiosk cookie."""
    from facegate.core.web.deps import check_csrf, web_context

    check_csrf(web_context(request), csrf_token)
    try:
        kiosk = c.credentials.authenticate(key.strip(), client_host(request.scope),
                                           "POST /kiosk/lockers/setup")
    except AuthError as exc:
        return _setup_page(request, exc.message, 401)
    if kiosk.scopes != frozenset({SCOPE_KIOSK}):
        return _setup_page(request, "use a key whose only scope is 'kiosk'", 403)
    response = RedirectResponse("/kiosk/lockers/access", status_code=303)
    age = (int((kiosk.expires_at - datetime.now(kiosk.expires_at.tzinfo)).total_seconds())
           if kiosk.expires_at else 365 * 24 * 3600)
    response.set_cookie(KIOSK_COOKIE, key.strip(), max_age=max(age, 1), path="/", httponly=True,
                        samesite="strict", secure=c.settings.web_cookie_secure)
    return response


def _setup_page(request: Request, error: str | None = None, status: int = 200) -> HTMLResponse:
    from facegate.core.web.deps import SECURITY_HEADERS, web_context

    ctx = web_context(request)
    response = KIOSK_TEMPLATES.TemplateResponse(
        request, "kiosk_setup.html", {"csrf": ctx.csrf, "error": error}, status_code=status
    )
    response.headers.update(SECURITY_HEADERS)
    ctx.keep_csrf_cookie(response)
    return response
