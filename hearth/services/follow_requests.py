"""Follow requests to a locked account: list them, authorize (the follow begins) or reject."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from hearth.services.accounts import get_account
from hearth.services.errors import NotFound
from hearth.services.graph import add_follow
from hearth.services.pages import Page
from hearth.storage.models import Account, Follow, FollowRequest, Notification


async def pending(db: AsyncSession, viewer: Account, page: Page) -> list[tuple[int, Account]]:
    """(request id, who asks) newest first; the request id is the pagination cursor."""
    q = select(FollowRequest.id, Account).join(Account, Account.id == FollowRequest.account_id).where(
        FollowRequest.target_account_id == viewer.id)
    return page.finish([(rid, a) for rid, a in await db.execute(page.apply(q, FollowRequest.id))])


async def _take(db: AsyncSession, viewer: Account, account_id: int | str) -> Account:
    """Remove the account's pending request to the viewer (and its notification); NotFound if none."""
    requester = await get_account(db, account_id)
    removed = await db.execute(delete(FollowRequest).where(FollowRequest.account_id == requester.id,
                                                           FollowRequest.target_account_id == viewer.id))
    if not removed.rowcount:
        raise NotFound(f"no follow request from account {account_id}")
    await db.execute(delete(Notification).where(Notification.account_id == viewer.id,
                                                Notification.from_account_id == requester.id,
                                                Notification.type == "follow_request"))
    return requester


async def authorize(db: AsyncSession, viewer: Account, account_id: int | str) -> Account:
    """Accept: the requester now follows the viewer (and sees their followers-only posts)."""
    requester = await _take(db, viewer, account_id)
    if not await db.scalar(select(Follow.id).where(Follow.account_id == requester.id,
                                                   Follow.target_account_id == viewer.id)):
        await add_follow(db, requester.id, viewer.id)
    await db.commit()
    return requester


async def reject(db: AsyncSession, viewer: Account, account_id: int | str) -> Account:
    requester = await _take(db, viewer, account_id)
    await db.commit()
    return requester
