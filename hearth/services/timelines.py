"""Chronological timelines: home ("Following"), public, hashtag, and an account's posts.
The ranked "For you" feed lives in `hearth.serving`."""

from __future__ import annotations

from sqlalchemy import and_, exists, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from hearth.services.accounts import get_account
from hearth.services.pages import Page
from hearth.services.posts import POST_LOAD
from hearth.services.visibility import not_blocked, not_muted, visible_to
from hearth.storage.models import Account, Follow, Post, PostTag

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


SEEK_AUTHORS_MAX = 400  # following more than this: one scan of posts by id instead of a seek per author


async def home(db: AsyncSession, viewer: Account, page: Page) -> list[Post]:
    """Posts and reblogs of followed accounts and one's own, newest first. Replies show when
    they answer oneself or someone the viewer follows (as Mastodon does).

    Fast path: each author's newest posts come from one seek on posts(account_id, id) (a scan by
    id walks everyone else's posts between two of the viewer's); the rules then run on the
    newest of those, two pages' worth at a time, until the page is full. Exact: only ids above
    the oldest one fetched from an author who may have more are used, and when the rules leave
    the page short there, the page is taken by the full query."""
    followed = select(Follow.target_account_id).where(Follow.account_id == viewer.id)
    reply_ok = or_(Post.in_reply_to_account_id.is_(None), Post.in_reply_to_account_id == viewer.id,
                   Post.in_reply_to_account_id == Post.account_id, Post.in_reply_to_account_id.in_(followed))
    rules = (visible_to(viewer), reply_ok, not_muted(viewer, Post.account_id), _reblog_allowed(viewer))
    full = select(Post).where(or_(Post.account_id == viewer.id, Post.account_id.in_(followed)), *rules)
    if page.min_id is not None:
        return await _run(db, full, page)
    authors = [viewer.id, *await db.scalars(followed.limit(SEEK_AUTHORS_MAX))]
    if len(authors) > SEEK_AUTHORS_MAX:
        return await _run(db, full, page)
    per_author = 2 * page.limit
    newest = await newest_ids(db, authors, per_author, below=page.max_id, above=page.since_id)
    # Below the oldest id fetched from an author who may have more, that author's posts are
    # missing: only the candidates above it are certain to be all there is.
    floor = max((min(ids) for ids in newest.values() if len(ids) == per_author), default=0)
    merged = sorted((i for ids in newest.values() for i in ids if i >= floor), reverse=True)
    posts: list[Post] = []
    for start in range(0, len(merged), per_author):  # newest first, a few at a time: the rules see ~2 pages
        chunk = merged[start:start + per_author]
        posts += await db.scalars(select(Post).where(Post.id.in_(chunk), *rules).options(*POST_LOAD)
                                  .order_by(Post.id.desc()))
        if len(posts) >= page.limit:
            return posts[:page.limit]
    if floor:
        return await _run(db, full, page)
    return posts


async def newest_ids(db: AsyncSession, authors: list[int], per_author: int, below: int | None = None,
                     above: int | None = None) -> dict[int, list[int]]:
    """Each author's newest post ids (at most `per_author`, between the bounds), one index seek each."""
    bounds = (" AND id < :below" if below is not None else "") + (" AND id > :above" if above is not None else "")
    parts = [f"SELECT * FROM (SELECT account_id, id FROM posts WHERE account_id = :a{i}{bounds} "
             f"ORDER BY id DESC LIMIT {int(per_author)}) AS n{i}" for i in range(len(authors))]
    params = {f"a{i}": a for i, a in enumerate(authors)}
    if below is not None:
        params["below"] = below
    if above is not None:
        params["above"] = above
    out: dict[int, list[int]] = {a: [] for a in authors}
    for author, post_id in await db.execute(text(" UNION ALL ".join(parts)), params):
        out[author].append(post_id)
    return out


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
