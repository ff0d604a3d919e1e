"""Admin pages: people and accounts, the access log with filters, elections.

Admin accounts exist only through ``facegate admin create`` (no default password)."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Form
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from facegate.errors import FaceGateError
from facegate.store.audit import AuditQuery
from facegate.web.deps import Ctx, WebContext, check_csrf, require_admin

router = APIRouter(prefix="/admin", include_in_schema=False)


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


@router.get("", response_class=HTMLResponse)
def admin_home(ctx: Ctx) -> Response:
    require_admin(ctx)
    c = ctx.container
    return ctx.render("admin_people.html", accounts=c.accounts.list_accounts(),
                      people=c.enrollment.list_people(limit=500))


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
        return ctx.render("admin_audit.html", exc.http_status, events=[], filters=filters,
                          error=exc.message)
    return ctx.render("admin_audit.html", events=ctx.container.audit.query(q), filters=filters)


def _elections_page(ctx: WebContext, status_code: int = 200, **extra: object) -> Response:
    voting = ctx.container.voting
    return ctx.render("admin_elections.html", status_code, elections=voting.list_elections(),
                      now=voting.clock(), **extra)


@router.get("/elections", response_class=HTMLResponse)
def admin_elections(ctx: Ctx) -> Response:
    require_admin(ctx)
    return _elections_page(ctx)


@router.post("/elections", response_class=HTMLResponse)
def admin_create_election(
    ctx: Ctx,
    title: str = Form(""),
    parties: str = Form(""),
    opens_at: str = Form(""),
    closes_at: str = Form(""),
    csrf_token: str = Form(""),
) -> Response:
    check_csrf(ctx, csrf_token)
    admin = require_admin(ctx)
    form = {"title": title, "parties": parties, "opens_at": opens_at, "closes_at": closes_at}
    try:
        opens, closes = parse_utc(opens_at, "opens at"), parse_utc(closes_at, "closes at")
        if opens is None or closes is None:
            raise FaceGateError("give the opening and closing time (UTC)")
        ctx.container.voting.create_election(title, parties.splitlines(), opens, closes,
                                             admin.username)
    except FaceGateError as exc:
        return _elections_page(ctx, exc.http_status, form=form, error=exc.message)
    return RedirectResponse("/admin/elections", status_code=303)
