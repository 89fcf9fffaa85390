"""Posts: compose, reply, delete, read, thread context, favourite, reblog, hide."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

import cachetools
from sqlalchemy import bindparam, delete, func, literal, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload, selectinload

from hearth.services import events
from hearth.services.errors import Forbidden, Invalid, NotFound
from hearth.services.ids import parse_id
from hearth.services.notifications import notify
from hearth.services.pages import Page
from hearth.services.status_data import PostData
from hearth.services.visibility import is_blocked_between, not_blocked, require_visible, visible_to
from hearth.storage.db import core_execute
from hearth.storage.models import VISIBILITIES, Account, Favourite, IdempotencyKey, Mention, Post, PostTag, utcnow

MENTION_RE = re.compile(r"(?<![\w/@])@([A-Za-z0-9_]{1,30})(?:@([\w.-]+))?")
TAG_RE = re.compile(r"(?<![\w/&#])#(\w{1,100})")

# Load what a rendered status needs: author, and for a reblog the original and its author.
POST_LOAD = (joinedload(Post.account), selectinload(Post.reblog).joinedload(Post.account))


def _id(value: int | str | None, what: str) -> int:
    key = parse_id(value)
    if key is None:
        raise NotFound(f"{what} {value!r} not found")
    return key


async def load_post(db: AsyncSession, post_id: int | str) -> Post | None:
    return await db.scalar(select(Post).where(Post.id == _id(post_id, "post")).options(*POST_LOAD))


async def load_many(db: AsyncSession, post_ids: Sequence[int]) -> dict[int, Post]:
    """Posts by id with what rendering needs (POST_LOAD); ids that do not exist are left out."""
    if not post_ids:
        return {}
    return {p.id: p for p in await db.scalars(select(Post).where(Post.id.in_(list(post_ids))).options(*POST_LOAD))}


async def get_post(db: AsyncSession, viewer: Account | None, post_id: int | str) -> Post:
    return await require_visible(db, viewer, await load_post(db, post_id), f"post {post_id}")


IDEMPOTENCY_TTL = timedelta(hours=1)  # as Mastodon keeps Idempotency-Key for an hour


async def _earlier_post(db: AsyncSession, viewer: Account, key: str) -> Post | None:
    """The post this account created under `key` within the hour (an older record is dropped)."""
    row = await db.scalar(select(IdempotencyKey).where(IdempotencyKey.account_id == viewer.id,
                                                       IdempotencyKey.key == key))
    if row is None:
        return None
    if row.created_at < utcnow() - IDEMPOTENCY_TTL:
        await db.delete(row)
        await db.flush()
        return None
    return await load_post(db, row.post_id)


async def create_post(db: AsyncSession, viewer: Account, text: str, in_reply_to_id: int | str | None = None,
                      visibility: str | None = None, spoiler_text: str = "", sensitive: bool = False,
                      language: str | None = None, max_chars: int = 500, domain: str = "localhost",
                      idempotency_key: str | None = None) -> Post:
    """Write a post. With `idempotency_key`, a retry within the hour returns the first post: the
    key is stored in the post's own transaction, so it survives a crash or restart with it."""
    if idempotency_key:
        earlier = await _earlier_post(db, viewer, idempotency_key)
        if earlier is not None:
            return earlier
    text = (text or "").strip()
    if not text:
        raise Invalid("a post needs text")
    if len(text) > max_chars:
        raise Invalid(f"post is {len(text)} characters; the limit is {max_chars}")
    if len(spoiler_text or "") > 500:
        raise Invalid("content warning is longer than 500 characters")
    visibility = visibility or "public"
    if visibility not in VISIBILITIES:
        raise Invalid(f"visibility must be one of {', '.join(VISIBILITIES)}")
    parent = None
    if in_reply_to_id not in (None, ""):
        parent = await get_post(db, viewer, in_reply_to_id)
        if parent.reblog_of_id is not None:
            raise Invalid("reply to the original post, not to a reblog")
        if await is_blocked_between(db, viewer.id, parent.account_id):
            raise NotFound(f"post {in_reply_to_id} not found")
    post = Post(account_id=viewer.id, text=text, spoiler_text=spoiler_text or "", sensitive=bool(sensitive),
                language=language, visibility=visibility, in_reply_to_id=parent.id if parent else None,
                in_reply_to_account_id=parent.account_id if parent else None)
    db.add(post)
    await db.flush()
    mentioned = await _mentions(db, text, domain)
    if parent is not None:
        mentioned.setdefault(parent.account_id, None)
    for account_id in mentioned:
        if account_id != viewer.id:
            db.add(Mention(post_id=post.id, account_id=account_id))
    for tag in dict.fromkeys(t.lower() for t in TAG_RE.findall(text)):
        db.add(PostTag(post_id=post.id, name=tag))
    await db.execute(update(Account).where(Account.id == viewer.id).values(
        statuses_count=Account.statuses_count + 1, last_status_at=utcnow()))
    events.record(db, viewer.id, "post", "item", post.id)
    if parent is not None:
        await db.execute(update(Post).where(Post.id == parent.id).values(replies_count=Post.replies_count + 1))
        events.record(db, viewer.id, "reply", "item", parent.id, context={"reply_id": post.id})
    for account_id in mentioned:
        await notify(db, account_id, viewer.id, "mention", post.id)
    if idempotency_key:
        db.add(IdempotencyKey(account_id=viewer.id, key=idempotency_key, post_id=post.id))
    try:
        await db.commit()
    except IntegrityError:  # the same key, committed by a concurrent request first: that post wins
        await db.rollback()
        earlier = await _earlier_post(db, viewer, idempotency_key) if idempotency_key else None
        if earlier is None:
            raise
        return earlier
    return await load_post(db, post.id)


