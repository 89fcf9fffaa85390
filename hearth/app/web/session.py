"""Who is using the web UI and what their form posts must carry: the signed-in user from the
session cookie, the redirect to /login for pages that need one, the CSRF and rate-limit
checks every state-changing form goes through, and safe 'come back to' paths."""

from __future__ import annotations

import secrets
from urllib.parse import quote, urlsplit

from fastapi import Depends, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from hearth.app import deps
from hearth.app.deps import SESSION_COOKIE, WebUser, check_csrf, client_ip, get_db
from hearth.app.web.render import is_htmx
from hearth.services.errors import Forbidden

# Log-in and sign-up forms have no session yet: they use a double-submit token (cookie + field).
PRE_SESSION_COOKIE = "hearth_form"
DEFAULT_NEXT = "/home"


class LoginRequired(Exception):
    """Raised by `require_user`; answered with a redirect to the log-in page."""

    def __init__(self, next_path: str | None):
        super().__init__("login required")
        self.next_path = next_path


def safe_next(value: str | None, default: str = DEFAULT_NEXT) -> str:
    """`value` if it is a path on this site ('/x?y'), else `default` (no open redirects)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return default
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return default
    return value


def page_path(request: Request) -> str | None:
    """The page the user is on: this GET's own path, or for a form post the page it came from."""
    if request.method == "GET":
        query = request.url.query
        return request.url.path + (f"?{query}" if query else "")
    for header in ("hx-current-url", "referer"):
        url = urlsplit(request.headers.get(header, ""))
        if url.netloc and url.netloc == request.url.netloc:
            return safe_next(url.path + (f"?{url.query}" if url.query else ""), default="") or None
    return None


def login_url(next_path: str | None) -> str:
    next_path = safe_next(next_path, default="")
    return "/login" + (f"?next={quote(next_path, safe='')}" if next_path else "")


def login_redirect(request: Request, exc: LoginRequired) -> Response:
    """303 to /login?next=...; htmx gets HX-Redirect so the whole page goes there."""
    url = login_url(exc.next_path)
    if is_htmx(request):
        return Response(status_code=401, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


async def current_user(request: Request, db: AsyncSession = Depends(get_db)) -> WebUser | None:
    """The signed-in user or None; kept on request.state so error pages can show the nav."""
    user = await deps.web_user(request, db)
    request.state.web_user = user
    return user


async def require_user(request: Request, user: WebUser | None = Depends(current_user)) -> WebUser:
    if user is None:
        raise LoginRequired(page_path(request))
    return user


async def csrf_user(request: Request, user: WebUser = Depends(require_user)) -> WebUser:
    """A signed-in user whose form post carries the session's CSRF token (forms that check the
    write limit themselves, to show a refusal next to what the user typed)."""
    await check_csrf(request, user)
    return user


async def form_user(request: Request, user: WebUser = Depends(csrf_user)) -> WebUser:
    """A signed-in user's state-changing form post: CSRF token checked first, then the per-user
    and per-IP write limits. Nothing is written when either refuses."""
    request.app.state.limits.write(user.account.id, client_ip(request))
    return user


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


# ---- log-in and sign-up forms (no session yet) -------------------------------------------------
def pre_session_token(request: Request) -> str:
    """The double-submit token for this browser: the cookie's value, or a new one."""
    token = request.cookies.get(PRE_SESSION_COOKIE)
    return token if token and 16 <= len(token) <= 64 else secrets.token_urlsafe(24)


def set_pre_session_cookie(request: Request, response: Response, token: str) -> None:
    if request.cookies.get(PRE_SESSION_COOKIE) != token:
        response.set_cookie(PRE_SESSION_COOKIE, token, httponly=True, samesite="strict", path="/",
                            secure=request.app.state.settings.secure_cookies)


async def check_pre_session_csrf(request: Request) -> None:
    """The form's csrf_token must equal the cookie set when the form was shown."""
    cookie = request.cookies.get(PRE_SESSION_COOKIE)
    sent = (await request.form()).get("csrf_token")
    if not cookie or not sent or not secrets.compare_digest(str(sent), cookie):
        raise Forbidden("the form expired or did not come from this site (CSRF check failed); reload the page")


def set_session_cookie(request: Request, response: Response, cookie: str) -> None:
    settings = request.app.state.settings
    response.set_cookie(SESSION_COOKIE, cookie, max_age=settings.session_days * 86400, httponly=True,
                        samesite="lax", secure=settings.secure_cookies, path="/")


def clear_session_cookie(request: Request, response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax",
                           secure=request.app.state.settings.secure_cookies)
