"""Recent public posts liked by the viewer's co-likers (item-to-item collaborative filtering)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from hearth.serving.candidates import MAX_SOURCE_ACCOUNTS, SIMILAR, PostFacts, _facts, _liked_by
from hearth.serving.sources.base import SourceRequest


class CoLiked:
    name = "co_liked"

    async def fetch(self, db: AsyncSession, request: SourceRequest) -> list[PostFacts]:
        if not request.co_likers:
            return []
        out: dict[int, PostFacts] = {}
        for row in await db.execute(_liked_by(request.ctx, request.co_likers[:MAX_SOURCE_ACCOUNTS])):
            facts = out.get(row[0]) or out.setdefault(row[0], _facts(row, SIMILAR))
            facts.co_likes += 1
        return list(out.values())
