"""Direct-message threads between fans and creators' AIs: claiming an incoming message (once),
recording what happened to it, who answers a thread (the AI or its creator), and the creator
replying by hand as their AI."""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from hearth.services import posts as post_service
from hearth.services.errors import Invalid, NotFound
from hearth.services.ids import parse_id
from hearth.services.studio.ais import owned
from hearth.storage.models import Account, AIDirectReply, AIDirectThread, CreatorAI, Post, utcnow

MODES = ("ai", "creator")


async def last_handled_id(db: AsyncSession) -> int:
    return int(await db.scalar(select(func.max(AIDirectReply.post_id))) or 0)


async def claim(db: AsyncSession, post_id: int, ai_id: int) -> bool:
    """True for the one caller that gets to handle this message."""
    db.add(AIDirectReply(post_id=post_id, ai_id=ai_id, status="pending"))
    try:
        await db.commit()
    except IntegrityError:
        await db.rollback()
        return False
    return True


async def finish(db: AsyncSession, post_id: int, status: str, reason: str = "", reply_post_id: int | None = None
                 ) -> None:
    await db.execute(update(AIDirectReply).where(AIDirectReply.post_id == post_id).values(
        status=status, reason=reason, reply_post_id=reply_post_id))
    await db.commit()


async def thread(db: AsyncSession, ai: CreatorAI, root_post_id: int, fan_id: int) -> AIDirectThread:
    found = await db.scalar(select(AIDirectThread).where(AIDirectThread.ai_id == ai.id,
                                                         AIDirectThread.root_post_id == root_post_id))
    if found is None:
        found = AIDirectThread(ai_id=ai.id, root_post_id=root_post_id, fan_id=fan_id, mode="ai")
        db.add(found)
        try:
            await db.commit()
        except IntegrityError:
            await db.rollback()
            found = await db.scalar(select(AIDirectThread).where(AIDirectThread.ai_id == ai.id,
                                                                 AIDirectThread.root_post_id == root_post_id))
    return found


async def set_mode(db: AsyncSession, t: AIDirectThread, mode: str) -> AIDirectThread:
    if mode not in MODES:
        raise Invalid(f"mode must be one of {', '.join(MODES)}")
    t.mode, t.updated_at = mode, utcnow()
    await db.commit()
    return t


async def threads(db: AsyncSession, owner: Account, ai_id: int | str) -> list[tuple[AIDirectThread, Account, int]]:
    """The AI's conversations, newest first: (thread, fan, messages in it handled by the AI)."""
    ai = await owned(db, owner, ai_id)
    rows = await db.execute(select(AIDirectThread, Account).join(Account, Account.id == AIDirectThread.fan_id)
                            .where(AIDirectThread.ai_id == ai.id).order_by(AIDirectThread.updated_at.desc()))
    return [(t, fan, 0) for t, fan in rows]


async def owned_thread(db: AsyncSession, owner: Account, ai_id: int | str, thread_id: int | str) -> AIDirectThread:
    ai = await owned(db, owner, ai_id)
    key = parse_id(thread_id)
    t = await db.get(AIDirectThread, key) if key is not None else None
    if t is None or t.ai_id != ai.id:
        raise NotFound(f"conversation {thread_id} not found")
    return t


async def reply_as_ai(db: AsyncSession, owner: Account, ai_id: int | str, thread_id: int | str, text: str,
                      max_chars: int = 500, domain: str = "localhost") -> Post:
    """The creator answers by hand, as their AI; the AI then stays silent in this thread."""
    ai = await owned(db, owner, ai_id)
    t = await owned_thread(db, owner, ai_id, thread_id)
    fan = await db.get(Account, t.fan_id)
    last = await db.scalar(select(Post.id).where(Post.visibility == "direct", Post.account_id == t.fan_id,
                                                 Post.id >= t.root_post_id).order_by(Post.id.desc()).limit(1))
    me = await db.get(Account, ai.account_id)
    body = text.strip()
    if not body.startswith(f"@{fan.username}"):
        body = f"@{fan.username} {body}"
    t.mode, t.updated_at = "creator", utcnow()
    post = await post_service.create_post(db, me, body, in_reply_to_id=last or t.root_post_id, visibility="direct",
                                          max_chars=max_chars, domain=domain)
    return post
