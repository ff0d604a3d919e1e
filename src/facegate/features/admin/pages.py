"""Admin pages: people and accounts, the access log with filters, elections.

Admin accounts exist only through ``facegate admin create`` (no default password)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from facegate.core.errors import FaceGateError
from facegate.core.http import http_status
from facegate.core.store.audit import AuditQuery
from facegate.core.web.deps import Ctx, parse_utc, register_templates, require_admin

router = APIRouter(prefix="/admin", include_in_schema=False)
register_templates(Path(__file__).resolve().parent / "templates")


@router.get("", response_class=HTMLResponse)
def admin_home(ctx: Ctx) -> Response:
    require_admin(ctx)
    c = ctx.container
    return ctx.render("admin_people.html", accounts=c.accounts.list_accounts(),
                      people=c.enrollment.list_people(limit=500), groups=c.groups.list_groups())


@router.get("/audit", response_class=HTMLResponse)
def admin_audit(
    ctx: Ctx,
    action: str = "",
    decision: str = "",
    subject: str = "",
    actor: str = "",
    since: str = "",
    until: str = "",
    limit: int = 200,
) -> Response:
    require_admin(ctx)
    filters = {"action": action, "decision": decision, "subject": subject, "actor": actor,
               "since": since, "until": until}
    try:
        q = AuditQuery(
            action=action.strip() or None, decision=decision.strip() or None,
            subject=subject.strip() or None, actor=actor.strip() or None,
            since=parse_utc(since, "since"), until=parse_utc(until, "until"),
            limit=max(1, min(limit, 1000)),
        )
    except FaceGateError as exc:
        return ctx.render("admin_audit.html", http_status(exc), events=[], filters=filters,
                          error=exc.message)
    return ctx.render("admin_audit.html", events=ctx.container.audit.query(q), filters=filters)
