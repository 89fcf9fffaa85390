"""The assistant's API (`/api/hearth/v1/assistant`): conversations, messages with a streamed
reply (Server-Sent Events), proposed writes and their approval, and memory. Same callers as the
rest of the Hearth API: a bearer token (`read` to look, `write` to act) or the web session with
its CSRF header.

A streamed reply is `text/event-stream` with these events (data is JSON): `start`, `trimmed`,
`delta` {text}, `message`, `tool_call` {id, name, arguments}, `tool_result` {id, name, ok, card},
`proposal` {the proposal}, `notice` {text}, `retract` {text, reason} (a creator AI's answer touched a
topic its creator ruled out: replace what was shown with `text`), `title` {title}, `done` {message_id,
stopped, tokens}, `error` {message, status}. A creator AI's final `message` also carries `citations`
(the posts and notes it cited, as links), and `excerpts: true` when no model was reachable.
With no model connected (or the runtime unreachable before it said anything) the assistant's
answer is 503 with a message, and the question is not kept; a creator AI answers with excerpts.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession
from sse_starlette.sse import EventSourceResponse

from hearth.app import deps
from hearth.app.api.hearth import caller
from hearth.assistant.agent import AgentEvent, Assistant, Turn, message_json, proposal_json
from hearth.assistant.profile import AgentProfile
from hearth.services.assistant import conversations, memory, proposals
from hearth.services.studio import ais
from hearth.storage.models import Account, AssistantConversation, AssistantMemory

router = APIRouter(prefix="/api/hearth/v1/assistant", tags=["assistant"])
Reader = Annotated[Account, Depends(caller("read"))]
Writer = Annotated[Account, Depends(caller("write", write=True))]
Db = Annotated[AsyncSession, Depends(deps.get_db)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NewConversation(_Body):
    title: str = Field("", max_length=200)


class Rename(_Body):
    title: str = Field(min_length=1, max_length=200)


class NewMessage(_Body):
    content: str = Field(min_length=1, max_length=conversations.MAX_USER_MESSAGE)
    stream: bool = True


class Regenerate(_Body):
    stream: bool = True


class Decision(_Body):
    arguments: dict[str, Any] | None = Field(None, description="edited arguments; omit to approve as proposed")


class FactText(_Body):
    text: str = Field(min_length=1, max_length=memory.MAX_FACT)


class MemorySwitch(_Body):
    enabled: bool


def _assistant(request: Request) -> Assistant:
    return request.app.state.assistant


def conversation_json(c: AssistantConversation) -> dict[str, Any]:
    return {"id": str(c.id), "title": c.title or "New conversation", "titled": bool(c.title),
            "ai_id": str(c.ai_id) if c.ai_id else None,
            "created_at": c.created_at.isoformat(), "updated_at": c.updated_at.isoformat()}


def fact_json(f: AssistantMemory) -> dict[str, Any]:
    return {"id": str(f.id), "text": f.text, "source": f.source,
            "conversation_id": str(f.conversation_id) if f.conversation_id else None,
            "created_at": f.created_at.isoformat(), "updated_at": f.updated_at.isoformat()}


@router.get("/status")
async def status(request: Request, viewer: Reader) -> dict:
    """Whether a model is connected (and how to connect one when it is not)."""
    return _assistant(request).status()


# ---- conversations ---------------------------------------------------------------------------
@router.get("/conversations")
async def list_conversations(db: Db, viewer: Reader, limit: Annotated[int, Query(ge=1, le=200)] = 50) -> list[dict]:
    return [conversation_json(c) for c in await conversations.list_for(db, viewer, limit)]


@router.post("/conversations", status_code=201)
async def create_conversation(body: NewConversation, db: Db, viewer: Writer) -> dict:
    return conversation_json(await conversations.create(db, viewer, body.title))


@router.get("/conversations/{conversation_id}")
async def get_conversation(conversation_id: str, request: Request, db: Db, viewer: Reader) -> dict:
    """The conversation with its messages and proposals (and whether a reply is streaming)."""
    conv = await conversations.get(db, viewer, conversation_id)
    msgs = await conversations.messages(db, viewer, conv.id)
    props = await proposals.list_for(db, viewer, conv.id)
    return {**conversation_json(conv), "messages": [message_json(m) for m in msgs],
            "proposals": [proposal_json(p) for p in reversed(props)],
            "streaming": conv.id in _assistant(request).turns}


@router.patch("/conversations/{conversation_id}")
async def rename_conversation(conversation_id: str, body: Rename, db: Db, viewer: Writer) -> dict:
    return conversation_json(await conversations.rename(db, viewer, conversation_id, body.title))


@router.delete("/conversations/{conversation_id}", status_code=204)
async def delete_conversation(conversation_id: str, request: Request, db: Db, viewer: Writer) -> Response:
    _assistant(request).stop(viewer, conversation_id)
    await conversations.delete_conversation(db, viewer, conversation_id)
    return Response(status_code=204)


# ---- messages --------------------------------------------------------------------------------
async def _reply(turn: Turn, stream: bool) -> Response:
    """The first event decides the status: a failure before the model said anything is an
    ordinary error response (503 unreachable, 502 runtime error); anything later streams."""
    events = turn.events()
    first = await anext(events, None)
    if first is None:
        return JSONResponse({"error": "the assistant ended without answering"}, status_code=502)
    if first.type == "error" and not first.data.get("started"):
        return JSONResponse({"error": first.data["message"]}, status_code=int(first.data.get("status", 502)))
    if not stream:
        return JSONResponse(await _collect(first, events))

    async def sse() -> AsyncIterator[dict[str, str]]:
        try:
            yield _sse(first)
            async for ev in events:
                yield _sse(ev)
        finally:
            turn.stop()  # the client went away: the turn stores what it has and ends

    return EventSourceResponse(sse(), ping=10, headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def _sse(ev: AgentEvent) -> dict[str, str]:
    return {"event": ev.type, "data": json.dumps(ev.data, ensure_ascii=False)}


async def _collect(first: AgentEvent, events: AsyncIterator[AgentEvent]) -> dict[str, Any]:
    out: dict[str, Any] = {"answer": "", "tool_calls": [], "proposals": [], "notices": [], "title": None,
                           "message_id": None, "stopped": False, "error": None}
    ev: AgentEvent | None = first
    while ev is not None:
        d = ev.data
        if ev.type == "message":
            out["answer"] = d["content"]
            for key in ("citations", "declined", "excerpts"):
                if key in d:
                    out[key] = d[key]
        elif ev.type == "tool_result":
            out["tool_calls"].append(d)
        elif ev.type == "proposal":
            out["proposals"].append(d)
        elif ev.type in ("notice", "trimmed"):
            out["notices"].append(d["text"])
        elif ev.type == "title":
            out["title"] = d["title"]
        elif ev.type == "done":
            out.update(message_id=d["message_id"], stopped=d["stopped"], tokens=d.get("tokens"))
        elif ev.type == "error":
            out["error"] = d["message"]
        ev = await anext(events, None)
    return out


async def _profile(request: Request, db: AsyncSession, viewer: Account, conversation_id: str) -> AgentProfile | None:
    """The personal assistant, or the creator AI the conversation is with (if the person may still talk to it)."""
    conv = await conversations.get(db, viewer, conversation_id)
    if conv.ai_id is None:
        return None
    ai = await ais.require_talk(db, viewer, await ais.get(db, conv.ai_id))
    return request.app.state.studio.profile(ai)


@router.post("/conversations/{conversation_id}/messages", response_model=None)
async def send_message(conversation_id: str, body: NewMessage, request: Request, db: Db,
                       viewer: Writer) -> Response:
    """Ask the assistant (or the creator AI of this conversation). Streams the reply as Server-Sent
    Events (or one JSON answer with stream=false)."""
    profile = await _profile(request, db, viewer, conversation_id)
    turn = await _assistant(request).start_turn(db, viewer, conversation_id, body.content, profile=profile)
    return await _reply(turn, body.stream)


@router.post("/conversations/{conversation_id}/regenerate", response_model=None)
async def regenerate(conversation_id: str, body: Regenerate, request: Request, db: Db, viewer: Writer) -> Response:
    """Answer the last question again (the previous answer and its pending proposals are dropped)."""
    profile = await _profile(request, db, viewer, conversation_id)
    turn = await _assistant(request).start_turn(db, viewer, conversation_id, regenerate=True, profile=profile)
    return await _reply(turn, body.stream)


@router.post("/conversations/{conversation_id}/stop")
async def stop(conversation_id: str, request: Request, db: Db, viewer: Writer) -> dict:
    """Stop a streaming reply; what was said so far is kept, marked as stopped."""
    await conversations.get(db, viewer, conversation_id)
    return {"stopped": _assistant(request).stop(viewer, conversation_id)}


# ---- proposals -------------------------------------------------------------------------------
@router.get("/proposals")
async def list_proposals(db: Db, viewer: Reader,
                         status: Literal["pending", "approved", "rejected", "failed"] | None = None) -> list[dict]:
    return [proposal_json(p) for p in await proposals.list_for(db, viewer, status=status)]


@router.get("/proposals/{proposal_id}")
async def get_proposal(proposal_id: str, db: Db, viewer: Reader) -> dict:
    return proposal_json(await proposals.get(db, viewer, proposal_id))


@router.post("/proposals/{proposal_id}/approve")
async def approve(proposal_id: str, request: Request, db: Db, viewer: Writer,
                  body: Decision | None = None) -> dict:
    """Do it: runs the proposed write as you, with your edited arguments if given."""
    request.app.state.limits.write(viewer.id, deps.client_ip(request))
    p = await _assistant(request).approve(db, viewer, proposal_id, body.arguments if body else None)
    return proposal_json(p)


@router.post("/proposals/{proposal_id}/reject")
async def reject(proposal_id: str, request: Request, db: Db, viewer: Writer) -> dict:
    return proposal_json(await _assistant(request).reject(db, viewer, proposal_id))


# ---- memory ----------------------------------------------------------------------------------
@router.get("/memory")
async def get_memory(db: Db, viewer: Reader) -> dict:
    """Everything the assistant remembers about you, with where each fact came from."""
    prefs = await memory.prefs(db, viewer)
    return {"enabled": prefs.memory_enabled, "facts": [fact_json(f) for f in await memory.list_facts(db, viewer)]}


@router.put("/memory/settings")
async def memory_settings(body: MemorySwitch, db: Db, viewer: Writer) -> dict:
    return {"enabled": (await memory.set_enabled(db, viewer, body.enabled)).memory_enabled}


@router.post("/memory", status_code=201)
async def add_fact(body: FactText, db: Db, viewer: Writer) -> dict:
    return fact_json(await memory.add(db, viewer, body.text, "Added by you"))


@router.patch("/memory/{memory_id}")
async def edit_fact(memory_id: str, body: FactText, db: Db, viewer: Writer) -> dict:
    return fact_json(await memory.edit(db, viewer, memory_id, body.text))


@router.delete("/memory/{memory_id}", status_code=204)
async def delete_fact(memory_id: str, db: Db, viewer: Writer) -> Response:
    await memory.remove(db, viewer, memory_id)
    return Response(status_code=204)


@router.delete("/memory", status_code=200)
async def clear_memory(db: Db, viewer: Writer) -> dict:
    return {"deleted": await memory.clear(db, viewer)}