async def _mentions(db: AsyncSession, text: str, domain: str) -> dict[int, None]:
    names = [m.group(1).lower() for m in MENTION_RE.finditer(text)
             if m.group(2) is None or m.group(2).lower() == domain.lower()]
    if not names:
        return {}
    rows = await db.scalars(select(Account.id).where(Account.username_key.in_(names)))
    return dict.fromkeys(rows)


async def delete_post(db: AsyncSession, viewer: Account, post_id: int | str) -> Post:
    post = await load_post(db, post_id)
    if post is None or post.reblog_of_id is not None:
        raise NotFound(f"post {post_id} not found")
    if post.account_id != viewer.id:
        raise Forbidden("you can only delete your own posts")
    rebloggers = list(await db.scalars(select(Post.account_id).where(Post.reblog_of_id == post.id)))
    for account_id in [post.account_id, *rebloggers]:
        await db.execute(update(Account).where(Account.id == account_id, Account.statuses_count > 0)
                         .values(statuses_count=Account.statuses_count - 1))
    if post.in_reply_to_id is not None:
        await db.execute(update(Post).where(Post.id == post.in_reply_to_id).values(
            replies_count=Post.replies_count - 1))
    await db.execute(delete(Post).where(Post.id == post.id))
    await db.commit()
    return post


@dataclass
class Thread:
    ancestors: list[Post]
    descendants: list[Post]


async def context(db: AsyncSession, viewer: Account | None, post_id: int | str, limit: int = 200) -> Thread:
    post = await get_post(db, viewer, post_id)
    if post.reblog_of_id is not None:
        post = post.reblog
    ancestors: list[Post] = []
    parent_id = post.in_reply_to_id
    while parent_id is not None and len(ancestors) < limit:
        parent = await load_post(db, parent_id)
        if parent is None:
            break
        try:
            ancestors.append(await require_visible(db, viewer, parent))
        except NotFound:
            break
        parent_id = parent.in_reply_to_id
    descendants: list[Post] = []
    frontier = [post.id]
    while frontier and len(descendants) < limit:
        rows = list(await db.scalars(select(Post).where(Post.in_reply_to_id.in_(frontier))
                                     .order_by(Post.id).options(*POST_LOAD)))
        frontier = []
        for r in rows:
            try:
                descendants.append(await require_visible(db, viewer, r))
                frontier.append(r.id)
            except NotFound:
                continue
    descendants.sort(key=lambda p: p.id)
    return Thread(list(reversed(ancestors)), descendants[:limit])


async def _original(db: AsyncSession, viewer: Account | None, post_id: int | str) -> Post:
    post = await get_post(db, viewer, post_id)
    return post.reblog if post.reblog_of_id is not None else post


