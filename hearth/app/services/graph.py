"""The social graph: follow, unfollow, block, mute, relationships, followers and following."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from hearth.app.models import Account, Block, Follow, Mute
from hearth.app.services import events
from hearth.app.services.accounts import get_account
from hearth.app.services.errors import Forbidden, Invalid, NotFound
from hearth.app.services.ids import parse_id
from hearth.app.services.notifications import notify
from hearth.app.services.pages import Page
from hearth.app.services.visibility import is_blocked_between


async def _target(db: AsyncSession, viewer: Account, account_id: int | str) -> Account:
    target = await get_account(db, account_id)
    if target.id == viewer.id:
        raise Invalid("you cannot do that to your own account")
    return target


async def _drop_follow(db: AsyncSession, follower: int, followee: int) -> bool:
    result = await db.execute(delete(Follow).where(Follow.account_id == follower,
                                                   Follow.target_account_id == followee))
    if not result.rowcount:
        return False
    await db.execute(update(Account).where(Account.id == follower).values(following_count=Account.following_count - 1))
    await db.execute(update(Account).where(Account.id == followee).values(followers_count=Account.followers_count - 1))
    return True


async def follow(db: AsyncSession, viewer: Account, account_id: int | str, source: str | None = None) -> Account:
    """Follow an account (idempotent). `source` says where the suggestion came from, for the log."""
    target = await _target(db, viewer, account_id)
    if await is_blocked_between(db, viewer.id, target.id):
        raise Forbidden("you cannot follow this account")
    if not await db.scalar(select(Follow.id).where(Follow.account_id == viewer.id,
                                                   Follow.target_account_id == target.id)):
        db.add(Follow(account_id=viewer.id, target_account_id=target.id))
        await db.execute(update(Account).where(Account.id == viewer.id).values(
            following_count=Account.following_count + 1))
        await db.execute(update(Account).where(Account.id == target.id).values(
            followers_count=Account.followers_count + 1))
        events.record(db, viewer.id, "follow", "account", target.id, context={"source": source} if source else None)
        await notify(db, target.id, viewer.id, "follow")
        await db.commit()
    return target


async def unfollow(db: AsyncSession, viewer: Account, account_id: int | str) -> Account:
    target = await _target(db, viewer, account_id)
    if await _drop_follow(db, viewer.id, target.id):
        events.record(db, viewer.id, "unfollow", "account", target.id)
        await db.commit()
    return target


async def remove_follower(db: AsyncSession, viewer: Account, account_id: int | str) -> Account:
    target = await _target(db, viewer, account_id)
    if await _drop_follow(db, target.id, viewer.id):
        await db.commit()
    return target


async def block(db: AsyncSession, viewer: Account, account_id: int | str) -> Account:
    """Block: both follows are removed and neither sees the other."""
    target = await _target(db, viewer, account_id)
    if not await db.scalar(select(Block.id).where(Block.account_id == viewer.id,
                                                  Block.target_account_id == target.id)):
        await _drop_follow(db, viewer.id, target.id)
        await _drop_follow(db, target.id, viewer.id)
        db.add(Block(account_id=viewer.id, target_account_id=target.id))
        events.record(db, viewer.id, "block", "account", target.id)
        await db.commit()
    return target


async def unblock(db: AsyncSession, viewer: Account, account_id: int | str) -> Account:
    target = await _target(db, viewer, account_id)
    result = await db.execute(delete(Block).where(Block.account_id == viewer.id, Block.target_account_id == target.id))
    if result.rowcount:
        events.record(db, viewer.id, "unblock", "account", target.id)
        await db.commit()
    return target


async def mute(db: AsyncSession, viewer: Account, account_id: int | str) -> Account:
    target = await _target(db, viewer, account_id)
    if not await db.scalar(select(Mute.id).where(Mute.account_id == viewer.id, Mute.target_account_id == target.id)):
        db.add(Mute(account_id=viewer.id, target_account_id=target.id))
        events.record(db, viewer.id, "mute", "account", target.id)
        await db.commit()
    return target


async def unmute(db: AsyncSession, viewer: Account, account_id: int | str) -> Account:
    target = await _target(db, viewer, account_id)
    result = await db.execute(delete(Mute).where(Mute.account_id == viewer.id, Mute.target_account_id == target.id))
    if result.rowcount:
        events.record(db, viewer.id, "unmute", "account", target.id)
        await db.commit()
    return target


async def dismiss_suggestion(db: AsyncSession, viewer: Account, account_id: int | str) -> Account:
    """'Not interested in this person': logged as a `hide` of the account, so people-you-may-know
    stops suggesting them and the model learns from it."""
    target = await _target(db, viewer, account_id)
    events.record(db, viewer.id, "hide", "account", target.id, context={"surface": "suggestions"})
    await db.commit()
    return target


@dataclass
class Relationship:
    id: int
    following: bool = False
    followed_by: bool = False
    blocking: bool = False
    blocked_by: bool = False
    muting: bool = False


async def relationships(db: AsyncSession, viewer: Account, account_ids: Sequence[int | str]) -> list[Relationship]:
    ids: list[int] = []
    for a in account_ids:
        try:
            int(a)
        except (TypeError, ValueError):
            raise Invalid(f"account id {a!r} is not an id") from None
        key = parse_id(a)
        if key is not None:  # out of range: no such account, no relationship to report
            ids.append(key)
    rel = {i: Relationship(i) for i in ids}
    if not ids:
        return []
    for (t,) in await db.execute(select(Follow.target_account_id).where(
            Follow.account_id == viewer.id, Follow.target_account_id.in_(ids))):
        rel[t].following = True
    for (a,) in await db.execute(select(Follow.account_id).where(
            Follow.target_account_id == viewer.id, Follow.account_id.in_(ids))):
        rel[a].followed_by = True
    for (t,) in await db.execute(select(Block.target_account_id).where(
            Block.account_id == viewer.id, Block.target_account_id.in_(ids))):
        rel[t].blocking = True
    for (a,) in await db.execute(select(Block.account_id).where(
            Block.target_account_id == viewer.id, Block.account_id.in_(ids))):
        rel[a].blocked_by = True
    for (t,) in await db.execute(select(Mute.target_account_id).where(
            Mute.account_id == viewer.id, Mute.target_account_id.in_(ids))):
        rel[t].muting = True
    return [rel[i] for i in ids]


async def followers(db: AsyncSession, account_id: int | str, page: Page) -> list[tuple[int, Account]]:
    """(follow id, follower) newest first; the follow id is the pagination cursor."""
    target = await get_account(db, account_id)
    q = select(Follow.id, Account).join(Account, Account.id == Follow.account_id).where(
        Follow.target_account_id == target.id)
    return page.finish([(fid, a) for fid, a in await db.execute(page.apply(q, Follow.id))])


async def following(db: AsyncSession, account_id: int | str, page: Page) -> list[tuple[int, Account]]:
    source = await get_account(db, account_id)
    q = select(Follow.id, Account).join(Account, Account.id == Follow.target_account_id).where(
        Follow.account_id == source.id)
    return page.finish([(fid, a) for fid, a in await db.execute(page.apply(q, Follow.id))])


async def following_ids(db: AsyncSession, account_id: int) -> set[int]:
    return set(await db.scalars(select(Follow.target_account_id).where(Follow.account_id == account_id)))


async def blocked_or_muted_ids(db: AsyncSession, account_id: int) -> set[int]:
    """Accounts whose posts this account must not be shown: blocked either way, or muted."""
    out = set(await db.scalars(select(Block.target_account_id).where(Block.account_id == account_id)))
    out |= set(await db.scalars(select(Block.account_id).where(Block.target_account_id == account_id)))
    out |= set(await db.scalars(select(Mute.target_account_id).where(Mute.account_id == account_id)))
    return out


__all__ = ["NotFound", "Relationship", "block", "blocked_or_muted_ids", "dismiss_suggestion", "follow", "followers",
           "following", "following_ids", "mute", "relationships", "remove_follower", "unblock", "unfollow", "unmute"]
