"""Conversations with the assistant: create, list, rename, delete, and append messages. Every
function takes the acting account and only ever touches that account's conversations."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from hearth.services.errors import Invalid, NotFound
from hearth.services.ids import parse_id
from hearth.storage.models import Account, AssistantConversation, AssistantMessage, utcnow

MAX_TITLE = 200
MAX_USER_MESSAGE = 8000
ROLES = ("user", "assistant", "tool", "note")


def _id(value: int | str) -> int:
    key = parse_id(value)
    if key is None:
        raise NotFound(f"conversation {value!r} not found")
    return key


def _title(text: str) -> str:
    title = " ".join((text or "").split())
    if len(title) > MAX_TITLE:
        raise Invalid(f"a title is at most {MAX_TITLE} characters")
    return title


async def create(db: AsyncSession, viewer: Account, title: str = "", ai_id: int | None = None
                 ) -> AssistantConversation:
    """A conversation with the assistant, or with the creator AI `ai_id`."""
    conv = AssistantConversation(account_id=viewer.id, title=_title(title), title_by_user=bool(title.strip()),
                                 ai_id=ai_id)
    db.add(conv)
    await db.commit()
    return conv


async def get(db: AsyncSession, viewer: Account, conversation_id: int | str) -> AssistantConversation:
    """The viewer's own conversation; anyone else's is 'not found', never 'forbidden' (no probing)."""
    conv = await db.get(AssistantConversation, _id(conversation_id))
    if conv is None or conv.account_id != viewer.id:
        raise NotFound(f"conversation {conversation_id} not found")
    return conv


async def list_for(db: AsyncSession, viewer: Account, limit: int = 50, before: int | None = None,
                   ai_id: int | None = None) -> list[AssistantConversation]:
    """Most recently active first: with the assistant (ai_id None) or with one creator AI."""
    q = select(AssistantConversation).where(AssistantConversation.account_id == viewer.id,
                                            AssistantConversation.ai_id.is_(None) if ai_id is None
                                            else AssistantConversation.ai_id == ai_id)
    if before is not None:
        q = q.where(AssistantConversation.id < before)
    q = q.order_by(AssistantConversation.updated_at.desc(), AssistantConversation.id.desc()).limit(limit)
    return list(await db.scalars(q))


async def rename(db: AsyncSession, viewer: Account, conversation_id: int | str, title: str) -> AssistantConversation:
    conv = await get(db, viewer, conversation_id)
    new = _title(title)
    if not new:
        raise Invalid("a title needs some text")
    conv.title, conv.title_by_user = new, True
    await db.commit()
    return conv


async def set_auto_title(db: AsyncSession, viewer: Account, conversation_id: int | str, title: str) -> bool:
    """A generated title, unless the person has named the conversation themselves."""
    conv = await get(db, viewer, conversation_id)
    if conv.title_by_user:
        return False
    conv.title = _title(title[:MAX_TITLE])
    await db.commit()
    return True


async def delete_conversation(db: AsyncSession, viewer: Account, conversation_id: int | str) -> None:
    conv = await get(db, viewer, conversation_id)
    await db.execute(delete(AssistantConversation).where(AssistantConversation.id == conv.id))
    await db.commit()


async def messages(db: AsyncSession, viewer: Account, conversation_id: int | str) -> list[AssistantMessage]:
    conv = await get(db, viewer, conversation_id)
    q = select(AssistantMessage).where(AssistantMessage.conversation_id == conv.id).order_by(AssistantMessage.id)
    return list(await db.scalars(q))


def check_user_text(text: str) -> str:
    text = (text or "").strip()
    if not text:
        raise Invalid("a message needs some text")
    if len(text) > MAX_USER_MESSAGE:
        raise Invalid(f"a message is at most {MAX_USER_MESSAGE} characters (this one has {len(text)})")
    return text


async def append(db: AsyncSession, viewer: Account, conversation_id: int | str, role: str, content: str = "", *,
                 tool_calls: Sequence[dict[str, Any]] = (), tool_call_id: str | None = None,
                 tool_name: str | None = None, status: str = "complete", meta: dict[str, Any] | None = None,
                 commit: bool = True) -> AssistantMessage:
    """Add one message (and touch the conversation). With commit=False the caller commits a
    group of messages at once, e.g. an assistant's tool calls together with their results."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    conv = await get(db, viewer, conversation_id)
    msg = AssistantMessage(conversation_id=conv.id, role=role, content=content or "", tool_calls=list(tool_calls),
                           tool_call_id=tool_call_id, tool_name=tool_name, status=status, meta=dict(meta or {}))
    db.add(msg)
    conv.updated_at = utcnow()
    if commit:
        await db.commit()
    else:
        await db.flush()
    return msg


async def truncate_after(db: AsyncSession, viewer: Account, conversation_id: int | str, message_id: int) -> int:
    """Delete every message after `message_id` (regenerate: the last answer goes, the question stays)."""
    conv = await get(db, viewer, conversation_id)
    result = await db.execute(delete(AssistantMessage).where(AssistantMessage.conversation_id == conv.id,
                                                             AssistantMessage.id > message_id))
    await db.commit()
    return result.rowcount or 0


async def delete_message(db: AsyncSession, viewer: Account, conversation_id: int | str, message_id: int) -> None:
    conv = await get(db, viewer, conversation_id)
    await db.execute(delete(AssistantMessage).where(AssistantMessage.conversation_id == conv.id,
                                                    AssistantMessage.id == message_id))
    await db.commit()


async def update_message(db: AsyncSession, viewer: Account, message: AssistantMessage, **values: Any) -> None:
    await get(db, viewer, message.conversation_id)
    await db.execute(update(AssistantMessage).where(AssistantMessage.id == message.id).values(**values))
    await db.commit()


async def count(db: AsyncSession, viewer: Account) -> int:
    return await db.scalar(select(func.count()).select_from(AssistantConversation).where(
        AssistantConversation.account_id == viewer.id)) or 0
