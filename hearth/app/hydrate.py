"""What the recommendation layer returns (ids, scores, reasons) made into what pages and
clients show: the posts and accounts loaded in one query each, entries whose post or account
is gone since ranking dropped; and what was served recorded as impressions."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from hearth.services import accounts as account_service
from hearth.services import posts as post_service
from hearth.services import status_data
from hearth.services.events import EventBuffer
from hearth.services.status_data import PostData
from hearth.serving.service import FeedPage, PersonSuggestion
from hearth.storage.models import Account, Post


@dataclass
class ShownPost:
    post: Post | PostData  # Post: loaded with posts.POST_LOAD (author; for a reblog, the original and its author)
    score: float
    reason: str
    source: str


@dataclass
class ShownPerson:
    account: Account
    score: float
    reason: str
    source: str
    mutuals: list[Account] = field(default_factory=list)


async def feed_entries(db: AsyncSession, page: FeedPage) -> list[ShownPost]:
    """The page's posts as ORM objects (for the web pages' templates)."""
    return _shown(page, await post_service.load_many(db, [e.post_id for e in page.entries]))


async def feed_data(db: AsyncSession, page: FeedPage) -> list[ShownPost]:
    """The page's posts as `PostData` (for the APIs' renderer: no ORM objects on the hot path)."""
    return _shown(page, await status_data.load(db, [e.post_id for e in page.entries]))


def _shown(page: FeedPage, posts: dict[int, Post] | dict[int, PostData]) -> list[ShownPost]:
    return [ShownPost(posts[e.post_id], e.score, e.reason, e.source) for e in page.entries if e.post_id in posts]


async def people(db: AsyncSession, found: list[PersonSuggestion]) -> list[ShownPerson]:
    accounts = await account_service.load_many(db, {s.account_id for s in found} |
                                               {m for s in found for m in s.mutual_ids})
    return [ShownPerson(accounts[s.account_id], s.score, s.reason, s.source,
                        [accounts[m] for m in s.mutual_ids if m in accounts])
            for s in found if s.account_id in accounts]


def record_impressions(events: EventBuffer, viewer_id: int, shown: list[ShownPost], surface: str) -> None:
    """Each served entry as an `impression` (context {"surface", "source", "served": true})."""
    for e in shown:
        events.add(viewer_id, "impression", "item", e.post.id,
                   context={"surface": surface, "source": e.source, "served": True})
