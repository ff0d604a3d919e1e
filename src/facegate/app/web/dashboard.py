"""``/dashboard``: the signed-in home page, composed from the features (account, voting, audit)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from facegate.core.store.audit import AuditQuery
from facegate.core.web.deps import Ctx, register_templates, require_user

router = APIRouter(include_in_schema=False)
register_templates(Path(__file__).resolve().parent / "templates")


@router.get("/dashboard", response_class=HTMLResponse)
def dashboard(ctx: Ctx) -> Response:
    user = require_user(ctx)
    c = ctx.container
    events = c.audit.query(AuditQuery(subject=user.username, limit=20))
    voter = c.voting.voter_of(user.id)
    return ctx.render("dashboard.html", events=events, voter=voter,
                      elections=c.voting.list_elections(), now=c.voting.clock())
