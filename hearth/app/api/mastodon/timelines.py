"""Timelines. Home, public and hashtag are chronological and paged by status id, as Mastodon
clients assume. Hearth's ranked "For you" feed is offered as a built-in list, `for-you`: its
Link header carries an opaque cursor in `max_id`, which clients pass back verbatim."""

from __future__ import annotations

import base64
import binascii
import re

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from hearth.app import deps, hydrate
from hearth.app.api.mastodon.common import STATUS_LIMIT, link_ids, maybe_user, page_from, set_links, user
from hearth.app.api.mastodon.entities import Renderer
from hearth.app.api.mastodon.params import Params, read_params
from hearth.services import timelines
from hearth.services.errors import Invalid, NotFound
from hearth.storage.models import Account

router = APIRouter(tags=["mastodon: timelines"])

FOR_YOU = {"id": "for-you", "title": "For you (Hearth ranked)", "replies_policy": "list", "exclusive": False}
SAFE_RE = re.compile(r"^[A-Za-z0-9._~-]+$")


def _no_results(params: Params) -> bool:
    """Filters nothing here can match: media-only (no attachments) or remote-only (no federation)."""
    return params.boolean("only_media", False) or params.boolean("remote", False)


@router.get("/api/v1/timelines/home")
async def home(request: Request, response: Response, db: AsyncSession = Depends(deps.get_db),
               viewer: Account = Depends(user("read:statuses"))) -> list[dict]:
    params = await read_params(request)
    page = page_from(params)
    if _no_results(params):
        return []
    rows = await timelines.home_data(db, viewer, page)
    link_ids(request, response, [p.id for p in rows])
    return await Renderer.for_request(request, viewer).statuses(db, rows)


@router.get("/api/v1/timelines/public")
async def public(request: Request, response: Response, db: AsyncSession = Depends(deps.get_db),
                 viewer: Account | None = Depends(maybe_user("read:statuses"))) -> list[dict]:
    params = await read_params(request)
    page = page_from(params)
    params.boolean("local", False)  # every post is local
    if _no_results(params):
        return []
    rows = await timelines.public(db, viewer, page)
    link_ids(request, response, [p.id for p in rows])
    return await Renderer.for_request(request, viewer).statuses(db, rows)


@router.get("/api/v1/timelines/tag/{hashtag}")
async def tag(hashtag: str, request: Request, response: Response, db: AsyncSession = Depends(deps.get_db),
              viewer: Account | None = Depends(maybe_user("read:statuses"))) -> list[dict]:
    params = await read_params(request)
    page = page_from(params)
    params.boolean("local", False)
    if _no_results(params):
        return []
    rows = await timelines.tag(db, viewer, hashtag, page)
    link_ids(request, response, [p.id for p in rows])
    return await Renderer.for_request(request, viewer).statuses(db, rows)


# ---- the ranked feed as a list --------------------------------------------------------------
def _check_list(list_id: str) -> None:
    if list_id != FOR_YOU["id"]:
        raise NotFound(f"list {list_id!r} not found")


def encode_cursor(cursor: str) -> str:
    """Serving's cursor as a max_id that survives the trip unchanged: Mastodon.py copies the raw
    max_id text out of the Link header and sends it again (so nothing may need %-escaping) and
    turns all-digit values into ints (so it starts with a letter). URL-safe cursors travel as
    they are behind "c"; anything else is base64url-encoded behind "b"."""
    if SAFE_RE.match(cursor):
        return "c" + cursor
    return "b" + base64.urlsafe_b64encode(cursor.encode()).decode().rstrip("=")


def decode_cursor(value: str) -> str:
    kind, body = value[:1], value[1:]
    if kind == "c" and body:
        return body
    if kind == "b" and body:
        try:
            return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
        except (binascii.Error, UnicodeDecodeError, ValueError):
            pass
    raise Invalid("max_id for the for-you list is an opaque cursor: pass back the one from the Link header")


@router.get("/api/v1/lists")
async def lists(viewer: Account = Depends(user("read:lists"))) -> list[dict]:
    return [FOR_YOU]


@router.get("/api/v1/lists/{list_id}")
async def get_list(list_id: str, viewer: Account = Depends(user("read:lists"))) -> dict:
    _check_list(list_id)
    return FOR_YOU


@router.get("/api/v1/lists/{list_id}/accounts")
async def list_accounts(list_id: str, viewer: Account = Depends(user("read:lists"))) -> list[dict]:
    _check_list(list_id)
    return []  # the ranked feed draws from everyone, not from members


@router.get("/api/v1/timelines/list/{list_id}")
async def list_timeline(list_id: str, request: Request, response: Response, db: AsyncSession = Depends(deps.get_db),
                        viewer: Account = Depends(user("read:lists", "read:statuses"))) -> list[dict]:
    """The ranked feed. `max_id` is the opaque cursor from the previous page's Link header.
    A refresh with `since_id`/`min_id` (clients polling for news) gets the first ranked page
    restricted to statuses newer than that id, so clients that prepend see no duplicates."""
    _check_list(list_id)
    params = await read_params(request)
    limit = params.integer("limit", STATUS_LIMIT[0], 1, STATUS_LIMIT[1])
    max_id = params.string("max_id")
    newer_than = [params.integer(n) for n in ("since_id", "min_id") if params.string(n)]
    if _no_results(params):
        return []
    cursor = decode_cursor(max_id) if max_id and not newer_than else None
    # Mastodon clients cannot report impressions, so what is served is recorded as seen.
    page = await request.app.state.serving.feed(db, viewer, limit, cursor)
    shown = await hydrate.feed_data(db, page)
    hydrate.record_impressions(request.app.state.events, viewer.id, shown, "mastodon_list")
    rows = [e.post for e in shown]
    next_cursor = page.cursor
    if newer_than:
        rows, next_cursor = [p for p in rows if p.id > max(newer_than)], None
    set_links(request, response, encode_cursor(next_cursor) if next_cursor else None, None)
    return await Renderer.for_request(request, viewer).statuses(db, rows)
