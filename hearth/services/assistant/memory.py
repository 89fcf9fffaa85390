"""The assistant's memory of its person: facts they can see, edit and delete, each with where
it came from; and the switch that turns memory off (nothing is read or kept while it is off)."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from hearth.services.errors import Invalid, NotFound
from hearth.services.ids import parse_id
from hearth.storage.models import Account, AssistantMemory, AssistantPrefs, utcnow

MAX_FACT = 500
MAX_FACTS = 200


def _text(text: str) -> str:
    text = " ".join((text or "").split())
    if not text:
        raise Invalid("a memory needs some text")
    if len(text) > MAX_FACT:
        raise Invalid(f"a memory is at most {MAX_FACT} characters")
    return text


async def prefs(db: AsyncSession, viewer: Account) -> AssistantPrefs:
    found = await db.get(AssistantPrefs, viewer.id)
    return found if found is not None else AssistantPrefs(account_id=viewer.id, memory_enabled=True)


async def set_enabled(db: AsyncSession, viewer: Account, enabled: bool) -> AssistantPrefs:
    found = await db.get(AssistantPrefs, viewer.id)
    if found is None:
        found = AssistantPrefs(account_id=viewer.id)
        db.add(found)
    found.memory_enabled = bool(enabled)
    await db.commit()
    return found


async def list_facts(db: AsyncSession, viewer: Account) -> list[AssistantMemory]:
    q = select(AssistantMemory).where(AssistantMemory.account_id == viewer.id).order_by(AssistantMemory.id)
    return list(await db.scalars(q))


async def get_fact(db: AsyncSession, viewer: Account, memory_id: int | str) -> AssistantMemory:
    key = parse_id(memory_id)
    found = await db.get(AssistantMemory, key) if key is not None else None
    if found is None or found.account_id != viewer.id:
        raise NotFound(f"memory {memory_id} not found")
    return found


async def add(db: AsyncSession, viewer: Account, text: str, source: str,
              conversation_id: int | None = None) -> AssistantMemory:
    if not (await prefs(db, viewer)).memory_enabled:
        raise Invalid("memory is switched off; switch it on to keep facts")
    facts = await list_facts(db, viewer)
    if len(facts) >= MAX_FACTS:
        raise Invalid(f"memory is full ({MAX_FACTS} facts); delete some first")
    text = _text(text)
    for f in facts:  # the same fact twice is kept once
        if f.text.casefold() == text.casefold():
            return f
    fact = AssistantMemory(account_id=viewer.id, text=text, source=source[:300], conversation_id=conversation_id)
    db.add(fact)
    await db.commit()
    return fact


async def edit(db: AsyncSession, viewer: Account, memory_id: int | str, text: str) -> AssistantMemory:
    fact = await get_fact(db, viewer, memory_id)
    fact.text, fact.updated_at = _text(text), utcnow()
    if not fact.source.endswith("(edited by you)"):
        fact.source = (fact.source + " (edited by you)").strip()[:300]
    await db.commit()
    return fact


async def remove(db: AsyncSession, viewer: Account, memory_id: int | str) -> None:
    fact = await get_fact(db, viewer, memory_id)
    await db.execute(delete(AssistantMemory).where(AssistantMemory.id == fact.id))
    await db.commit()


async def clear(db: AsyncSession, viewer: Account) -> int:
    result = await db.execute(delete(AssistantMemory).where(AssistantMemory.account_id == viewer.id))
    await db.commit()
    return result.rowcount or 0
