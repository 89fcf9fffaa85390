"""Who may see what, as SQL clauses (for lists) and as checks (for one post). Every read
path in the services goes through these."""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, exists, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from hearth.services.errors import NotFound
from hearth.storage.models import Account, Block, Follow, Mention, Mute, Post


def visible_to(viewer: Account | None, post=Post) -> ColumnElement[bool]:  # noqa: ANN001 - a Post alias
    """Posts `viewer` may read: public/unlisted; private to followers; direct to mentioned; own."""
    open_ = post.visibility.in_(("public", "unlisted"))
    if viewer is None:
        return open_
    follows = exists().where(Follow.account_id == viewer.id, Follow.target_account_id == post.account_id)
    mentioned = exists().where(Mention.post_id == post.id, Mention.account_id == viewer.id)
    return or_(open_, post.account_id == viewer.id, and_(post.visibility == "private", follows), mentioned)


def not_blocked(viewer: Account | None, author_col) -> ColumnElement[bool]:  # noqa: ANN001 - a column
    """Neither side has blocked the other."""
    if viewer is None:
        return true()
    return ~or_(exists().where(Block.account_id == author_col, Block.target_account_id == viewer.id),
                exists().where(Block.account_id == viewer.id, Block.target_account_id == author_col))


def not_muted(viewer: Account | None, author_col) -> ColumnElement[bool]:  # noqa: ANN001 - a column
    if viewer is None:
        return true()
    return ~exists().where(Mute.account_id == viewer.id, Mute.target_account_id == author_col)


async def is_blocked_between(db: AsyncSession, a: int, b: int) -> bool:
    q = select(Block.id).where(or_(and_(Block.account_id == a, Block.target_account_id == b),
                                   and_(Block.account_id == b, Block.target_account_id == a))).limit(1)
    return (await db.scalar(q)) is not None


async def can_view(db: AsyncSession, viewer: Account | None, post: Post) -> bool:
    q = select(Post.id).where(Post.id == post.id, visible_to(viewer), not_blocked(viewer, Post.account_id))
    return (await db.scalar(q)) is not None


async def require_visible(db: AsyncSession, viewer: Account | None, post: Post | None, what: str = "post") -> Post:
    """The post if the viewer may see it; NotFound otherwise (never revealing that it exists)."""
    if post is None or not await can_view(db, viewer, post):
        raise NotFound(f"{what} not found")
    return post
