"""Chronological timelines: home ("Following"), public, hashtag, and an account's posts.
The ranked "For you" feed lives in `hearth.serving`."""

from __future__ import annotations

from sqlalchemy import and_, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from hearth.app.models import Account, Follow, Post, PostTag
from hearth.app.services.accounts import get_account
from hearth.app.services.pages import Page
from hearth.app.services.posts import POST_LOAD
from hearth.app.services.visibility import not_blocked, not_muted, visible_to

Original = aliased(Post)


def _reblog_allowed(viewer: Account | None):  # noqa: ANN202 - a SQL clause
    """A reblog is shown only if its original's author is not blocked or muted."""
    if viewer is None:
        return Post.reblog_of_id.is_(None) | exists().where(Original.id == Post.reblog_of_id)
    return Post.reblog_of_id.is_(None) | exists().where(
        Original.id == Post.reblog_of_id, not_blocked(viewer, Original.account_id),
        not_muted(viewer, Original.account_id))


async def _run(db: AsyncSession, q, page: Page) -> list[Post]:  # noqa: ANN001 - a Select
    return page.finish(list(await db.scalars(page.apply(q.options(*POST_LOAD), Post.id))))


async def home(db: AsyncSession, viewer: Account, page: Page) -> list[Post]:
    """Posts and reblogs of followed accounts and one's own, newest first. Replies show when
    they answer oneself or someone the viewer follows (as Mastodon does)."""
    followed = select(Follow.target_account_id).where(Follow.account_id == viewer.id)
    reply_ok = or_(Post.in_reply_to_account_id.is_(None), Post.in_reply_to_account_id == viewer.id,
                   Post.in_reply_to_account_id == Post.account_id, Post.in_reply_to_account_id.in_(followed))
    q = select(Post).where(or_(Post.account_id == viewer.id, Post.account_id.in_(followed)),
                           visible_to(viewer), reply_ok, not_muted(viewer, Post.account_id),
                           _reblog_allowed(viewer))
    return await _run(db, q, page)


async def public(db: AsyncSession, viewer: Account | None, page: Page) -> list[Post]:
    q = select(Post).where(Post.visibility == "public", Post.reblog_of_id.is_(None),
                           not_blocked(viewer, Post.account_id), not_muted(viewer, Post.account_id))
    return await _run(db, q, page)


async def tag(db: AsyncSession, viewer: Account | None, name: str, page: Page) -> list[Post]:
    name = name.lstrip("#").lower()
    q = select(Post).join(PostTag, PostTag.post_id == Post.id).where(
        PostTag.name == name, Post.visibility == "public", not_blocked(viewer, Post.account_id),
        not_muted(viewer, Post.account_id))
    return await _run(db, q, page)


async def account_posts(db: AsyncSession, viewer: Account | None, account_id: int | str, page: Page,
                        exclude_replies: bool = False, exclude_reblogs: bool = False,
                        tagged: str | None = None) -> list[Post]:
    author = await get_account(db, account_id)
    q = select(Post).where(Post.account_id == author.id, visible_to(viewer), not_blocked(viewer, Post.account_id),
                           _reblog_allowed(viewer))
    if exclude_replies:
        q = q.where(or_(Post.in_reply_to_id.is_(None), Post.in_reply_to_account_id == author.id))
    if exclude_reblogs:
        q = q.where(Post.reblog_of_id.is_(None))
    if tagged:
        q = q.where(exists().where(and_(PostTag.post_id == Post.id, PostTag.name == tagged.lstrip("#").lower())))
    return await _run(db, q, page)
