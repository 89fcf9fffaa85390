"""Statuses: post (with Idempotency-Key), read, delete, thread context, favourite, reblog, who
favourited or reblogged, and the viewer's favourites."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from hearth.app import deps
from hearth.app.api.mastodon.common import ACCOUNT_LIMIT, STATUS_LIMIT, link_ids, maybe_user, page_from, user, writer
from hearth.app.api.mastodon.entities import Renderer
from hearth.app.api.mastodon.params import read_params
from hearth.app.models import Account, Post
from hearth.app.services import posts
from hearth.app.services.errors import Invalid, NotFound

router = APIRouter(tags=["mastodon: statuses"])

IDEMPOTENCY_TTL = 3600.0  # seconds, as Mastodon keeps keys for an hour
IDEMPOTENCY_MAX = 10_000


@dataclass
class IdempotencyKeys:
    """Per (account, Idempotency-Key): the post it created, for an hour, so a client that retries a
    post (timeout, flaky network) gets the same status instead of a duplicate. In memory: one
    server process per database, as `hearth serve` runs."""

    done: dict[tuple[int, str], tuple[float, int]] = field(default_factory=dict)
    locks: dict[tuple[int, str], asyncio.Lock] = field(default_factory=dict)

    def lookup(self, key: tuple[int, str]) -> int | None:
        hit = self.done.get(key)
        if hit is None or hit[0] < time.monotonic():
            return None
        return hit[1]

    def remember(self, key: tuple[int, str], post_id: int) -> None:
        now = time.monotonic()
        if len(self.done) >= IDEMPOTENCY_MAX:
            for k in [k for k, (expires, _) in self.done.items() if expires < now]:
                del self.done[k]
            while len(self.done) >= IDEMPOTENCY_MAX:
                del self.done[next(iter(self.done))]
        self.done[key] = (now + IDEMPOTENCY_TTL, post_id)

    def lock(self, key: tuple[int, str]) -> asyncio.Lock:
        if len(self.locks) > IDEMPOTENCY_MAX:
            for k in [k for k, lk in self.locks.items() if not lk.locked()]:
                del self.locks[k]
        return self.locks.setdefault(key, asyncio.Lock())


def idempotency_keys(request: Request) -> IdempotencyKeys:
    store = getattr(request.app.state, "mastodon_idempotency", None)
    if store is None:
        store = request.app.state.mastodon_idempotency = IdempotencyKeys()
    return store


async def _create(request: Request, db: AsyncSession, viewer: Account) -> Post:
    params = await read_params(request)
    if params.array("media_ids"):
        raise Invalid("media attachments are not supported on this server")
    if params.has("poll[options]") or params.has("poll[options][]") or params.has("poll"):
        raise Invalid("polls are not supported on this server")
    if params.string("scheduled_at"):
        raise Invalid("scheduled posts are not supported on this server")
    settings = request.app.state.settings
    return await posts.create_post(
        db, viewer, params.string("status", "") or "", in_reply_to_id=params.id("in_reply_to_id"),
        visibility=params.string("visibility"), spoiler_text=params.string("spoiler_text", "") or "",
        sensitive=params.boolean("sensitive", False), language=params.string("language", max_len=16) or None,
        max_chars=settings.max_post_chars, domain=settings.instance_domain)


@router.post("/api/v1/statuses")
async def create_status(request: Request, db: AsyncSession = Depends(deps.get_db),
                        viewer: Account = Depends(writer("write:statuses"))) -> dict:
    renderer = Renderer.for_request(request, viewer)
    key = request.headers.get("idempotency-key", "").strip()[:200]
    if not key:
        return await renderer.status(db, await _create(request, db, viewer))
    store, slot = idempotency_keys(request), (viewer.id, key)
    async with store.lock(slot):
        earlier = store.lookup(slot)
        if earlier is not None:
            post = await posts.load_fresh(db, earlier)
            if post is not None:
                return await renderer.status(db, post)
        post = await _create(request, db, viewer)
        store.remember(slot, post.id)
    return await renderer.status(db, post)


@router.get("/api/v1/statuses/{status_id}")
async def get_status(status_id: str, request: Request, db: AsyncSession = Depends(deps.get_db),
                     viewer: Account | None = Depends(maybe_user("read:statuses"))) -> dict:
    return await Renderer.for_request(request, viewer).status(db, await posts.get_post(db, viewer, status_id))


@router.delete("/api/v1/statuses/{status_id}")
async def delete_status(status_id: str, request: Request, db: AsyncSession = Depends(deps.get_db),
                        viewer: Account = Depends(writer("write:statuses"))) -> dict:
    """The deleted status with its `text`, for clients' delete-and-redraft (rendered before the
    rows its mentions and tags live in are gone)."""
    renderer = Renderer.for_request(request, viewer)
    shown = await renderer.status(db, await posts.get_post(db, viewer, status_id), with_source=True)
    await posts.delete_post(db, viewer, status_id)
    return shown


@router.get("/api/v1/statuses/{status_id}/context")
async def status_context(status_id: str, request: Request, db: AsyncSession = Depends(deps.get_db),
                         viewer: Account | None = Depends(maybe_user("read:statuses"))) -> dict:
    thread = await posts.context(db, viewer, status_id)
    r = Renderer.for_request(request, viewer)
    return {"ancestors": await r.statuses(db, thread.ancestors),
            "descendants": await r.statuses(db, thread.descendants)}


async def _fresh(request: Request, db: AsyncSession, viewer: Account, post: Post) -> dict:
    """Render after a write: counters were changed by UPDATEs, so re-read the row."""
    again = await posts.load_fresh(db, post.id)
    if again is None:
        raise NotFound(f"post {post.id} not found")
    return await Renderer.for_request(request, viewer).status(db, again)


@router.post("/api/v1/statuses/{status_id}/favourite")
async def favourite(status_id: str, request: Request, db: AsyncSession = Depends(deps.get_db),
                    viewer: Account = Depends(writer("write:favourites"))) -> dict:
    return await _fresh(request, db, viewer, await posts.favourite(db, viewer, status_id))


@router.post("/api/v1/statuses/{status_id}/unfavourite")
async def unfavourite(status_id: str, request: Request, db: AsyncSession = Depends(deps.get_db),
                      viewer: Account = Depends(writer("write:favourites"))) -> dict:
    return await _fresh(request, db, viewer, await posts.unfavourite(db, viewer, status_id))


@router.post("/api/v1/statuses/{status_id}/reblog")
async def reblog(status_id: str, request: Request, db: AsyncSession = Depends(deps.get_db),
                 viewer: Account = Depends(writer("write:statuses"))) -> dict:
    params = await read_params(request)
    row = await posts.reblog(db, viewer, status_id, visibility=params.string("visibility") or "public")
    return await _fresh(request, db, viewer, row)


@router.post("/api/v1/statuses/{status_id}/unreblog")
async def unreblog(status_id: str, request: Request, db: AsyncSession = Depends(deps.get_db),
                   viewer: Account = Depends(writer("write:statuses"))) -> dict:
    return await _fresh(request, db, viewer, await posts.unreblog(db, viewer, status_id))


@router.get("/api/v1/statuses/{status_id}/favourited_by")
async def favourited_by(status_id: str, request: Request, response: Response, db: AsyncSession = Depends(deps.get_db),
                        viewer: Account | None = Depends(maybe_user("read:accounts"))) -> list[dict]:
    rows = await posts.favourited_by(db, viewer, status_id, page_from(await read_params(request), ACCOUNT_LIMIT))
    link_ids(request, response, [i for i, _ in rows])
    r = Renderer.for_request(request, viewer)
    return [r.account(a) for _, a in rows]


@router.get("/api/v1/statuses/{status_id}/reblogged_by")
async def reblogged_by(status_id: str, request: Request, response: Response, db: AsyncSession = Depends(deps.get_db),
                       viewer: Account | None = Depends(maybe_user("read:accounts"))) -> list[dict]:
    rows = await posts.reblogged_by(db, viewer, status_id, page_from(await read_params(request), ACCOUNT_LIMIT))
    link_ids(request, response, [i for i, _ in rows])
    r = Renderer.for_request(request, viewer)
    return [r.account(a) for _, a in rows]


@router.get("/api/v1/favourites")
async def my_favourites(request: Request, response: Response, db: AsyncSession = Depends(deps.get_db),
                        viewer: Account = Depends(user("read:favourites"))) -> list[dict]:
    """Paged by favourite id (when it was favourited), which the Link header carries."""
    rows = await posts.favourites(db, viewer, page_from(await read_params(request), STATUS_LIMIT))
    link_ids(request, response, [i for i, _ in rows])
    return await Renderer.for_request(request, viewer).statuses(db, [p for _, p in rows])
