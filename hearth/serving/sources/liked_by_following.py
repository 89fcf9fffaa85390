"""Recent public posts that people the viewer follows liked."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from hearth.serving.candidates import SIMILAR, PostFacts, _facts, _liked_by
from hearth.serving.sources.base import SourceRequest


class LikedByFollowing:
    name = "liked_by_following"

    async def fetch(self, db: AsyncSession, request: SourceRequest) -> list[PostFacts]:
        ctx = request.ctx
        if not ctx.recent_following:
            return []
        out: dict[int, PostFacts] = {}
        for row in await db.execute(_liked_by(ctx, ctx.recent_following)):
            facts = out.get(row[0]) or out.setdefault(row[0], _facts(row, SIMILAR))
            facts.liked_by_following.append(int(row[7]))
        return list(out.values())
