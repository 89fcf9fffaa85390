"""The assistant's daily token budget per person (UTC days), kept in the database so it holds
across restarts; the instance default is a setting, a per-person override lives in prefs."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from hearth.storage.models import Account, AssistantPrefs, AssistantUsage


def today() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d")


async def tokens_today(db: AsyncSession, viewer: Account) -> int:
    return await db.scalar(select(AssistantUsage.tokens).where(AssistantUsage.account_id == viewer.id,
                                                               AssistantUsage.day == today())) or 0


async def daily_limit(db: AsyncSession, viewer: Account, default: int) -> int:
    """0 means unlimited."""
    prefs = await db.get(AssistantPrefs, viewer.id)
    return prefs.tokens_per_day if prefs is not None and prefs.tokens_per_day is not None else default


async def add_usage(db: AsyncSession, viewer: Account, tokens: int, messages: int = 0) -> None:
    day, account_id = today(), viewer.id

    async def add_to_row() -> int:
        result = await db.execute(update(AssistantUsage).where(AssistantUsage.account_id == account_id,
                                                               AssistantUsage.day == day).values(
            tokens=AssistantUsage.tokens + tokens, messages=AssistantUsage.messages + messages))
        return result.rowcount or 0

    if not await add_to_row():
        db.add(AssistantUsage(account_id=account_id, day=day, tokens=tokens, messages=messages))
        try:
            await db.commit()
            return
        except IntegrityError:  # another turn of this person made today's row first: add to it
            await db.rollback()
            await add_to_row()
    await db.commit()


async def set_override(db: AsyncSession, account: Account, tokens_per_day: int | None = None,
                       messages_per_window: str | None = None, reset: bool = False) -> AssistantPrefs:
    """Admins: a person's own limits. None keeps the current value; reset goes back to the defaults."""
    prefs = await db.get(AssistantPrefs, account.id)
    if prefs is None:
        prefs = AssistantPrefs(account_id=account.id, memory_enabled=True)
        db.add(prefs)
    if reset:
        prefs.tokens_per_day, prefs.messages_per_window = None, None
    if tokens_per_day is not None:
        prefs.tokens_per_day = tokens_per_day
    if messages_per_window is not None:
        prefs.messages_per_window = messages_per_window
    await db.commit()
    return prefs
