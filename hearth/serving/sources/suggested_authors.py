"""Recent public posts of accounts suggested to the viewer (by the model, or friends of friends)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hearth.serving.candidates import (
    _FACT_COLUMNS,
    SUGGESTED,
    PostFacts,
    _discoverable,
    _facts,
    _per_account,
    _window,
)
from hearth.serving.sources.base import SourceRequest
from hearth.storage.models import Post


class SuggestedAuthors:
    name = SUGGESTED

    def __init__(self, per_author: int = 3, max_authors: int = 30):
        self.per_author, self.max_authors = per_author, max_authors

    async def fetch(self, db: AsyncSession, request: SourceRequest) -> list[PostFacts]:
        ctx, authors = request.ctx, request.suggested_authors
        ids = [a for a in authors if a not in ctx.following and a != ctx.viewer_id][:self.max_authors]
        if not ids:
            return []
        newest = _per_account("posts", "id", ids, ctx.watermark, per=self.per_author)
        q = select(*_FACT_COLUMNS).join(newest, newest.c.row_id == Post.id).where(_window(ctx, by_id=False),
                                                                                  _discoverable())
        out = []
        for row in await db.execute(q):
            facts = _facts(row, SUGGESTED)
            facts.suggested_author_score = authors[row[1]]
            out.append(facts)
        return out
