"""Notifications: list (types[] / exclude_types[] / account_id), one, unread count, dismiss, clear."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from hearth.app import deps
from hearth.app.api.mastodon.common import NOTIFICATION_LIMIT, link_ids, page_from, user, writer
from hearth.app.api.mastodon.entities import Renderer
from hearth.app.api.mastodon.params import read_params
from hearth.services import accounts, notifications
from hearth.services.errors import Invalid
from hearth.storage.models import NOTIFICATION_TYPES, Account

router = APIRouter(tags=["mastodon: notifications"])

READ, WRITE = ("read:notifications",), ("write:notifications",)


@router.get("/api/v1/notifications")
async def list_notifications(request: Request, response: Response, db: AsyncSession = Depends(deps.get_db),
                             viewer: Account = Depends(user(*READ))) -> list[dict]:
    """Types Hearth never creates (poll, follow_request, update, admin.*, ...) are valid filters
    that simply match nothing, as clients send them routinely."""
    params = await read_params(request)
    page = page_from(params, NOTIFICATION_LIMIT)
    asked = params.array("types")
    types = [t for t in asked if t in NOTIFICATION_TYPES]
    if asked and not types:
        return []
    excluded = [t for t in params.array("exclude_types") if t in NOTIFICATION_TYPES]
    from_id = None
    if params.id("account_id"):
        from_id = (await accounts.get_account(db, params.id("account_id"))).id
    rows = await notifications.list_notifications(db, viewer, page, types or None, excluded or None,
                                                  from_account_id=from_id)
    link_ids(request, response, [n.id for n in rows])
    return await Renderer.for_request(request, viewer).notifications(db, rows)


@router.get("/api/v1/notifications/unread_count")
async def unread_count(viewer: Account = Depends(user(*READ)), db: AsyncSession = Depends(deps.get_db)) -> dict:
    return {"count": await notifications.unread_count(db, viewer)}


@router.post("/api/v1/notifications/clear")
async def clear(db: AsyncSession = Depends(deps.get_db), viewer: Account = Depends(writer(*WRITE))) -> dict:
    await notifications.clear(db, viewer)
    return {}


@router.post("/api/v1/notifications/dismiss")
async def dismiss_by_param(request: Request, db: AsyncSession = Depends(deps.get_db),
                           viewer: Account = Depends(writer(*WRITE))) -> dict:
    """The pre-3.1 form, `id` as a parameter."""
    notification_id = (await read_params(request)).id("id")
    if not notification_id:
        raise Invalid("id is required")
    await notifications.dismiss(db, viewer, notification_id)
    return {}


@router.get("/api/v1/notifications/{notification_id}")
async def get_notification(notification_id: str, request: Request, db: AsyncSession = Depends(deps.get_db),
                           viewer: Account = Depends(user(*READ))) -> dict:
    row = await notifications.get_notification(db, viewer, notification_id)
    return (await Renderer.for_request(request, viewer).notifications(db, [row]))[0]


@router.post("/api/v1/notifications/{notification_id}/dismiss")
async def dismiss(notification_id: str, db: AsyncSession = Depends(deps.get_db),
                  viewer: Account = Depends(writer(*WRITE))) -> dict:
    await notifications.dismiss(db, viewer, notification_id)
    return {}
