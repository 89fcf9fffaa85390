"""`hearth demo` meets newcomers with a few creators' AIs: for the seeded artists who posted
most, an AI of each (it answers from the artist's own posts and bio, and with excerpts of them
before any model is connected). Running it again adds nothing."""

from __future__ import annotations

import asyncio
import re
from collections import Counter

from sqlalchemy import select

from hearth.services.errors import Conflict
from hearth.services.studio import ais
from hearth.settings import Settings
from hearth.storage.db import make_engine, make_sessionmaker
from hearth.storage.models import Account, CreatorAI, Post

TAG_RE = re.compile(r"#(\w+)")


async def make_demo_ais(settings: Settings, how_many: int = 3) -> list[str]:
    """Handles of the AIs made (none when the database already has AIs)."""
    engine = make_engine(settings.database_url)
    made: list[str] = []
    try:
        async with make_sessionmaker(engine)() as db:
            if await db.scalar(select(CreatorAI.id).limit(1)) is not None:
                return []
            artists = list(await db.scalars(
                select(Account).where(Account.password_hash.is_(None), Account.is_ai.is_(False),
                                      Account.statuses_count > 0, ~Account.username.startswith("listener_"))
                .order_by(Account.statuses_count.desc(), Account.id).limit(how_many)))
            for artist in artists:
                texts = list(await db.scalars(select(Post.text).where(Post.account_id == artist.id).limit(500)))
                tags = [t for t, _ in Counter(t.lower() for x in texts for t in TAG_RE.findall(x)).most_common(3)]
                name = artist.display_name or artist.username
                questions = [f"What's new from {name}?"] + [f"What do you post about #{t}?" for t in tags[:2]]
                try:
                    ai = await ais.create(
                        db, artist, name, (artist.username[:26] + "_ai"), of_creator=True,
                        tagline=f"An AI of {name}, answering from their posts on Hearth",
                        greeting=f"Hi! I'm an AI of {name}. Ask me about what they've been posting.",
                        suggested_questions=questions, avoid_topics=["politics", "religion"],
                        personality=f"Warm and brief. Speaks about {name}'s music and posts"
                                    + (f" ({', '.join('#' + t for t in tags)})" if tags else "") + ".")
                except Conflict:
                    continue
                made.append(ai.account.username)
    finally:
        await engine.dispose()
    return made


def seed_demo_ais(settings: Settings, how_many: int = 3) -> list[str]:
    return asyncio.run(make_demo_ais(settings, how_many))
