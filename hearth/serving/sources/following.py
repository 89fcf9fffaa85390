"""Followed accounts' posts: recent ones, each account's newest few of any age, and the
originals they shared."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import Select, Subquery, select
from sqlalchemy.ext.asyncio import AsyncSession

from hearth.serving.candidates import (
    _FACT_COLUMNS,
    BACKLOG_PER_ACCOUNT,
    FOLLOWING,
    MAX_BACKLOG_DEPTH,
    Original,
    PostFacts,
    ViewerContext,
    _facts,
    _followed_rows,
)
from hearth.serving.sources.base import SourceRequest
from hearth.storage.models import Post


class FollowingPosts:
    """Followed accounts' recent posts, plus each one's newest BACKLOG_PER_ACCOUNT posts of any
    age (a quiet account's last posts are days old: outside the window, they would never show),
    and the originals they reblogged ("shared by"). Replies only when they answer the viewer, the
    author or someone the viewer follows (as Mastodon's home). What was served of an author in
    this feed session reaches that much deeper, so later pages bring older posts instead of ending."""

    name = FOLLOWING

    async def fetch(self, db: AsyncSession, request: SourceRequest) -> list[PostFacts]:
        ctx = request.ctx
        if not ctx.recent_following:
            return []
        served = request.served_by_author
        depth = {a: min(BACKLOG_PER_ACCOUNT + served.get(a, 0), MAX_BACKLOG_DEPTH) for a in ctx.recent_following}
        newest = _followed_rows(ctx, depth)
        return self._facts(await db.execute(self._query(ctx, newest)), ctx)

    async def by_ids(self, db: AsyncSession, ctx: ViewerContext, post_ids: list[int]) -> list[PostFacts]:
        """These posts (new ones, fanned out on write) as this source would find them, under the
        same rules, if their authors are followed."""
        if not post_ids or not ctx.following:
            return []
        q = self._query(ctx).where(Post.id.in_(post_ids), Post.account_id.in_(ctx.following))
        return self._facts(await db.execute(q), ctx)

    @staticmethod
    def _query(ctx: ViewerContext, newest: Subquery | None = None) -> Select:
        q = select(*_FACT_COLUMNS, Post.reblog_of_id, Original.id, Original.account_id, Original.created_at,
                   Original.favourites_count, Original.replies_count, Original.reblogs_count,
                   Original.in_reply_to_id, Original.visibility, Post.in_reply_to_account_id)
        if newest is not None:  # joined first, as it drives the plan (one seek per followed account)
            q = q.join(newest, newest.c.row_id == Post.id)
        return (q.outerjoin(Original, Original.id == Post.reblog_of_id)
                .where(Post.created_at <= ctx.now, (Post.visibility + "").in_(("public", "unlisted", "private"))))

    @staticmethod
    def _facts(rows: Iterable[Sequence], ctx: ViewerContext) -> list[PostFacts]:
        out: dict[int, PostFacts] = {}
        for row in rows:
            replied_to = row[16]
            if replied_to is not None and replied_to not in (ctx.viewer_id, row[1]) and replied_to not in ctx.following:
                continue
            if row[7] is None:
                facts = _facts(row, FOLLOWING)
            else:  # a reblog: the candidate is the original, shared by someone the viewer follows
                if row[9] is None or row[15] not in ("public", "unlisted"):
                    continue
                facts = _facts(row[8:15], FOLLOWING)
                facts.shared_by = [row[1]]
            if facts.id in out:
                out[facts.id].merge(facts)
            else:
                out[facts.id] = facts
        return list(out.values())
