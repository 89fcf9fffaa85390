"""Search (accounts, posts, hashtags) and hashtag timelines."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from hearth.app.deps import WebUser, get_db
from hearth.app.web.people import relationship_map
from hearth.app.web.render import card_data, page
from hearth.app.web.session import current_user
from hearth.app.web.timeline import Entry, more_url, timeline_response
from hearth.services import search as search_service
from hearth.services import timelines
from hearth.services.errors import NotFound
from hearth.services.pages import Page
from hearth.services.posts import TAG_RE

router = APIRouter(include_in_schema=False)
RESULTS = 20
MAX_QUERY = 200


@router.get("/search")
async def search(request: Request, q: str = "", db: AsyncSession = Depends(get_db),
                 user: WebUser | None = Depends(current_user)) -> Response:
    query = q.strip()[:MAX_QUERY]
    viewer = user.account if user else None
    results = search_service.Results()
    if query:
        results = await search_service.search(db, viewer, query, limit=RESULTS)
    return await page(request, db, "search.html", {
        "q": query, "results": results, "searched": bool(query),
        "people": [{"account": a} for a in results.accounts], "source": "search",
        "rels": await relationship_map(db, viewer, results.accounts),
        "entries": [Entry(p) for p in results.statuses], **await card_data(db, viewer, results.statuses)})


@router.get("/tags/{name}")
async def tag(request: Request, name: str, max_id: str | None = None, db: AsyncSession = Depends(get_db),
              user: WebUser | None = Depends(current_user)) -> Response:
    name = name.lstrip("#")
    if not TAG_RE.fullmatch("#" + name):
        raise NotFound(f"#{name} is not a hashtag")
    page_ = Page.parse(max_id=max_id, limit=RESULTS)
    rows = await timelines.tag(db, user.account if user else None, name, page_)
    next_url = more_url(f"/tags/{name}", max_id=rows[-1].id) if len(rows) == page_.limit else None
    return await timeline_response(request, db, "tag.html", [Entry(p) for p in rows], next_url,
                                   {"tag": name.lower(), "first_page": max_id in (None, "")})
