"""Landing page, sign up, log in and log out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from hearth.app.deps import SESSION_COOKIE, WebUser, check_csrf, client_ip, get_db
from hearth.app.web.render import error_headers, html
from hearth.app.web.session import (
    check_pre_session_csrf,
    clear_session_cookie,
    current_user,
    pre_session_token,
    redirect,
    require_user,
    safe_next,
    set_pre_session_cookie,
    set_session_cookie,
)
from hearth.services import accounts, auth
from hearth.services.errors import ServiceError

router = APIRouter(include_in_schema=False)


def _form_page(request: Request, template: str, values: dict[str, str], error: str | None = None,
               status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """The sign-up or log-in form, refilled with what was typed (never the password)."""
    token = pre_session_token(request)
    response = html(request, template, {"form": values, "error": error, "form_token": token}, status, headers)
    set_pre_session_cookie(request, response, token)
    return response


@router.get("/")
async def landing(request: Request, user: WebUser | None = Depends(current_user)) -> Response:
    if user is not None:
        return redirect("/home")
    return _form_page(request, "landing.html", {})


@router.get("/signup")
async def signup_form(request: Request, next: str = "", user: WebUser | None = Depends(current_user)) -> Response:
    if user is not None:
        return redirect(safe_next(next))
    return _form_page(request, "signup.html", {"next": safe_next(next, "")})


@router.post("/signup")
async def signup(request: Request, db: AsyncSession = Depends(get_db), username: Annotated[str, Form()] = "",
                 email: Annotated[str, Form()] = "", password: Annotated[str, Form()] = "",
                 next: Annotated[str, Form()] = "") -> Response:
    await check_pre_session_csrf(request)
    values = {"username": username, "email": email, "next": safe_next(next, "")}
    try:
        request.app.state.limits.write(None, client_ip(request))
        account = await accounts.register(db, username, password, email or None,
                                          open_registrations=request.app.state.settings.registrations_open)
    except ServiceError as exc:
        return _form_page(request, "signup.html", values, exc.message, exc.status, error_headers(exc))
    cookie, _ = await auth.start_session(db, account, request.app.state.settings.session_days)
    response = redirect(safe_next(next))
    set_session_cookie(request, response, cookie)
    return response


@router.get("/login")
async def login_form(request: Request, next: str = "", user: WebUser | None = Depends(current_user)) -> Response:
    if user is not None:
        return redirect(safe_next(next))
    return _form_page(request, "login.html", {"next": safe_next(next, "")})


@router.post("/login")
async def login(request: Request, db: AsyncSession = Depends(get_db), login: Annotated[str, Form()] = "",
                password: Annotated[str, Form()] = "", next: Annotated[str, Form()] = "") -> Response:
    await check_pre_session_csrf(request)
    values = {"login": login, "next": safe_next(next, "")}
    try:
        with request.app.state.limits.login_attempt(login, client_ip(request)):
            account = await accounts.authenticate(db, login, password)
    except ServiceError as exc:
        return _form_page(request, "login.html", values, exc.message, exc.status, error_headers(exc))
    cookie, _ = await auth.start_session(db, account, request.app.state.settings.session_days)
    response = redirect(safe_next(next))
    set_session_cookie(request, response, cookie)
    return response


@router.post("/logout")
async def logout(request: Request, db: AsyncSession = Depends(get_db),
                 user: WebUser = Depends(require_user)) -> Response:
    await check_csrf(request, user)
    await auth.end_session(db, request.cookies.get(SESSION_COOKIE))
    response = redirect("/")
    clear_session_cookie(request, response)
    return response
