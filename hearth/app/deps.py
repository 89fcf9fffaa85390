"""FastAPI dependencies shared by the API and the web UI: a database session per request,
the acting user (bearer token or session cookie), scope and CSRF checks, rate limits."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from hearth.services import auth
from hearth.services.errors import Forbidden, Unauthorized
from hearth.storage.models import Account, WebSession

SESSION_COOKIE = "hearth_session"


async def get_db(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.sessionmaker() as db:
        yield db


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.query_params.get("access_token") or None


async def optional_token(request: Request, db: AsyncSession = Depends(get_db)) -> auth.TokenInfo | None:
    token = bearer(request)
    if token is None:
        return None
    info = await auth.resolve_token(db, token)
    request.state.account_id = info.account.id if info.account else None
    return info


def token_account(info: auth.TokenInfo | None, scopes: Sequence[str]) -> Account:
    """The account behind a token that holds any of `scopes` (e.g. 'write', 'write:statuses');
    Unauthorized without a valid user token, Forbidden outside the scopes. Every bearer-token
    route of both APIs checks through here."""
    if info is None:
        raise Unauthorized("The access token is invalid")
    if not any(auth.has_scope(info.scopes, s) for s in scopes):
        raise Forbidden("This action is outside the authorized scopes")
    if info.account is None:
        raise Unauthorized("This method requires an authenticated user")
    return info.account


# ---- web sessions ---------------------------------------------------------------------------
@dataclass
class WebUser:
    account: Account
    session: WebSession


async def web_user(request: Request, db: AsyncSession = Depends(get_db)) -> WebUser | None:
    found = await auth.resolve_session(db, request.cookies.get(SESSION_COOKIE))
    if found is None:
        return None
    request.state.account_id = found[1].id
    return WebUser(found[1], found[0])


async def check_csrf(request: Request, user: WebUser) -> None:
    """Form posts carry `csrf_token`; htmx and fetch send the `X-CSRF-Token` header."""
    sent = request.headers.get("x-csrf-token")
    if sent is None and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")):
        sent = (await request.form()).get("csrf_token")
    if not sent or not secrets.compare_digest(str(sent), user.session.csrf_token):
        raise Forbidden("the form expired or did not come from this site (CSRF check failed); reload the page")
