"""Voting pages: voter details (18+), the ballot, casting one vote, results with a bar chart."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from fastapi import APIRouter, Form
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from facegate.core.errors import FaceGateError
from facegate.core.http import http_status
from facegate.core.web.deps import (
    Ctx,
    WebContext,
    check_csrf,
    parse_utc,
    register_templates,
    require_admin,
    require_user,
)

router = APIRouter(include_in_schema=False)
register_templates(Path(__file__).resolve().parent / "templates")


def _ballot(ctx: WebContext, election_id: int, status_code: int = 200, **extra: object) -> Response:
    user = require_user(ctx)
    voting = ctx.container.voting
    election = voting.get_election(election_id)
    voter = voting.voter_of(user.id)
    voted = voter is not None and voting.has_voted(election_id, voter.id)
    return ctx.render("ballot.html", status_code, election=election, voter=voter, voted=voted,
                      status=election.status(voting.clock()), **extra)


@router.get("/elections/{election_id}", response_class=HTMLResponse)
def ballot(ctx: Ctx, election_id: int) -> Response:
    return _ballot(ctx, election_id)


@router.post("/elections/{election_id}/voter", response_class=HTMLResponse)
def register_voter(
    ctx: Ctx,
    election_id: int,
    full_name: str = Form(""),
    date_of_birth: str = Form(""),
    voter_number: str = Form(""),
    csrf_token: str = Form(""),
) -> Response:
    check_csrf(ctx, csrf_token)
    user = require_user(ctx)
    form = {"full_name": full_name, "date_of_birth": date_of_birth, "voter_number": voter_number}
    try:
        try:
            born = date.fromisoformat(date_of_birth.strip())
        except ValueError:
            raise FaceGateError("the date of birth must be a date (YYYY-MM-DD)") from None
        ctx.container.voting.register_voter(user.id, user.username, full_name, born, voter_number)
    except FaceGateError as exc:
        return _ballot(ctx, election_id, http_status(exc), form=form, error=exc.message)
    return RedirectResponse(f"/elections/{election_id}", status_code=303)


@router.post("/elections/{election_id}/vote", response_class=HTMLResponse)
def cast_vote(
    ctx: Ctx, election_id: int, party_id: int = Form(0), csrf_token: str = Form("")
) -> Response:
    check_csrf(ctx, csrf_token)
    user = require_user(ctx)
    try:
        ctx.container.voting.cast_vote(election_id, user.id, party_id, user.username)
    except FaceGateError as exc:
        return _ballot(ctx, election_id, http_status(exc), error=exc.message)
    return RedirectResponse(f"/elections/{election_id}/results?voted=1", status_code=303)


@router.get("/elections/{election_id}/results", response_class=HTMLResponse)
def results(ctx: Ctx, election_id: int, voted: int = 0) -> Response:
    require_user(ctx)
    voting = ctx.container.voting
    res = voting.results(election_id)
    return ctx.render("results.html", results=res, voted=bool(voted),
                      status=res.election.status(voting.clock()))


# ---- administration ---------------------------------------------------------------------
def _elections_page(ctx: WebContext, status_code: int = 200, **extra: object) -> Response:
    voting = ctx.container.voting
    return ctx.render("admin_elections.html", status_code, elections=voting.list_elections(),
                      now=voting.clock(), **extra)


@router.get("/admin/elections", response_class=HTMLResponse)
def admin_elections(ctx: Ctx) -> Response:
    require_admin(ctx)
    return _elections_page(ctx)


@router.post("/admin/elections", response_class=HTMLResponse)
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
        return _elections_page(ctx, http_status(exc), form=form, error=exc.message)
    return RedirectResponse("/admin/elections", status_code=303)
