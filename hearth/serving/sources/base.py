"""What every "For you" candidate source shares: the request it answers, its one signature, and
the one exclusion rule applied to whatever any source found."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from hearth.serving.candidates import PostFacts, ViewerContext


@dataclass
class SourceRequest:
    """Everything a source may read besides the database: the viewer's context and what the
    service prepared once per request (from its per-viewer caches)."""

    ctx: ViewerContext
    served_by_author: dict[int, int] = field(default_factory=dict)  # posts of each author served this session
    co_likers: list[int] = field(default_factory=list)  # people who like what the viewer likes
    model_posts: dict[int, float] = field(default_factory=dict)  # post id -> the model's retrieval score
    suggested_authors: dict[int, float] = field(default_factory=dict)  # account id -> how strongly suggested


class PostSource(Protocol):
    """One place candidates come from. `fetch` runs bounded SQL (see candidates.py) and returns
    what it found with the social proof it came with; it never ranks."""

    name: str

    async def fetch(self, db: AsyncSession, request: SourceRequest) -> list[PostFacts]: ...


def excluded(facts: PostFacts, ctx: ViewerContext, served: set[int]) -> bool:
    """The rule for every source: never the viewer's own posts, nor posts by blocked (either way),
    muted or dismissed authors, nor what this feed session already served."""
    return facts.author == ctx.viewer_id or facts.author in ctx.excluded_authors or facts.id in served
