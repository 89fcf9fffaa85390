"""Follow suggestions from the serving layer's people-you-may-know, as Mastodon's Suggestion
entity (v2) or plain accounts (v1); dismissing one is logged as a `hide` of that account."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from hearth.app import deps, hydrate
from hearth.app.api.mastodon.common import ACCOUNT_LIMIT, user, writer
from hearth.app.api.mastodon.entities import Renderer, suggestion
from hearth.app.api.mastodon.params import read_params
from hearth.services import graph
from hearth.storage.models import Account

router = APIRouter(tags=["mastodon: suggestions"])


async def _people(request: Request, db: AsyncSession, viewer: Account) -> list:
    limit = (await read_params(request)).integer("limit", ACCOUNT_LIMIT[0], 1, ACCOUNT_LIMIT[1])
    return await hydrate.people(db, await request.app.state.serving.people(db, viewer, limit))


@router.get("/api/v2/suggestions")
async def suggestions_v2(request: Request, db: AsyncSession = Depends(deps.get_db),
                         viewer: Account = Depends(user("read:accounts"))) -> list[dict]:
    r = Renderer.for_request(request, viewer)
    return [suggestion(r, s.account, s.source) for s in await _people(request, db, viewer)]


@router.get("/api/v1/suggestions")
async def suggestions_v1(request: Request, db: AsyncSession = Depends(deps.get_db),
                         viewer: Account = Depends(user("read:accounts"))) -> list[dict]:
    r = Renderer.for_request(request, viewer)
    return [r.account(s.account) for s in await _people(request, db, viewer)]


@router.delete("/api/v1/suggestions/{account_id}")
async def dismiss(account_id: str, db: AsyncSession = Depends(deps.get_db),
                  viewer: Account = Depends(writer("write:accounts"))) -> dict:
    await graph.dismiss_suggestion(db, viewer, account_id)
    return {}
