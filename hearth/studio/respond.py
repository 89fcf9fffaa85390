"""One answer from a creator's AI (or the assistant's read tools) to a given history, without a
stored conversation: what direct messages and the OpenAI-compatible API use. Same profile,
guards, read-only tools and quoted data as the streamed chat; tool rounds are resolved first,
then the final answer streams as text pieces. A topic hit stops the answer and ends it with the
polite refusal instead."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hearth.assistant import datamark
from hearth.assistant.profile import AgentProfile
from hearth.assistant.tools import ToolContext, ToolResult
from hearth.llm.types import ChatMessage, Completion, LLMUnavailable, TextDelta
from hearth.services.errors import ServiceError
from hearth.settings import Settings
from hearth.storage.models import Account

MAX_ROUNDS = 3


@dataclass
class Answer:
    """What was said, and how: citations, a refusal outside the model, excerpts without a model."""

    text: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    tokens: int = 0


async def _run_tool(profile: AgentProfile, ctx: ToolContext, sessionmaker: async_sessionmaker[AsyncSession],
                    viewer_id: int, name: str, arguments: dict[str, Any]) -> ToolResult:
    tool = profile.tools.get(name)
    if tool is None or tool.kind != "read" or tool.run is None:
        return ToolResult({"error": f"there is no tool named {name!r}"}, ok=False)
    try:
        args = tool.parse(arguments)
        async with sessionmaker() as db:
            viewer = await db.get(Account, viewer_id)
            return await tool.run(ctx, db, viewer, args)
    except (ValueError, ServiceError) as e:
        return ToolResult({"error": e.message if isinstance(e, ServiceError) else str(e)}, ok=False)


async def answer_stream(profile: AgentProfile, runtimes: Any, sessionmaker: async_sessionmaker[AsyncSession],
                        settings: Settings, viewer: Account, history: list[ChatMessage],
                        answer: Answer, max_tokens: int | None = None) -> AsyncIterator[str]:
    """Yield the answer's text pieces; `answer` is filled in as it goes (meta at the end)."""
    question = next((m.content or "" for m in reversed(history) if m.role == "user"), "")
    screened = await profile.screen_question(question)
    if screened is not None:
        answer.text, answer.meta = screened.answer, {"declined": screened.reason}
        yield screened.answer
        return
    try:
        runtime, model = profile.runtime(runtimes)
        async with sessionmaker() as db:
            system = await profile.system_prompt(db, viewer, settings, question)
        messages = [ChatMessage("system", system), *history]
        specs = [t.spec() for t in profile.tools.values()] or None
        ctx = ToolContext(sessionmaker, viewer.id, settings)
        for round_ in range(MAX_ROUNDS + 1):
            offer = specs if round_ < MAX_ROUNDS else None  # the last round must answer in words
            completion: Completion | None = None
            stream = runtime.stream_chat(messages, offer, max_tokens=max_tokens or settings.assistant_max_answer_tokens,
                                         model=model)
            try:
                async for ev in stream:
                    if isinstance(ev, TextDelta):  # streamed through the guard as it comes
                        hit = profile.screen_answer(answer.text + ev.text)
                        if hit is not None:
                            answer.meta = {"declined": hit.reason}
                            answer.text += "\n\n" + hit.answer
                            yield "\n\n" + hit.answer
                            return
                        answer.text += ev.text
                        yield ev.text
                    elif isinstance(ev, Completion):
                        completion = ev
            finally:
                with contextlib.suppress(Exception):
                    await stream.aclose()
            if completion is None:
                return
            if completion.usage:
                answer.tokens += completion.usage.prompt_tokens + completion.usage.completion_tokens
            if completion.tool_calls and offer:
                messages.append(ChatMessage("assistant", completion.content or None, completion.tool_calls))
                for call in completion.tool_calls:
                    result = await _run_tool(profile, ctx, sessionmaker, viewer.id, call.name, call.arguments)
                    messages.append(ChatMessage("tool", datamark.quote(call.name, result.data),
                                                tool_call_id=call.id))
                continue
            answer.meta = profile.answer_meta(answer.text)
            return
    except LLMUnavailable as e:
        fallback = await profile.without_model(question, str(e))
        if fallback is None:
            raise
        answer.text, answer.meta = fallback
        yield fallback[0]


async def answer_once(profile: AgentProfile, runtimes: Any, sessionmaker: async_sessionmaker[AsyncSession],
                      settings: Settings, viewer: Account, history: list[ChatMessage],
                      max_tokens: int | None = None) -> Answer:
    answer = Answer()
    async for _ in answer_stream(profile, runtimes, sessionmaker, settings, viewer, history, answer, max_tokens):
        pass
    return answer
