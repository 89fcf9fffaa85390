"""Writes the assistant proposes: stored as pending, decided only by their person. Executing an
approved proposal is the assistant's job (it calls the ordinary services as that person);
this file keeps the records and their one-way status: pending -> approved | rejected | failed."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from hearth.services.errors import Conflict, NotFound
from hearth.services.ids import parse_id
from hearth.storage.models import Account, AssistantProposal, utcnow

STATUSES = ("pending", "approved", "rejected", "failed")


async def create(db: AsyncSession, viewer: Account, conversation_id: int, tool_call_id: str, tool: str,
                 arguments: dict[str, Any], summary: str, provenance: dict[str, Any],
                 commit: bool = True) -> AssistantProposal:
    p = AssistantProposal(account_id=viewer.id, conversation_id=conversation_id, tool_call_id=tool_call_id,
                          tool=tool, arguments=dict(arguments), summary=summary, provenance=dict(provenance))
    db.add(p)
    if commit:
        await db.commit()
    else:
        await db.flush()
    return p


async def get(db: AsyncSession, viewer: Account, proposal_id: int | str) -> AssistantProposal:
    key = parse_id(proposal_id)
    p = await db.get(AssistantProposal, key) if key is not None else None
    if p is None or p.account_id != viewer.id:
        raise NotFound(f"proposal {proposal_id} not found")
    return p


async def list_for(db: AsyncSession, viewer: Account, conversation_id: int | None = None,
                   status: str | None = None, limit: int = 100) -> list[AssistantProposal]:
    q = select(AssistantProposal).where(AssistantProposal.account_id == viewer.id)
    if conversation_id is not None:
        q = q.where(AssistantProposal.conversation_id == conversation_id)
    if status is not None:
        q = q.where(AssistantProposal.status == status)
    return list(await db.scalars(q.order_by(AssistantProposal.id.desc()).limit(limit)))


async def claim(db: AsyncSession, viewer: Account, proposal_id: int | str, to: str) -> AssistantProposal:
    """Move a pending proposal to `to` atomically: a double click or two tabs decide it once."""
    p = await get(db, viewer, proposal_id)
    result = await db.execute(update(AssistantProposal).where(
        AssistantProposal.id == p.id, AssistantProposal.status == "pending").values(status=to, decided_at=utcnow()))
    await db.commit()
    if not result.rowcount:
        await db.refresh(p)
        raise Conflict(f"proposal {p.id} was already {p.status}")
    await db.refresh(p)
    return p


async def finish(db: AsyncSession, viewer: Account, proposal: AssistantProposal, status: str,
                 result: dict[str, Any], arguments: dict[str, Any] | None = None) -> AssistantProposal:
    if status not in STATUSES:
        raise ValueError(status)
    values: dict[str, Any] = {"status": status, "result": dict(result)}
    if arguments is not None:
        values["arguments"] = dict(arguments)
    await db.execute(update(AssistantProposal).where(AssistantProposal.id == proposal.id,
                                                     AssistantProposal.account_id == viewer.id).values(**values))
    await db.commit()
    await db.refresh(proposal)
    return proposal