async def favourite(db: AsyncSession, viewer: Account, post_id: int | str) -> Post:
    post = await _original(db, viewer, post_id)
    if await db.scalar(select(Favourite.id).where(Favourite.account_id == viewer.id, Favourite.post_id == post.id)):
        return post
    db.add(Favourite(account_id=viewer.id, post_id=post.id))
    await db.execute(update(Post).where(Post.id == post.id).values(favourites_count=Post.favourites_count + 1))
    events.record(db, viewer.id, "like", "item", post.id, context={"author": post.account_id})
    await notify(db, post.account_id, viewer.id, "favourite", post.id)
    try:
        await db.commit()
    except IntegrityError:  # the same favourite, sent twice at once: the first one counts
        await db.rollback()
    await db.refresh(post)
    return post


async def unfavourite(db: AsyncSession, viewer: Account, post_id: int | str) -> Post:
    post = await _original(db, viewer, post_id)
    result = await db.execute(delete(Favourite).where(Favourite.account_id == viewer.id, Favourite.post_id == post.id))
    if result.rowcount:
        await db.execute(update(Post).where(Post.id == post.id).values(favourites_count=Post.favourites_count - 1))
        events.record(db, viewer.id, "unlike", "item", post.id)
        await db.commit()
        await db.refresh(post)
    return post


async def reblog(db: AsyncSession, viewer: Account, post_id: int | str, visibility: str = "public") -> Post:
    """The viewer's reblog of the post (the existing one when already reblogged)."""
    post = await _original(db, viewer, post_id)
    if post.visibility not in ("public", "unlisted"):
        raise Forbidden("private and direct posts cannot be reblogged")
    if visibility not in ("public", "unlisted", "private"):
        raise Invalid("reblog visibility must be public, unlisted or private")
    existing = await db.scalar(select(Post.id).where(Post.account_id == viewer.id, Post.reblog_of_id == post.id))
    if existing is None:
        row = Post(account_id=viewer.id, reblog_of_id=post.id, visibility=visibility, text="")
        db.add(row)
        await db.execute(update(Post).where(Post.id == post.id).values(reblogs_count=Post.reblogs_count + 1))
        await db.execute(update(Account).where(Account.id == viewer.id).values(
            statuses_count=Account.statuses_count + 1, last_status_at=utcnow()))
        events.record(db, viewer.id, "share", "item", post.id, context={"author": post.account_id})
        await db.flush()
        await notify(db, post.account_id, viewer.id, "reblog", post.id)
        await db.commit()
        existing = row.id
    return await load_post(db, existing)


async def unreblog(db: AsyncSession, viewer: Account, post_id: int | str) -> Post:
    """The original post, after removing the viewer's reblog of it (if any)."""
    post = await _original(db, viewer, post_id)
    result = await db.execute(delete(Post).where(Post.account_id == viewer.id, Post.reblog_of_id == post.id))
    if result.rowcount:
        await db.execute(update(Post).where(Post.id == post.id).values(reblogs_count=Post.reblogs_count - 1))
        await db.execute(update(Account).where(Account.id == viewer.id).values(
            statuses_count=Account.statuses_count - 1))
        events.record(db, viewer.id, "unshare", "item", post.id)
        await db.commit()
    return await load_post(db, post.id)


async def hide(db: AsyncSession, viewer: Account, post_id: int | str) -> None:
    """'Not interested': the feed stops showing it and learns from the event."""
    post = await _original(db, viewer, post_id)
    events.record(db, viewer.id, "hide", "item", post.id, context={"author": post.account_id})
    await db.commit()


# (True, post id) for each of `ids` the viewer favourited, (False, post id) for each it reblogged.
_FAVOURITED_OR_REBLOGGED = select(literal(True), Favourite.post_id).where(
    Favourite.account_id == bindparam("viewer_id"), Favourite.post_id.in_(bindparam("ids", expanding=True))
).union_all(select(literal(False), Post.reblog_of_id).where(
    Post.account_id == bindparam("viewer_id"), Post.reblog_of_id.in_(bindparam("ids", expanding=True))))


@dataclass
class ViewerState:
    favourited: bool = False
    reblogged: bool = False


async def viewer_states(db: AsyncSession, viewer: Account | None,
                        posts: Sequence[Post | PostData]) -> dict[int, ViewerState]:
    """Per original post id: whether the viewer favourited / reblogged it (one query)."""
    ids = {p.reblog_of_id or p.id for p in posts}
    states = {i: ViewerState() for i in ids}
    if viewer is None or not ids:
        return states
    params = {"viewer_id": viewer.id, "ids": list(ids)}
    for is_favourite, pid in await core_execute(db, _FAVOURITED_OR_REBLOGGED, params):
        if is_favourite:
            states[pid].favourited = True
        else:
            states[pid].reblogged = True
    return states


