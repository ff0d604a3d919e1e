"""The kiosk's HTML pages (access, staff registration, admin) and their script."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from facegate.core.http import ContainerDep
from facegate.features.lockers.deps import Staff

router = APIRouter(tags=["lockers"], include_in_schema=False)
HERE = Path(__file__).resolve().parent
KIOSK_TEMPLATES = Jinja2Templates(directory=str(HERE / "templates"))
KIOSK_JS = HERE / "static" / "kiosk.js"


@router.get("/kiosk/lockers/access", response_class=HTMLResponse)
async def kiosk_access_page(request: Request, c: ContainerDep) -> HTMLResponse:
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
