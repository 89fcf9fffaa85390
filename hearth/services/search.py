"""Search over accounts, posts and hashtags (case-insensitive substring match; exact
username matches first)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from hearth.services.errors import Invalid
from hearth.services.posts import POST_LOAD
from hearth.services.visibility import not_blocked, visible_to
from hearth.storage.models import Account, Follow, Post, PostTag

SEARCH_TYPES = ("accounts", "statuses", "hashtags")


@dataclass
class Results:
    accounts: list[Account] = field(default_factory=list)
    statuses: list[Post] = field(default_factory=list)
    hashtags: list[tuple[str, int]] = field(default_factory=list)  # (name, posts)


def _like(q: str) -> str:
    return "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


MAX_OFFSET = 2**31 - 1


async def search_accounts(db: AsyncSession, viewer: Account | None, q: str, limit: int = 20, offset: int = 0,
                          following: bool = False) -> list[Account]:
    name = q.strip().lstrip("@").split("@", 1)[0].lower()
    if not name:
        return []
    pattern = _like(name)
    query = select(Account).where(or_(Account.username_key.ilike(pattern, escape="\\"),
                                      Account.display_name.ilike(pattern, escape="\\")),
                                  not_blocked(viewer, Account.id))
    if following and viewer is not None:
        query = query.where(Account.id.in_(select(Follow.target_account_id).where(Follow.account_id == viewer.id)))
    exact = case((Account.username_key == name, 0), else_=1)
    query = query.order_by(exact, Account.followers_count.desc(), Account.id).offset(offset).limit(limit)
    return list(await db.scalars(query))


async def search_statuses(db: AsyncSession, viewer: Account | None, q: str, limit: int = 20,
                          offset: int = 0, account_id: int | None = None) -> list[Post]:
    text = q.strip()
    if not text:
        return []
    query = select(Post).where(Post.reblog_of_id.is_(None), Post.text.ilike(_like(text), escape="\\"),
                               visible_to(viewer), not_blocked(viewer, Post.account_id))
    if account_id is not None:
        query = query.where(Post.account_id == account_id)
    query = query.order_by(Post.id.desc()).offset(offset).limit(limit).options(*POST_LOAD)
    return list(await db.scalars(query))


async def search_hashtags(db: AsyncSession, q: str, limit: int = 20, offset: int = 0) -> list[tuple[str, int]]:
    name = q.strip().lstrip("#").lower()
    if not name:
        return []
    query = (select(PostTag.name, func.count(PostTag.post_id)).where(PostTag.name.like(name + "%"))
             .group_by(PostTag.name).order_by(func.count(PostTag.post_id).desc(), PostTag.name)
             .offset(offset).limit(limit))
    return [(n, int(c)) for n, c in await db.execute(query)]


async def search(db: AsyncSession, viewer: Account | None, q: str, type_: str | None = None, limit: int = 20,
                 offset: int = 0, following: bool = False, account_id: int | None = None) -> Results:
    if type_ not in (None, "", *SEARCH_TYPES):
        raise Invalid(f"type must be one of {', '.join(SEARCH_TYPES)}")
    if not 1 <= limit <= 40:
        raise Invalid("limit must be between 1 and 40")
    if offset < 0:
        raise Invalid("offset must not be negative")
    if offset > MAX_OFFSET:  # past every row there is (and past what the database's OFFSET takes)
        return Results()
    out = Results()
    if type_ in (None, "", "accounts"):
        out.accounts = await search_accounts(db, viewer, q, limit, offset, following)
    if type_ in (None, "", "statuses"):
        out.statuses = await search_statuses(db, viewer, q, limit, offset, account_id)
    if type_ in (None, "", "hashtags"):
        out.hashtags = await search_hashtags(db, q, limit, offset)
    return out
