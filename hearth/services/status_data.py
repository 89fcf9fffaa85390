"""What a rendered status needs of a post and its author, read as plain tuples.

Hot lists (home, the ranked feed) read these columns with Core instead of loading ORM objects:
about a third of the cost for 20 posts. A `PostData` has the attribute names of `Post` that
rendering reads (`account` and `reblog` included), so a renderer takes either; and since it is
a tuple of its values, two of them are equal exactly when the rendered status would be: the
renderer's cache compares them instead of following every write that could change one."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import Select, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from hearth.storage.db import core_execute
from hearth.storage.models import Account, Post


class AuthorData(NamedTuple):
    id: int
    username: str
    username_key: str
    display_name: str
    note: str
    locked: bool
    bot: bool
    discoverable: bool
    is_ai: bool
    followers_count: int
    following_count: int
    statuses_count: int
    last_status_at: datetime | None
    created_at: datetime


class PostData(NamedTuple):
    id: int
    account_id: int
    text: str
    spoiler_text: str
    sensitive: bool
    language: str | None
    visibility: str
    in_reply_to_id: int | None
    in_reply_to_account_id: int | None
    reblog_of_id: int | None
    replies_count: int
    favourites_count: int
    reblogs_count: int
    created_at: datetime
    edited_at: datetime | None
    account: AuthorData
    reblog: PostData | None = None  # a reblog's original


_POST_FIELDS = PostData._fields[:-2]
_N = len(_POST_FIELDS)


def select_data() -> Select:
    """Posts joined to their authors, in `PostData`'s column order (add WHERE and ORDER BY)."""
    return (select(*(Post.__table__.c[f] for f in _POST_FIELDS), *(Account.__table__.c[f] for f in AuthorData._fields))
            .join_from(Post, Account, Account.id == Post.account_id))


_BY_IDS = select_data().where(Post.id.in_(bindparam("ids", expanding=True)))


def _of_row(row: Sequence, reblog: PostData | None = None) -> PostData:
    return PostData(*row[:_N], AuthorData(*row[_N:]), reblog)


async def from_rows(db: AsyncSession, rows: Sequence[Sequence]) -> list[PostData]:
    """Rows of `select_data()` as `PostData`, in their order; reblogs get their originals (one
    more query, only when there are reblogs). A reblog whose original is gone is left out."""
    originals_of = {r[_POST_FIELDS.index("reblog_of_id")] for r in rows} - {None}
    originals = await load(db, originals_of) if originals_of else {}
    out = []
    for row in rows:
        data = _of_row(row)
        if data.reblog_of_id is None:
            out.append(data)
        elif data.reblog_of_id in originals:
            out.append(data._replace(reblog=originals[data.reblog_of_id]))
    return out


async def load(db: AsyncSession, post_ids: Sequence[int] | set[int]) -> dict[int, PostData]:
    """Posts by id (a reblog with its original); ids that do not exist are left out."""
    if not post_ids:
        return {}
    rows = (await core_execute(db, _BY_IDS, {"ids": list(post_ids)})).all()
    return {p.id: p for p in await from_rows(db, rows)}


def of_post(post: Post) -> PostData:
    """A loaded ORM post (with `posts.POST_LOAD`) as `PostData`."""
    a = post.account
    author = AuthorData(*(getattr(a, f) for f in AuthorData._fields))
    reblog = of_post(post.reblog) if post.reblog_of_id is not None and post.reblog is not None else None
    return PostData(*(getattr(post, f) for f in _POST_FIELDS), author, reblog)
