"""Posts the model proposed (nearest to the viewer's state in the snapshot), kept if public and
in the window."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hearth.serving.candidates import _FACT_COLUMNS, SIMILAR, PostFacts, _discoverable, _facts, _window
from hearth.serving.sources.base import SourceRequest
from hearth.storage.models import Post


class ModelNearest:
    name = "model_nearest"

    async def fetch(self, db: AsyncSession, request: SourceRequest) -> list[PostFacts]:
        scores = request.model_posts
        if not scores:
            return []
        q = select(*_FACT_COLUMNS).where(Post.id.in_(list(scores)), _window(request.ctx), _discoverable())
        out = []
        for row in await db.execute(q):
            facts = _facts(row, SIMILAR)
            facts.model_similarity = scores[row[0]]
            out.append(facts)
        return out
