"""Follow requests (https://docs.joinmastodon.org/methods/follow_requests/): a locked account
sees who asked to follow it and authorizes or rejects each."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from hearth.app import deps
from hearth.app.api.mastodon.accounts import relationship_json
from hearth.app.api.mastodon.common import ACCOUNT_LIMIT, link_ids, page_from, user, writer
from hearth.app.api.mastodon.entities import Renderer
from hearth.app.api.mastodon.params import read_params
from hearth.services import follow_requests
from hearth.storage.models import Account

router = APIRouter(tags=["mastodon: follow requests"])


@router.get("/api/v1/follow_requests")
async def list_requests(request: Request, response: Response, db: AsyncSession = Depends(deps.get_db),
                        viewer: Account = Depends(user("read:follows", "follow"))) -> list[dict]:
    """Accounts waiting for the viewer to accept their follow, newest first (Link pagination)."""
    rows = await follow_requests.pending(db, viewer, page_from(await read_params(request), ACCOUNT_LIMIT))
    link_ids(request, response, [rid for rid, _ in rows])
    renderer = Renderer.for_request(request, viewer)
    return [renderer.account(a) for _, a in rows]


@router.post("/api/v1/follow_requests/{account_id}/authorize")
async def authorize(account_id: str, request: Request, db: AsyncSession = Depends(deps.get_db),
                    viewer: Account = Depends(writer("write:follows", "follow"))) -> dict:
    """Accept: the account now follows the viewer. 404 when it has no pending request."""
    return await relationship_json(request, db, viewer, await follow_requests.authorize(db, viewer, account_id))


@router.post("/api/v1/follow_requests/{account_id}/reject")
async def reject(account_id: str, request: Request, db: AsyncSession = Depends(deps.get_db),
                 viewer: Account = Depends(writer("write:follows", "follow"))) -> dict:
    return await relationship_json(request, db, viewer, await follow_requests.reject(db, viewer, account_id))
