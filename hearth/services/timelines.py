"""Chronological timelines: home ("Following"), public, hashtag, and an account's posts.
The ranked "For you" feed lives in `hearth.serving`."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy import Select, and_, bindparam, exists, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from hearth.services import status_data
from hearth.services.accounts import get_account
from hearth.services.pages import Page
from hearth.services.posts import POST_LOAD
from hearth.services.status_data import PostData
from hearth.services.visibility import not_blocked, not_muted, visible_to
from hearth.storage.db import core_execute
from hearth.storage.models import Account, Follow, Id, Post, PostTag

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


SEEK_AUTHORS_MAX = 400  # following more than this: one scan of posts by id instead of a sort of their posts
_FOLLOWED = (select(Follow.target_account_id).where(Follow.account_id == bindparam("viewer_id"))
             .limit(bindparam("n")))


class _ViewerParam:
    """Stands in for the viewer when the home statements are built once: its id is a bound
    parameter (building the rules' clauses took ~0.5 ms of every home request)."""

    id = bindparam("viewer_id", type_=Id)


def _home_rules(viewer: Account | _ViewerParam):  # noqa: ANN202 - SQL clauses
    followed = select(Follow.target_account_id).where(Follow.account_id == viewer.id)
    reply_ok = or_(Post.in_reply_to_account_id.is_(None), Post.in_reply_to_account_id == viewer.id,
                   Post.in_reply_to_account_id == Post.account_id, Post.in_reply_to_account_id.in_(followed))
    return followed, (visible_to(viewer), reply_ok, not_muted(viewer, Post.account_id), _reblog_allowed(viewer))


@functools.cache
def _home_by_ids():  # noqa: ANN202 - a Select
    """The home rules on given post ids (`ids`, for `viewer_id`), newest first, the first `n` that
    pass, loaded for rendering."""
    _, rules = _home_rules(_ViewerParam())
    return (select(Post).where(Post.id.in_(bindparam("ids", expanding=True)), *rules).options(*POST_LOAD)
            .order_by(Post.id.desc()).limit(bindparam("n")))


@functools.cache
def _home_data_by_ids():  # noqa: ANN202 - a Select
    """`_home_by_ids` read as `PostData` rows (posts joined to their authors, no ORM objects)."""
    _, rules = _home_rules(_ViewerParam())
    return (status_data.select_data().where(Post.id.in_(bindparam("ids", expanding=True)), *rules)
            .order_by(Post.id.desc()).limit(bindparam("n")))


@dataclass(frozen=True)
class _Shape:
    """What a home query loads: ORM posts (the web pages) or `PostData` (the API's hot path)."""

    by_ids: Callable[[], Select]  # the rules on `ids` for `viewer_id`, newest first
    full: Callable[[], Select]  # the same columns, unfiltered
    fetch: Callable[..., Awaitable[list]]  # (db, statement, params) -> rows


async def _posts(db: AsyncSession, q, params: dict | None = None) -> list:  # noqa: ANN001 - a Select
    return list(await db.scalars(q, params))


async def _data(db: AsyncSession, q, params: dict | None = None) -> list:  # noqa: ANN001 - a Select
    return await status_data.from_rows(db, (await core_execute(db, q, params)).all())


_ORM = _Shape(_home_by_ids, lambda: select(Post).options(*POST_LOAD), _posts)
_DATA = _Shape(_home_data_by_ids, status_data.select_data, _data)


async def home(db: AsyncSession, viewer: Account, page: Page) -> list[Post]:
    """Posts and reblogs of followed accounts and one's own, newest first. Replies show when
    they answer oneself or someone the viewer follows (as Mastodon does).

    Fast path: the newest ids of the viewer's authors come from their posts(account_id, id)
    index entries, sorted by the database and cut at two pages (a scan by id would walk
    everyone else's posts between two of the viewer's); the rules then run on those ids, and
    on the next two pages' worth below them until the page is full. Exact, since each batch
    is every author post between two ids."""
    return await _home(db, viewer, page, _ORM)


async def home_data(db: AsyncSession, viewer: Account, page: Page) -> list[PostData]:
    """`home` as `PostData` (for rendering without ORM objects)."""
    return await _home(db, viewer, page, _DATA)


async def _home(db: AsyncSession, viewer: Account, page: Page, shape: _Shape) -> list:
    if page.min_id is None:
        followed = await core_execute(db, _FOLLOWED, {"viewer_id": viewer.id, "n": SEEK_AUTHORS_MAX})
        authors = [viewer.id, *followed.scalars()]
        if len(authors) <= SEEK_AUTHORS_MAX:
            return await _home_seek(db, viewer.id, authors, page, shape)
    followed, rules = _home_rules(viewer)
    full = shape.full().where(or_(Post.account_id == viewer.id, Post.account_id.in_(followed)), *rules)
    return page.finish(await shape.fetch(db, page.apply(full, Post.id)))


async def _home_seek(db: AsyncSession, viewer_id: int, authors: list[int], page: Page, shape: _Shape) -> list:
    batch = 2 * page.limit
    below, posts = page.max_id, []
    while True:
        ids = await newest_ids(db, authors, batch, below=below, above=page.since_id)
        if ids:
            # The batch is two pages of ids; only the rows the page still needs are read.
            params = {"viewer_id": viewer_id, "ids": ids, "n": page.limit - len(posts)}
            posts += await shape.fetch(db, shape.by_ids(), params)
        if len(posts) >= page.limit or len(ids) < batch:
            return posts[:page.limit]
        below = ids[-1]


async def newest_ids(db: AsyncSession, authors: list[int], limit: int, below: int | None = None,
                     above: int | None = None) -> list[int]:
    """The newest post ids by any of `authors` between the bounds: one index range per author,
    merged by the database."""
    if db.bind is not None and db.bind.dialect.name == "postgresql":
        return await _newest_ids_lateral(db, authors, limit, below, above)
    q = _newest_ids(below is not None, above is not None)
    params = {"authors": authors, "n": limit, "below": below, "above": above}
    return list((await core_execute(db, q, params)).scalars())


@functools.cache
def _newest_ids(below: bool, above: bool):  # noqa: ANN202 - a Select
    q = select(Post.id).where(Post.account_id.in_(bindparam("authors", expanding=True)))
    if below:
        q = q.where(Post.id < bindparam("below"))
    if above:
        q = q.where(Post.id > bindparam("above"))
    return q.order_by(Post.id.desc()).limit(bindparam("n"))


async def _newest_ids_lateral(db: AsyncSession, authors: list[int], limit: int, below: int | None,
                              above: int | None) -> list[int]:
    """`newest_ids` on PostgreSQL: its planner walks the primary key backwards through everyone's
    posts and filters (39,000 rows for a viewer following 20 accounts of 10,000); one seek per
    author on posts(account_id, id) with LATERAL, merged, reads at most `limit` per author."""
    bounds = ((" AND posts.id < :below" if below is not None else "")
              + (" AND posts.id > :above" if above is not None else ""))
    sql = text("SELECT p.id FROM unnest(CAST(:authors AS BIGINT[])) AS a(account_id) CROSS JOIN LATERAL "
               f"(SELECT posts.id FROM posts WHERE posts.account_id = a.account_id{bounds} "
               "ORDER BY posts.id DESC LIMIT :n) AS p ORDER BY p.id DESC LIMIT :n")
    return list(await db.scalars(sql, {"authors": authors, "n": limit, "below": below, "above": above}))


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
