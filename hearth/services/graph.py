"""The social graph: follow, unfollow, block, mute, relationships, followers and following."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from hearth.services import events
from hearth.services.accounts import get_account
from hearth.services.errors import Forbidden, Invalid, NotFound
from hearth.services.ids import parse_id
from hearth.services.notifications import notify
from hearth.services.pages import Page
from hearth.services.visibility import is_blocked_between
from hearth.storage.models import Account, Block, Follow, FollowRequest, Mute


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
    await _count_follow(db, follower, followee, -1)
    return True


async def _count_follow(db: AsyncSession, follower: int, followee: int, delta: int) -> None:
    """Both accounts' counters, the lower id first: A following B while B follows A must not lock
    the two rows in opposite orders (PostgreSQL would abort one as a deadlock)."""
    for account_id in sorted((follower, followee)):
        if account_id == follower:
            await db.execute(update(Account).where(Account.id == follower).values(
                following_count=Account.following_count + delta))
        if account_id == followee:
            await db.execute(update(Account).where(Account.id == followee).values(
                followers_count=Account.followers_count + delta))


async def follow(db: AsyncSession, viewer: Account, account_id: int | str, source: str | None = None) -> Account:
    """Follow an account (idempotent). A locked account gets a follow request instead, which it
    authorizes or rejects (follow_requests.py). `source` says where the suggestion came from."""
    target = await _target(db, viewer, account_id)
    if await is_blocked_between(db, viewer.id, target.id):
        raise Forbidden("you cannot follow this account")
    if await db.scalar(select(Follow.id).where(Follow.account_id == viewer.id, Follow.target_account_id == target.id)):
        return target
    if target.locked:
        if not await db.scalar(select(FollowRequest.id).where(FollowRequest.account_id == viewer.id,
                                                              FollowRequest.target_account_id == target.id)):
            db.add(FollowRequest(account_id=viewer.id, target_account_id=target.id))
            await notify(db, target.id, viewer.id, "follow_request")
            try:
                await db.commit()
            except IntegrityError:  # the same request, sent twice at once
                await db.rollback()
        return target
    await add_follow(db, viewer.id, target.id, source)
    try:
        await db.commit()
    except IntegrityError:  # the same follow, sent twice at once: the first one counts
        await db.rollback()
    return target


async def add_follow(db: AsyncSession, follower_id: int, target_id: int, source: str | None = None) -> None:
    """The follow row, both counters, the event and the notification (the caller commits)."""
    db.add(Follow(account_id=follower_id, target_account_id=target_id))
    await _count_follow(db, follower_id, target_id, +1)
    events.record(db, follower_id, "follow", "account", target_id, context={"source": source} if source else None)
    await notify(db, target_id, follower_id, "follow")


async def unfollow(db: AsyncSession, viewer: Account, account_id: int | str) -> Account:
    """Unfollow, or withdraw a pending follow request."""
    target = await _target(db, viewer, account_id)
    withdrawn = await db.execute(delete(FollowRequest).where(FollowRequest.account_id == viewer.id,
                                                             FollowRequest.target_account_id == target.id))
    if await _drop_follow(db, viewer.id, target.id):
        events.record(db, viewer.id, "unfollow", "account", target.id)
        await db.commit()
    elif withdrawn.rowcount:
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
        await db.execute(delete(FollowRequest).where(or_(
            (FollowRequest.account_id == viewer.id) & (FollowRequest.target_account_id == target.id),
            (FollowRequest.account_id == target.id) & (FollowRequest.target_account_id == viewer.id))))
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
    requested: bool = False  # the viewer asked to follow this locked account; not answered yet
    requested_by: bool = False  # this account asked to follow the (locked) viewer


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
    for (t,) in await db.execute(select(FollowRequest.target_account_id).where(
            FollowRequest.account_id == viewer.id, FollowRequest.target_account_id.in_(ids))):
        rel[t].requested = True
    for (a,) in await db.execute(select(FollowRequest.account_id).where(
            FollowRequest.target_account_id == viewer.id, FollowRequest.account_id.in_(ids))):
        rel[a].requested_by = True
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


__all__ = ["NotFound", "Relationship", "add_follow", "block", "blocked_or_muted_ids", "dismiss_suggestion", "follow",
           "followers", "following", "following_ids", "mute", "relationships", "remove_follower", "unblock", "unfollow",
           "unmute"]
