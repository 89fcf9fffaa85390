"""The window's most engaged-with public posts: the same for everyone, so kept for 30 seconds."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hearth.serving.candidates import _FACT_COLUMNS, POPULAR, PostFacts, TimedCache, _discoverable, _facts, _window
from hearth.serving.sources.base import SourceRequest
from hearth.storage.models import Post


class PopularRecent:
    name = POPULAR

    def __init__(self, limit: int = 100, ttl: float = 30.0):
        self.limit = limit
        self.cache = TimedCache(ttl=ttl)

    async def fetch(self, db: AsyncSession, request: SourceRequest) -> list[PostFacts]:
        ctx = request.ctx
        key = (int(ctx.window_start.timestamp() // 60), int(ctx.now.timestamp() // 60))
        found = self.cache.get(key)
        if found is None:
            engagement = Post.favourites_count + 2 * Post.replies_count + 2 * Post.reblogs_count
            q = (select(*_FACT_COLUMNS).where(_window(ctx), _discoverable(), engagement > 0)
                 .order_by(engagement.desc(), Post.id.desc()).limit(self.limit))
            found = [_facts(row, POPULAR) for row in await db.execute(q)]
            self.cache.put(key, found)
        return [f.copy() for f in found]  # type: ignore[union-attr] - callers merge into what they get
