"""Statuses: post (with Idempotency-Key), read, delete, thread context, favourite, reblog, who
favourited or reblogged, and the viewer's favourites."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from hearth.app import deps
from hearth.app.api.mastodon.common import ACCOUNT_LIMIT, STATUS_LIMIT, link_ids, maybe_user, page_from, user, writer
from hearth.app.api.mastodon.entities import Renderer
from hearth.app.api.mastodon.params import read_params
from hearth.services import posts
from hearth.services.errors import Invalid, NotFound
from hearth.storage.models import Account, Post

router = APIRouter(tags=["mastodon: statuses"])

IDEMPOTENCY_LOCKS_MAX = 10_000


@dataclass
class IdempotencyLocks:
    """One lock per (account, Idempotency-Key) in flight, so two copies of one request in this
    process wait for each other; the key itself is stored with the post (posts.create_post)."""

    locks: dict[tuple[int, str], asyncio.Lock] = field(default_factory=dict)

    def lock(self, key: tuple[int, str]) -> asyncio.Lock:
        if len(self.locks) > IDEMPOTENCY_LOCKS_MAX:
            for k in [k for k, lk in self.locks.items() if not lk.locked()]:
                del self.locks[k]
        return self.locks.setdefault(key, asyncio.Lock())


def idempotency_locks(request: Request) -> IdempotencyLocks:
    store = getattr(request.app.state, "mastodon_idempotency", None)
    if store is None:
        store = request.app.state.mastodon_idempotency = IdempotencyLocks()
    return store


async def _create(request: Request, db: AsyncSession, viewer: Account, key: str | None = None) -> Post:
    params = await read_params(request)
    if params.array("media_ids"):
        raise Invalid("media attachments are not supported on this server")
    if params.has("poll[options]") or params.has("poll[options][]") or params.has("poll"):
        raise Invalid("polls are not supported on this server")
    if params.string("scheduled_at"):
        raise Invalid("scheduled posts are not supported on this server")
    settings = request.app.state.settings
    post = await posts.create_post(
        db, viewer, params.string("status", "") or "", in_reply_to_id=params.id("in_reply_to_id"),
        visibility=params.string("visibility"), spoiler_text=params.string("spoiler_text", "") or "",
        sensitive=params.boolean("sensitive", False), language=params.string("language", max_len=16) or None,
        max_chars=settings.max_post_chars, domain=settings.instance_domain, idempotency_key=key)
    await request.app.state.serving.post_created(db, viewer.id, post.id)
    return post


@router.post("/api/v1/statuses")
async def create_status(request: Request, db: AsyncSession = Depends(deps.get_db),
                        viewer: Account = Depends(writer("write:statuses"))) -> dict:
    renderer = Renderer.for_request(request, viewer)
    key = request.headers.get("idempotency-key", "").strip()[:200]
    if not key:
        return await renderer.status(db, await _create(request, db, viewer))
    async with idempotency_locks(request).lock((viewer.id, key)):
        post = await _create(request, db, viewer, key)
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