async def load_fresh(db: AsyncSession, post_id: int) -> Post | None:
    """The post re-read from the database (counters changed by UPDATEs earlier in this session
    are otherwise stale in the identity map)."""
    return await db.scalar(select(Post).where(Post.id == post_id).options(*POST_LOAD)
                           .execution_options(populate_existing=True))


@dataclass(frozen=True)
class Mentioned:
    """What rendering needs of a mentioned account (a username never changes)."""

    id: int
    username: str
    username_key: str


@dataclass
class Extras:
    mentions: dict[int, list[Mentioned]]  # post id -> mentioned accounts
    tags: dict[int, list[str]]  # post id -> tag names (lower-case)


# (post id, created_at, edited_at) -> (mentioned, tags). A post's mentions and tags are written
# with it and change only when it is edited, which moves edited_at; created_at tells apart a post
# that reuses a deleted one's id (SQLite may): an entry is never stale, in any worker.
_EXTRAS: cachetools.LRUCache = cachetools.LRUCache(maxsize=50_000)


async def mentions_and_tags(db: AsyncSession, posts: Sequence[Post | PostData]) -> Extras:
    """Mentioned accounts and hashtags of already-visible posts (for rendering): from the cache,
    else one query for all the posts it lacks."""
    keys = {p.id: (p.id, p.created_at, p.edited_at) for p in posts}
    out = Extras({}, {})
    missing = []
    for post_id, key in keys.items():
        hit = _EXTRAS.get(key)
        if hit is None:
            missing.append(post_id)
        else:
            out.mentions[post_id], out.tags[post_id] = hit
    if missing:
        fresh: dict[int, tuple[list[Mentioned], list[str]]] = {i: ([], []) for i in missing}
        mentions = select(Mention.post_id, Account.id, Account.username, Account.username_key).join(
            Account, Account.id == Mention.account_id).where(Mention.post_id.in_(missing))
        tags = select(PostTag.post_id, literal(None), PostTag.name, literal(None)).where(PostTag.post_id.in_(missing))
        rows = await db.execute(mentions.union_all(tags))
        for post_id, account_id, name, key in sorted(rows, key=lambda r: (r[0], r[1] is None, r[1] or 0, r[2])):
            if account_id is None:
                fresh[post_id][1].append(name)
            else:
                fresh[post_id][0].append(Mentioned(account_id, name, key))
        for post_id, value in fresh.items():
            _EXTRAS[keys[post_id]] = value
            out.mentions[post_id], out.tags[post_id] = value
    return out


async def favourited_by(db: AsyncSession, viewer: Account | None, post_id: int | str,
                        page: Page) -> list[tuple[int, Account]]:
    """(favourite id, account) newest first for a post the viewer may see."""
    post = await _original(db, viewer, post_id)
    q = select(Favourite.id, Account).join(Account, Account.id == Favourite.account_id).where(
        Favourite.post_id == post.id, not_blocked(viewer, Account.id))
    return page.finish([(fid, a) for fid, a in await db.execute(page.apply(q, Favourite.id))])


async def reblogged_by(db: AsyncSession, viewer: Account | None, post_id: int | str,
                       page: Page) -> list[tuple[int, Account]]:
    """(reblog post id, account) newest first for a post the viewer may see."""
    post = await _original(db, viewer, post_id)
    q = select(Post.id, Account).join(Account, Account.id == Post.account_id).where(
        Post.reblog_of_id == post.id, not_blocked(viewer, Account.id))
    return page.finish([(pid, a) for pid, a in await db.execute(page.apply(q, Post.id))])


async def favourites(db: AsyncSession, viewer: Account, page: Page) -> list[tuple[int, Post]]:
    """(favourite id, post) newest favourite first: the viewer's favourites they may still see."""
    q = select(Favourite.id, Post).join(Post, Post.id == Favourite.post_id).where(
        Favourite.account_id == viewer.id, visible_to(viewer), not_blocked(viewer, Post.account_id)
    ).options(*POST_LOAD)
    return page.finish([(fid, p) for fid, p in await db.execute(page.apply(q, Favourite.id))])


async def count_posts(db: AsyncSession) -> int:
    """Original posts on this server (for instance statistics)."""
    return int(await db.scalar(select(func.count(Post.id)).where(Post.reblog_of_id.is_(None))) or 0)
