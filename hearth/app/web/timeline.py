"""Lists of post cards with a "Load more" link: one helper for every timeline page (For you,
Following, profiles, hashtags). Without JavaScript "Load more" is a plain link to the next
page; with htmx it fetches only the next entries and swaps them in place of the link."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse
from sqlalchemy.ext.asyncio import AsyncSession

from hearth.app.web.render import card_data, html, is_htmx, page
from hearth.storage.models import Post


@dataclass
class Entry:
    """One card: the post (maybe a reblog), and for the ranked feed why it is shown."""

    post: Post
    reason: str | None = None
    source: str | None = None


def more_url(path: str, **params: Any) -> str:
    return path + "?" + urlencode({k: v for k, v in params.items() if v not in (None, "")})


async def timeline_response(request: Request, db: AsyncSession, template: str, entries: Sequence[Entry],
                            next_url: str | None, context: Mapping[str, Any] | None = None,
                            surface: str | None = None) -> HTMLResponse:
    """The full page, or for htmx's "Load more" just the next entries and the next link."""
    user = getattr(request.state, "web_user", None)
    ctx = {"entries": entries, "next_url": next_url, "surface": surface,
           **await card_data(db, user.account if user else None, [e.post for e in entries]), **(context or {})}
    if is_htmx(request):
        return html(request, "_entries.html", ctx)
    return await page(request, db, template, ctx)
