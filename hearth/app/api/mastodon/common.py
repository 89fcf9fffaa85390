"""What every Mastodon route shares: who is asking (token scopes, as Mastodon checks them),
the write rate limit, id-based pagination from parameters and Link headers for the next page."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from fastapi import Depends, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from hearth.app import deps
from hearth.app.api.mastodon.params import Params
from hearth.services import auth
from hearth.services.errors import Forbidden
from hearth.services.pages import Page
from hearth.storage.db import begin_write
from hearth.storage.models import Account

STATUS_LIMIT = (20, 40)  # (default, maximum) per page, as Mastodon
ACCOUNT_LIMIT = (40, 80)
NOTIFICATION_LIMIT = (40, 80)


def _check(info: auth.TokenInfo, scopes: Sequence[str]) -> None:
    if not any(auth.has_scope(info.scopes, s) for s in scopes):
        raise Forbidden("This action is outside the authorized scopes")


def user(*scopes: str) -> Callable:
    """Dependency: the account behind a token holding any of `scopes` (e.g. 'read:statuses')."""

    async def dependency(info: auth.TokenInfo | None = Depends(deps.optional_token)) -> Account:
        return deps.token_account(info, scopes)

    return dependency


def maybe_user(*scopes: str) -> Callable:
    """Dependency for reads open to anonymous clients (public posts, profiles): None without a
    token; a token that is sent must be valid and hold one of `scopes`."""

    async def dependency(info: auth.TokenInfo | None = Depends(deps.optional_token)) -> Account | None:
        if info is None:
            return None
        _check(info, scopes)
        return info.account

    return dependency


def writer(*scopes: str) -> Callable:
    """Dependency for writes: `user(*scopes)`, then the per-user and per-IP write limits; the
    request's session then waits its turn to write (storage/db.py: begin_write)."""

    async def dependency(request: Request, account: Account = Depends(user(*scopes)),
                         db: AsyncSession = Depends(deps.get_db)) -> Account:
        request.app.state.limits.write(account.id, deps.client_ip(request))
        await begin_write(db)
        return account

    return dependency


def base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def page_from(params: Params, limits: tuple[int, int] = STATUS_LIMIT) -> Page:
    default, maximum = limits
    return Page.parse(params.string("max_id"), params.string("since_id"), params.string("min_id"),
                      params.integer("limit", default, 1, maximum), max_limit=maximum)



def page_url(request: Request, **cursor: str | int) -> str:
    """This request's URL with its pagination parameters replaced by `cursor`."""
    url = request.url.remove_query_params(["max_id", "since_id", "min_id"])
    return str(url.include_query_params(**{k: str(v) for k, v in cursor.items()}))


def set_links(request: Request, response: Response, next_max: int | str | None, prev_min: int | str | None) -> None:
    """Mastodon's Link header: rel="next" with max_id (older), rel="prev" with min_id (newer)."""
    links = []
    if next_max is not None:
        links.append(f'<{page_url(request, max_id=next_max)}>; rel="next"')
    if prev_min is not None:
        links.append(f'<{page_url(request, min_id=prev_min)}>; rel="prev"')
    if links:
        response.headers["Link"] = ", ".join(links)


def link_ids(request: Request, response: Response, ids: Sequence[int]) -> None:
    """Link header for a page whose rows have cursor ids `ids` (newest first); none when empty."""
    if ids:
        set_links(request, response, ids[-1], ids[0])
