"""The serving facade the app holds (`app.state.serving`): the ranked "For you" feed and
people you may know. Interim version: chronological feed and most-followed accounts;
the ranking pipeline replaces the bodies, not the interface."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hearth.app.models import Account, Post
from hearth.app.services import graph, timelines
from hearth.app.services.pages import Page
from hearth.settings import Settings


@dataclass
class FeedEntry:
    post: Post  # loaded with posts.POST_LOAD (author; for a reblog, the original and its author)
    score: float
    reason: str  # shown to the user: "Because you liked posts by @ann", "Followed by @bob and 2 others"
    source: str  # candidate source: following | similar | popular | suggested_author


@dataclass
class FeedPage:
    entries: list[FeedEntry]
    cursor: str | None  # opaque; pass it back for the next page; None at the end
    ranker: str  # "heuristic" or "model:<snapshot version>"


@dataclass
class PersonSuggestion:
    account: Account
    score: float
    reason: str  # "Followed by @ann and 3 others you follow", "Popular on Hearth"
    source: str  # model | friends_of_friends | popular
    mutuals: list[Account] = field(default_factory=list)  # social proof: people you follow who follow them


class ServingState:
    def __init__(self, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]):
        self.settings = settings
        self.sessionmaker = sessionmaker

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    def status(self) -> dict[str, Any]:
        return {"ranker": "heuristic", "snapshot": None}

    async def feed(self, db: AsyncSession, viewer: Account, limit: int = 20, cursor: str | None = None) -> FeedPage:
        page = Page(max_id=int(cursor) if cursor else None, limit=limit)
        rows = await timelines.home(db, viewer, page)
        entries = [FeedEntry(p, 0.0, f"From @{p.account.username}, whom you follow", "following") for p in rows]
        return FeedPage(entries, str(rows[-1].id) if len(rows) == limit else None, "heuristic")

    async def people(self, db: AsyncSession, viewer: Account, limit: int = 10) -> list[PersonSuggestion]:
        exclude = await graph.following_ids(db, viewer.id) | await graph.blocked_or_muted_ids(db, viewer.id)
        exclude.add(viewer.id)
        q = (select(Account).where(Account.id.not_in(exclude), Account.discoverable.is_(True))
             .order_by(Account.followers_count.desc(), Account.id).limit(limit))
        return [PersonSuggestion(a, float(a.followers_count), "Popular on Hearth", "popular")
                for a in await db.scalars(q)]
