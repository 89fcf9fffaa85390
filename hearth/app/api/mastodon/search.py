"""Search (`/api/v2/search`): accounts, statuses and hashtags (as Tag entities). There is no
federation, so `resolve` finds nothing more; `min_id`/`max_id` are accepted and unused."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from hearth.app import deps
from hearth.app.api.mastodon.common import maybe_user
from hearth.app.api.mastodon.entities import Renderer
from hearth.app.api.mastodon.params import read_params
from hearth.services import accounts, search
from hearth.storage.models import Account

router = APIRouter(tags=["mastodon: search"])


@router.get("/api/v2/search")
async def search_v2(request: Request, db: AsyncSession = Depends(deps.get_db),
                    viewer: Account | None = Depends(maybe_user("read:search"))) -> dict:
    params = await read_params(request)
    q = params.string("q", "", max_len=500) or ""
    for flag in ("resolve", "exclude_unreviewed"):  # accepted and type-checked; nothing remote to resolve
        params.boolean(flag)
    author = params.id("account_id")
    author_id = (await accounts.get_account(db, author)).id if author else None
    found = await search.search(db, viewer, q, params.string("type") or None, params.integer("limit", 20, 1, 40),
                                params.integer("offset", 0, 0), params.boolean("following", False), author_id)
    r = Renderer.for_request(request, viewer)
    return {"accounts": [r.account(a) for a in found.accounts],
            "statuses": await r.statuses(db, found.statuses),
            "hashtags": [r.tag(name) for name, _ in found.hashtags]}
