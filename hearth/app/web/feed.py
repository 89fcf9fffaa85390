"""The two home feeds: "For you" (ranked by app.state.serving, with a reason on every entry
and an opaque cursor) and "Following" (chronological, paged by max_id)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from hearth.app import hydrate
from hearth.app.deps import WebUser, get_db
from hearth.app.web.render import ranker_label
from hearth.app.web.session import require_user
from hearth.app.web.timeline import Entry, more_url, timeline_response
from hearth.services import timelines
from hearth.services.errors import Invalid
from hearth.services.pages import Page

router = APIRouter(include_in_schema=False)
FEED_PAGE = 20


@router.get("/home")
async def for_you(request: Request, cursor: str | None = None, db: AsyncSession = Depends(get_db),
                  user: WebUser = Depends(require_user)) -> Response:
    try:
        feed = await request.app.state.serving.feed(db, user.account, FEED_PAGE, cursor or None)
    except (ValueError, TypeError):  # a cursor that was edited by hand
        raise Invalid("this feed link is out of date; start again from the top of For you") from None
    entries = [Entry(e.post, e.reason, e.source) for e in await hydrate.feed_entries(db, feed)]
    next_url = more_url("/home", cursor=feed.cursor) if feed.cursor else None
    training = request.app.state.serving.training() is not None
    return await timeline_response(request, db, "home.html", entries, next_url,
                                   {"ranker": ranker_label(feed.ranker, training), "first_page": not cursor,
                                    "caught_up": feed.caught_up},
                                   surface="for_you")


@router.get("/following")
async def following(request: Request, max_id: str | None = None, db: AsyncSession = Depends(get_db),
                    user: WebUser = Depends(require_user)) -> Response:
    page = Page.parse(max_id=max_id, limit=FEED_PAGE)
    rows = await timelines.home(db, user.account, page)
    next_url = more_url("/following", max_id=rows[-1].id) if len(rows) == page.limit else None
    return await timeline_response(request, db, "following.html", [Entry(p) for p in rows], next_url,
                                   {"first_page": max_id in (None, "")})
