"""Hearth's own API (`/api/hearth/v1`): the ranked feed with a reason on every entry and an
opaque cursor, people you may know with social proof, feed events (impressions, dwell time,
"not interested") and the model's status.

Callers are a bearer token (scopes `read` / `write`) or the web UI's session cookie; cookie
writes need the `X-CSRF-Token` header. Posts are rendered as Mastodon Status entities.
Feed pages served here are recorded as impressions (surface "api"); the web UI, which
renders the feed itself, reports what was actually on screen through `POST /events`.
Impression and dwell reports go through the event buffer and do not count against the
write rate limit (they are telemetry); a batch with a `hide` in it does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hearth.app import deps, hydrate
from hearth.app.api.mastodon.entities import Renderer
from hearth.services import posts as post_service
from hearth.services.errors import Invalid, Unauthorized
from hearth.services.ids import parse_id
from hearth.services.visibility import not_blocked, visible_to
from hearth.storage.models import Account, Post

router = APIRouter(prefix="/api/hearth/v1", tags=["hearth"])
MAX_EVENTS = 100


def caller(scope: str, write: bool = False) -> Callable:
    """Dependency: the account behind a bearer token holding `scope`, or behind the web session
    cookie (writes then need the CSRF header). Writes also pass the write rate limit."""

    async def dependency(request: Request, db: AsyncSession = Depends(deps.get_db)) -> Account:
        if deps.bearer(request) is not None:
            return deps.token_account(await deps.optional_token(request, db), (scope,))
        user = await deps.web_user(request, db)
        if user is None:
            raise Unauthorized("sign in, or send an access token (Authorization: Bearer ...)")
        if write:
            await deps.check_csrf(request, user)
        return user.account

    return dependency


def _account(a: Account) -> dict[str, Any]:
    return {"id": str(a.id), "username": a.username, "display_name": a.display_name or a.username}


@router.get("/feed")
async def feed(request: Request, limit: Annotated[int, Query(ge=1, le=40)] = 20,
               cursor: Annotated[str | None, Query(max_length=8000)] = None,
               db: AsyncSession = Depends(deps.get_db), viewer: Account = Depends(caller("read"))) -> dict:
    """One page of the ranked "For you" feed; pass `next_cursor` back as `cursor` for the next.
    At the end `next_cursor` is null and `caught_up` true: the viewer has seen everything worth showing."""
    page = await request.app.state.serving.feed(db, viewer, limit, cursor or None)
    shown = await hydrate.feed_data(db, page)
    hydrate.record_impressions(request.app.state.events, viewer.id, shown, "api")
    statuses = await Renderer.for_request(request, viewer).statuses(db, [e.post for e in shown])
    return {"entries": [{"status": s, "score": e.score, "reason": e.reason, "source": e.source}
                        for e, s in zip(shown, statuses, strict=True)],
            "next_cursor": page.cursor, "caught_up": page.caught_up, "ranker": page.ranker}


@router.get("/people")
async def people(request: Request, limit: Annotated[int, Query(ge=1, le=80)] = 10,
                 db: AsyncSession = Depends(deps.get_db), viewer: Account = Depends(caller("read"))) -> list[dict]:
    """People you may know, best first, each with why and who you follow that follows them."""
    found = await hydrate.people(db, await request.app.state.serving.people(db, viewer, limit))
    r = Renderer.for_request(request, viewer)
    return [{"account": r.account(s.account), "score": s.score, "reason": s.reason, "source": s.source,
             "mutuals": [_account(m) for m in s.mutuals]} for s in found]


class FeedEvent(BaseModel):
    """One thing that happened to a post in a feed, as a client saw it."""

    model_config = ConfigDict(extra="forbid")
    verb: Literal["impression", "dwell", "hide"]
    post_id: str = Field(pattern=r"^[0-9]{1,19}$", description="the post's id")
    value: float | None = Field(None, ge=0, le=86_400, allow_inf_nan=False,
                                description="dwell: seconds on screen; otherwise ignored")
    surface: str = Field("for_you", pattern=r"^[a-z_]{1,32}$")

    @field_validator("post_id", mode="before")
    @classmethod
    def _id_as_text(cls, v: Any) -> Any:
        return str(v) if isinstance(v, int) and not isinstance(v, bool) else v

    @model_validator(mode="after")
    def _dwell_needs_seconds(self) -> FeedEvent:
        if self.verb == "dwell" and self.value is None:
            raise ValueError("a dwell event needs `value`: the seconds the post was on screen")
        return self


class FeedEvents(BaseModel):
    model_config = ConfigDict(extra="forbid")
    events: list[FeedEvent] = Field(min_length=1, max_length=MAX_EVENTS)


@router.post("/events", status_code=202)
async def report_events(body: FeedEvents, request: Request, db: AsyncSession = Depends(deps.get_db),
                        viewer: Account = Depends(caller("write", write=True))) -> JSONResponse:
    """Impressions and dwell times (buffered) and "not interested" (`hide`, recorded at once).
    Every post must exist and be visible to the caller, else 422 and nothing is written."""
    given = {e.post_id: parse_id(e.post_id) for e in body.events}
    ids = {i for i in given.values() if i is not None}
    q = select(Post.id).where(Post.id.in_(ids), visible_to(viewer), not_blocked(viewer, Post.account_id))
    found = set(await db.scalars(q))
    missing = {raw for raw, i in given.items() if i not in found}
    if missing:
        raise Invalid(f"unknown post{'s' if len(missing) > 1 else ''}: {', '.join(map(str, sorted(missing)))}; "
                      "nothing was recorded")
    if any(e.verb == "hide" for e in body.events):
        request.app.state.limits.write(viewer.id, deps.client_ip(request))
    buffer = request.app.state.events
    for e in body.events:
        if e.verb != "hide":
            value = e.value if e.verb == "dwell" else 1.0
            buffer.add(viewer.id, e.verb, "item", int(e.post_id), value=value,
                       context={"surface": e.surface, "client": True})
    for e in body.events:
        if e.verb == "hide":
            await post_service.hide(db, viewer, e.post_id)
    if buffer.full:
        await buffer.flush()
    return JSONResponse({"accepted": len(body.events)}, status_code=202)


@router.get("/model")
async def model_status(request: Request, viewer: Account = Depends(caller("read"))) -> dict:
    """Which ranker serves (model or heuristic), from which snapshot, trained when and on how much."""
    return request.app.state.serving.status()
