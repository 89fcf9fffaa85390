"""What the app holds for AI Studio (`app.state.studio`): the knowledge base, the limits, the
direct-message answerer, and a profile for each creator AI the agent loop runs."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hearth.settings import Settings
from hearth.storage.models import CreatorAI
from hearth.studio.direct import DirectMessages
from hearth.studio.limits import StudioLimits
from hearth.studio.persona import CreatorProfile

log = logging.getLogger("hearth.studio")


class Studio:
    def __init__(self, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], runtimes: Any,
                 knowledge: Any):
        self.settings = settings
        self.sessionmaker = sessionmaker
        self.runtimes = runtimes
        self.knowledge = knowledge  # hearth.studio.knowledge.knowledge_base.KnowledgeBase
        self.limits = StudioLimits(settings)
        self.direct = DirectMessages(self)
        self._sync: asyncio.Task | None = None

    def encoder(self) -> Any:
        """Sentence embeddings for the topic guard, when the knowledge base has an embedder."""
        embedder = getattr(self.knowledge, "embedder", None)
        return embedder.encode if embedder is not None else None

    def profile(self, ai: CreatorAI) -> CreatorProfile:
        return CreatorProfile(ai, self.knowledge, self.limits, self.encoder())

    async def start(self) -> None:
        await self.direct.start()
        self._sync = asyncio.create_task(self._sync_all())

    async def _sync_all(self) -> None:
        try:
            await self.knowledge.sync_all()
        except Exception:  # a missing model or a busy database must not stop the app
            log.exception("could not sync the AIs' knowledge at start")

    async def stop(self) -> None:
        await self.direct.stop()
        if self._sync is not None:
            self._sync.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sync

    def status(self) -> dict[str, Any]:
        return {"knowledge": self.knowledge.status() if self.knowledge is not None else None}
