"""Every AI as an OpenAI-compatible model: `GET /v1/models` lists the creator AIs the caller may
talk to (by handle) and the assistant (`hearth-assistant`); `POST /v1/chat/completions` answers as
the chosen one, streamed (SSE chunks, then `data: [DONE]`) or not. The API key is a Hearth access
token (scope `read`); the audience rules and limits are those of the web and the Hearth API.

Nothing is stored and nothing is written: the assistant answers here with its read tools only
(writes need an approval, which only Hearth's own UI, API and `hearth chat` can give), and a
creator AI with its read-only tools, as always. Messages the client labels `system` are passed on
as the client's note inside the conversation, never as the AI's own instructions."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from hearth.app import deps
from hearth.assistant.profile import AgentProfile
from hearth.assistant.tools import TOOLS
from hearth.llm.types import ChatMessage, LLMError, LLMUnavailable
from hearth.services.errors import Invalid, ServiceError
from hearth.services.studio import ais
from hearth.storage.models import Account
from hearth.studio.respond import Answer, answer_stream

router = APIRouter(prefix="/v1", tags=["openai-compatible"])
ASSISTANT_MODEL = "hearth-assistant"
MAX_MESSAGES = 100
MAX_CHARS = 32_000


class Part(BaseModel):
    type: str
    text: str | None = None


class Message(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[Part] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(p.text or "" for p in self.content if p.type == "text")
        return self.content or ""


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")  # OpenAI clients send many options; unknown ones are ignored
    model: str = Field(min_length=1, max_length=64)
    messages: list[Message] = Field(min_length=1, max_length=MAX_MESSAGES)
    stream: bool = False
    max_tokens: int | None = Field(None, ge=1, le=8192)
    max_completion_tokens: int | None = Field(None, ge=1, le=8192)


async def api_key_account(request: Request, db: AsyncSession = Depends(deps.get_db)) -> Account:
    return deps.token_account(await deps.optional_token(request, db), ("read",))


Caller = Annotated[Account, Depends(api_key_account)]
Db = Annotated[AsyncSession, Depends(deps.get_db)]


def openai_error(status: int, message: str, kind: str = "invalid_request_error") -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": kind, "param": None, "code": status}},
                        status_code=status)


@router.get("/models")
async def models(db: Db, viewer: Caller) -> dict:
    """The assistant and every creator AI you may talk to."""
    data = [{"id": ASSISTANT_MODEL, "object": "model", "created": 0, "owned_by": "hearth",
             "name": "Hearth AI (your assistant, read-only here)"}]
    for ai in await ais.visible_to(db, viewer):
        data.append({"id": ai.account.username, "object": "model", "created": int(ai.created_at.timestamp()),
                     "owned_by": ai.owner.username, "name": ais.display_name(ai) + " (AI)",
                     "description": ai.tagline})
    return {"object": "list", "data": data}


def _history(body: ChatRequest) -> list[ChatMessage]:
    out: list[ChatMessage] = []
    total = 0
    for m in body.messages:
        text = m.text()
        total += len(text)
        if m.role in ("system", "developer"):
            out.append(ChatMessage("user", f"[A note from the app I am using to talk to you] {text}"))
        elif m.role == "assistant":
            out.append(ChatMessage("assistant", text))
        elif m.role == "user":
            out.append(ChatMessage("user", text))
    if total > MAX_CHARS:
        raise Invalid(f"the conversation is {total:,} characters; at most {MAX_CHARS:,} here")
    if not out or out[-1].role != "user":
        raise Invalid("the last message must be the user's")
    return out


@router.post("/chat/completions", response_model=None)
async def chat_completions(body: ChatRequest, request: Request, db: Db, viewer: Caller) -> Response:
    """Answer as the AI named by `model` (a creator AI's handle, or hearth-assistant)."""
    state = request.app.state
    try:
        history = _history(body)
        if body.model == ASSISTANT_MODEL:
            profile = AgentProfile({n: t for n, t in TOOLS.items() if t.kind == "read"})
        else:
            ai = await ais.require_talk(db, viewer, await ais.by_handle(db, body.model))
            profile = state.studio.profile(ai)
            await profile.check_limits(db, viewer)
        if not profile.answers_without_model:
            profile.runtime(state.runtimes)
        await state.assistant.limits.check(db, viewer)
    except ServiceError as e:
        return openai_error(e.status, f"model {body.model!r}: {e.message}" if e.status == 404 else e.message,
                            "rate_limit_exceeded" if e.status == 429 else "invalid_request_error")
    except LLMError as e:
        return openai_error(503 if isinstance(e, LLMUnavailable) else 502, str(e), "server_error")
    answer = Answer()
    pieces = answer_stream(profile, state.runtimes, state.sessionmaker, state.settings, viewer, history, answer,
                           body.max_completion_tokens or body.max_tokens)
    completion_id = "chatcmpl-" + secrets.token_hex(12)
    created = int(time.time())
    if not body.stream:
        try:
            async for _ in pieces:
                pass
        except LLMError as e:
            return openai_error(503 if isinstance(e, LLMUnavailable) else 502, str(e), "server_error")
        return JSONResponse({
            "id": completion_id, "object": "chat.completion", "created": created, "model": body.model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": answer.text},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": answer.tokens},
            "hearth": answer.meta})

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        return "data: " + json.dumps({"id": completion_id, "object": "chat.completion.chunk", "created": created,
                                      "model": body.model, "choices": [{"index": 0, "delta": delta,
                                                                        "finish_reason": finish}], **extra}) + "\n\n"

    async def sse() -> AsyncIterator[str]:
        yield chunk({"role": "assistant", "content": ""})
        try:
            async for piece in pieces:
                yield chunk({"content": piece})
        except LLMError as e:
            yield "data: " + json.dumps({"error": {"message": str(e), "type": "server_error"}}) + "\n\n"
            return
        yield chunk({}, "stop", hearth=answer.meta)
        yield "data: [DONE]\n\n"

    return StreamingResponse(sse(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
