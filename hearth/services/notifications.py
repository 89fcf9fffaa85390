"""Notifications: created by other services, listed and dismissed by their recipient."""

from __future__ import annotations

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from hearth.services.errors import Invalid, NotFound
from hearth.services.ids import parse_id
from hearth.services.pages import Page
from hearth.services.visibility import is_blocked_between
from hearth.storage.models import NOTIFICATION_TYPES, Account, Mute, Notification, Post

NOTIFICATION_LOAD = (selectinload(Notification.from_account),
                     selectinload(Notification.post).selectinload(Post.account),
                     selectinload(Notification.post).selectinload(Post.reblog).selectinload(Post.account))


async def notify(db: AsyncSession, recipient_id: int, from_id: int, type_: str, post_id: int | None = None) -> None:
    """Add a notification unless it is to oneself, or the recipient blocks or mutes the sender."""
    if recipient_id == from_id:
        return
    if await is_blocked_between(db, recipient_id, from_id):
        return
    if await db.scalar(select(Mute.id).where(Mute.account_id == recipient_id, Mute.target_account_id == from_id)):
        return
    db.add(Notification(account_id=recipient_id, from_account_id=from_id, type=type_, post_id=post_id))


def _types(values: list[str] | None, name: str) -> list[str] | None:
    if not values:
        return None
    for v in values:
        if v not in NOTIFICATION_TYPES:
            raise Invalid(f"{name}: unknown notification type {v!r}")
    return values


async def list_notifications(db: AsyncSession, viewer: Account, page: Page, types: list[str] | None = None,
                             exclude_types: list[str] | None = None,
                             from_account_id: int | None = None) -> list[Notification]:
    q = select(Notification).where(Notification.account_id == viewer.id).options(*NOTIFICATION_LOAD)
    if from_account_id is not None:
        q = q.where(Notification.from_account_id == from_account_id)
    if (t := _types(types, "types")) is not None:
        q = q.where(Notification.type.in_(t))
    if (x := _types(exclude_types, "exclude_types")) is not None:
        q = q.where(Notification.type.not_in(x))
    return page.finish(list(await db.scalars(page.apply(q, Notification.id))))


async def get_notification(db: AsyncSession, viewer: Account, notification_id: int | str) -> Notification:
    key = parse_id(notification_id)
    if key is None:
        raise NotFound(f"notification {notification_id!r} not found")
    row = await db.scalar(select(Notification).where(Notification.id == key, Notification.account_id == viewer.id)
                          .options(*NOTIFICATION_LOAD))
    if row is None:
        raise NotFound(f"notification {notification_id} not found")
    return row


async def dismiss(db: AsyncSession, viewer: Account, notification_id: int | str) -> None:
    row = await get_notification(db, viewer, notification_id)
    await db.delete(row)
    await db.commit()


async def clear(db: AsyncSession, viewer: Account) -> None:
    await db.execute(delete(Notification).where(Notification.account_id == viewer.id))
    await db.commit()


async def unread_count(db: AsyncSession, viewer: Account) -> int:
    return int(await db.scalar(select(func.count(Notification.id)).where(
        Notification.account_id == viewer.id, Notification.read.is_(False))) or 0)


async def mark_read(db: AsyncSession, viewer: Account) -> None:
    await db.execute(update(Notification).where(Notification.account_id == viewer.id, Notification.read.is_(False))
                     .values(read=True))
    await db.commit()
