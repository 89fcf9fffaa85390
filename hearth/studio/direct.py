"""Direct messages to creators' AIs, answered by the AI itself from any Mastodon client.

A background task looks for new direct posts that mention an AI account. Each is claimed once
(a row keyed by the message's id: at most one answer per message, even with several workers),
then answered when the AI has auto-reply on, the fan may talk to it, the limits allow, and the
thread has not been taken over: once the creator has replied in a thread (as themselves or by
hand as the AI), the AI stays silent there until the creator hands it back."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hearth.llm.types import ChatMessage, LLMError
from hearth.services import posts as post_service
from hearth.services.errors import RateLimited, ServiceError
from hearth.services.studio import ais, direct
from hearth.storage.models import Account, AIDirectReply, AIDirectThread, CreatorAI, Mention, Post, utcnow
from hearth.studio.respond import answer_once

log = logging.getLogger("hearth.studio")
LABEL = "(AI-generated; may be wrong)"


async def thread_posts(db: AsyncSession, post: Post, limit: int = 30) -> list[Post]:
    """The chain of replies up to `post`, oldest first."""
    chain = [post]
    while chain[-1].in_reply_to_id is not None and len(chain) < limit:
        parent = await post_service.load_post(db, chain[-1].in_reply_to_id)
        if parent is None:
            break
        chain.append(parent)
    return list(reversed(chain))


class DirectMessages:
    def __init__(self, studio: Any):
        self.studio = studio
        self.task: asyncio.Task | None = None
        self.last_id = 0

    async def start(self) -> None:
        async with self.studio.sessionmaker() as db:
            self.last_id = await direct.last_handled_id(db)
        self.task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task

    async def _loop(self) -> None:
        while True:
            try:
                await self.poll_once()
            except Exception:  # the database may be briefly unavailable: try again next time
                log.exception("answering direct messages failed")
            await asyncio.sleep(self.studio.settings.studio_dm_poll_seconds)

    async def poll_once(self) -> int:
        """Handle every new direct message to an AI; returns how many were answered."""
        async with self.studio.sessionmaker() as db:
            rows = (await db.execute(
                select(Post.id, CreatorAI.id).join(Mention, Mention.post_id == Post.id)
                .join(CreatorAI, CreatorAI.account_id == Mention.account_id)
                .where(Post.visibility == "direct", Post.id > self.last_id, Post.account_id != CreatorAI.account_id)
                .order_by(Post.id).limit(200))).all()
        answered = 0
        for post_id, ai_id in rows:
            self.last_id = max(self.last_id, post_id)
            try:
                answered += await self.handle(post_id, ai_id)
            except Exception:
                log.exception("could not answer direct message %s", post_id)
        return answered

    async def handle(self, post_id: int, ai_id: int) -> int:
        async with self.studio.sessionmaker() as db:
            if not await direct.claim(db, post_id, ai_id):
                return 0  # another worker (or an earlier run) has it
            ai = await ais.get(db, ai_id)
            post = await post_service.load_post(db, post_id)
            fan = await db.get(Account, post.account_id) if post else None
            if post is None or fan is None:
                await direct.finish(db, post_id, "skipped", "the message is gone")
                return 0
            chain = await thread_posts(db, post)
            thread = await direct.thread(db, ai, chain[0].id, fan.id)
            why = await self._skip_reason(db, ai, fan, chain, thread)
            if why:
                await direct.finish(db, post_id, "skipped", why)
                return 0
            history = [ChatMessage("assistant" if p.account_id == ai.account_id else "user", _strip(p.text, ai))
                       for p in chain if p.account_id in (ai.account_id, fan.id)]
            first = not any(p.account_id == ai.account_id for p in chain)
            viewer_id, fan_name = fan.id, fan.username
        try:
            profile = self.studio.profile(ai)
            async with self.studio.sessionmaker() as db:
                viewer = await db.get(Account, viewer_id)
            answer = await answer_once(profile, self.studio.runtimes, self.studio.sessionmaker, self.studio.settings,
                                       viewer, history)
        except LLMError as e:
            async with self.studio.sessionmaker() as db:
                await direct.finish(db, post_id, "failed", str(e)[:300])
            return 0
        text = f"@{fan_name} {(LABEL + ' ') if first else ''}{answer.text.strip()}"
        limit = self.studio.settings.max_post_chars
        if len(text) > limit:
            text = text[:limit - 1].rstrip() + "…"
        async with self.studio.sessionmaker() as db:
            me = await db.get(Account, ai.account_id)
            try:
                reply = await post_service.create_post(db, me, text, in_reply_to_id=post_id, visibility="direct",
                                                       max_chars=limit, domain=self.studio.settings.instance_domain)
            except ServiceError as e:
                await db.rollback()
                await direct.finish(db, post_id, "failed", e.message[:300])
                return 0
            await direct.finish(db, post_id, "replied", "", reply.id)
        return 1

    async def _skip_reason(self, db: AsyncSession, ai: CreatorAI, fan: Account, chain: list[Post],
                           thread: AIDirectThread) -> str:
        if not ai.auto_reply:
            return "auto-reply is off"
        if fan.id == ai.owner_id:
            return "the creator's own message"
        if thread.mode == "creator":
            return "the creator has taken this conversation over"
        answered = set(await db.scalars(select(AIDirectReply.reply_post_id).where(  # the AI's own replies here
            AIDirectReply.ai_id == ai.id, AIDirectReply.reply_post_id.in_([p.id for p in chain]))))
        if any((p.account_id == ai.owner_id or (p.account_id == ai.account_id and p.id not in answered))
               and p.created_at > thread.updated_at for p in chain):
            # The creator replied here since the AI last spoke (or was handed the thread): it stays silent.
            await direct.set_mode(db, thread, "creator")
            return "the creator has replied in this conversation"
        if not await ais.may_talk(db, fan, ai):
            return "the fan is outside the AI's audience"
        try:
            self.studio.limits.hit(ai, fan)
        except RateLimited as e:
            return e.message[:300]
        thread.updated_at = utcnow()
        await db.commit()
        return ""


def _strip(text: str, ai: CreatorAI) -> str:
    """A direct message without the leading @mentions and the AI label."""
    words = text.split()
    while words and words[0].startswith("@"):
        words.pop(0)
    out = " ".join(words)
    return out[len(LABEL):].strip() if out.startswith(LABEL) else out

