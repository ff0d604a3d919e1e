"""Account pages: register, two-step login (password, then live face + liveness), dashboard,
logout, delete my account. Handlers are thin: parse the form, call one service, render."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, File, Form, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from facegate.core.errors import FaceGateError, FaceQualityError, RateLimitedError
from facegate.core.http import http_status, read_upload
from facegate.core.liveness.timestamps import parse_timestamps
from facegate.core.ratelimit.deps import caller_keys, rate_limit
from facegate.core.web.deps import (
    SESSION_COOKIE,
    Ctx,
    WebContext,
    check_csrf,
    register_templates,
    require_user,
    set_cookie,
)

router = APIRouter(include_in_schema=False)
register_templates(Path(__file__).resolve().parent / "templates")
MAX_FRAMES_PER_POST = 60


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


@router.get("/", response_class=HTMLResponse)
def home(ctx: Ctx) -> Response:
    return _redirect("/dashboard" if ctx.user else "/login")


# ---- register ------------------------------------------------------------------------------
@router.get("/register", response_class=HTMLResponse)
def register_form(ctx: Ctx) -> Response:
    return ctx.render("register.html")


@router.post("/register", response_class=HTMLResponse, dependencies=[rate_limit("enrol")])
async def register(
    ctx: Ctx,
    username: str = Form(""),
    display_name: str = Form(""),
    password: str = Form(""),
    password_again: str = Form(""),
    source: str = Form("upload"),
    csrf_token: str = Form(""),
    photos: list[UploadFile] = File(default_factory=list),
) -> Response:
    check_csrf(ctx, csrf_token)
    s = ctx.container.settings
    form = {"username": username, "display_name": display_name, "source": source}
    try:
        if password != password_again:
            raise FaceGateError("the two passwords differ")
        uploads = [p for p in photos if p.filename]
        if len(uploads) > s.web_register_max_photos:
            raise FaceGateError(f"at most {s.web_register_max_photos} photos or frames")
        files = [(p.filename or f"photo {i + 1}", await read_upload(p, s.max_upload_bytes))
                 for i, p in enumerate(uploads)]
        kind = "camera" if source == "camera" else "upload"
        result = await run_in_threadpool(  # the first call builds the enroller (loads the models)
            lambda: ctx.container.accounts.register(
                username, password, display_name, files, kind, ctx.client
            )
        )
    except FaceQualityError as exc:
        return ctx.render("register.html", http_status(exc), form=form, error=exc.message,
                          rejected=exc.reasons)
    except FaceGateError as exc:
        return ctx.render("register.html", http_status(exc), form=form, error=exc.message)
    return ctx.render("registered.html", 201, result=result)


# ---- login step 1: password ----------------------------------------------------------------
@router.get("/login", response_class=HTMLResponse)
def login_form(ctx: Ctx) -> Response:
    if ctx.user:
        return _redirect("/dashboard")
    return ctx.render("login.html")


def _login_page(ctx: WebContext, exc: FaceGateError, username: str) -> Response:
    """The login form again, with the refusal's message and status (429: with Retry-After)."""
    page = ctx.render("login.html", http_status(exc), form={"username": username},
                      error=exc.message)
    if isinstance(exc, RateLimitedError):
        page.headers["Retry-After"] = str(exc.retry_after_s)
    return page


@router.post("/login", response_class=HTMLResponse)
async def login(
    ctx: Ctx, username: str = Form(""), password: str = Form(""), csrf_token: str = Form("")
) -> Response:
    try:
        # the per-address limit, counted here (not as a route dependency) so that a refused
        # browser gets the login page with the message, not a JSON body
        await run_in_threadpool(ctx.container.rate_limits.hit, "login", caller_keys(ctx.request))
    except RateLimitedError as exc:
        return _login_page(ctx, exc, username)
    check_csrf(ctx, csrf_token)
    try:
        step = await run_in_threadpool(ctx.container.accounts.login_password, username, password,
                                       ctx.client)
    except FaceGateError as exc:
        return _login_page(ctx, exc, username)
    await run_in_threadpool(ctx.container.accounts.sessions.end_session, ctx.token)
    response = _redirect("/login/face")
    set_cookie(ctx, response, SESSION_COOKIE, step.token, ctx.container.settings.web_face_step_s)
    return response


# ---- login step 2: live face + liveness ----------------------------------------------------
@router.get("/login/face", response_class=HTMLResponse)
def login_face_page(ctx: Ctx) -> Response:
    if ctx.session is None or ctx.session.stage != "face" or ctx.account is None:
        return _redirect("/login")
    return ctx.render("login_face.html", username=ctx.account.username)


def _login_expired() -> FaceGateError:
    from facegate.core.errors import AuthError

    return AuthError("the login step expired: start again")


@router.post("/login/face/start")
async def login_face_start(ctx: Ctx) -> JSONResponse:
    check_csrf(ctx, None)
    if ctx.token is None or ctx.session is None or ctx.session.stage != "face":
        raise _login_expired()
    challenge = await run_in_threadpool(ctx.container.accounts.start_face_step, ctx.token,
                                        ctx.session)
    return JSONResponse(challenge)


@router.post("/login/face/frames")
async def login_face_frames(
    ctx: Ctx,
    timestamps: str = Form(..., description="JSON list of capture times in ms, one per frame"),
    frames: list[UploadFile] = File(...),
) -> JSONResponse:
    check_csrf(ctx, None)
    if ctx.session is None or ctx.session.stage != "face":
        raise _login_expired()
    if len(frames) > MAX_FRAMES_PER_POST:
        raise FaceGateError(f"at most {MAX_FRAMES_PER_POST} frames per request")
    times = parse_timestamps(timestamps, len(frames))
    limit = ctx.container.settings.max_upload_bytes
    data = [await read_upload(f, limit) for f in frames]
    state = await run_in_threadpool(ctx.container.accounts.add_face_frames, ctx.session, data, times)
    return JSONResponse(state)


@router.post("/login/face/finish")
async def login_face_finish(ctx: Ctx) -> JSONResponse:
    check_csrf(ctx, None)
    result = await run_in_threadpool(ctx.container.accounts.finish_login, ctx.token, ctx.client)
    response = JSONResponse({"ok": True, "redirect": "/dashboard"})
    set_cookie(ctx, response, SESSION_COOKIE, result.token, ctx.container.settings.web_session_ttl_s)
    return response


# ---- the protected area --------------------------------------------------------------------
@router.post("/logout")
def logout(ctx: Ctx, csrf_token: str = Form("")) -> Response:
    check_csrf(ctx, csrf_token)
    ctx.container.accounts.logout(ctx.token, ctx.session, ctx.client)
    response = _redirect("/login")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.post("/account/delete", response_class=HTMLResponse)
async def delete_account(
    ctx: Ctx, confirm_username: str = Form(""), csrf_token: str = Form("")
) -> Response:
    check_csrf(ctx, csrf_token)
    user = require_user(ctx)
    if confirm_username.strip().lower() != user.username:
        return ctx.render("dashboard.html", 422, events=[], voter=None, elections=[], now=None,
                          error="type your username to confirm the deletion")
    await run_in_threadpool(ctx.container.accounts.delete_account, user.id, user.username)
    response = _redirect("/login?deleted=1")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
