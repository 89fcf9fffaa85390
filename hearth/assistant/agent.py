"""The agent loop. One turn: the person's message -> the model (streamed) -> its tool calls ->
read tools run as the person, write tools become pending proposals -> results back to the model
-> ... until it answers without calling a tool (or `assistant_max_tool_rounds` is reached).

A turn runs as its own asyncio task and publishes `AgentEvent`s on a queue, so a client that
disconnects, or presses stop, ends the stream without losing what was said: the partial answer is
stored with status "stopped". Every stored message is valid to send back to a runtime: tool calls
whose arguments were not valid JSON are never stored (they are reported as a notice instead).

Safety by construction: the model's only way to change anything is a write tool, and a write tool
only records a proposal; `Assistant.approve` (called by the person through the UI, API or CLI) is
the only path that runs it. Each proposal carries its provenance: the person's request and every
piece of app content the model had read in that turn.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hearth.assistant import datamark
from hearth.assistant.limits import AssistantLimits
from hearth.assistant.profile import AgentProfile, Screened
from hearth.assistant.tools import TOOLS, Tool, ToolContext, ToolResult
from hearth.assistant.tools.base import Proposal
from hearth.llm.types import (
    ChatMessage,
    Completion,
    LLMError,
    LLMUnavailable,
    TextDelta,
    ToolCall,
    Trimmed,
)
from hearth.services.assistant import conversations, proposals, usage
from hearth.services.errors import Conflict, Invalid, NotFound, ServiceError
from hearth.settings import Settings
from hearth.storage.models import Account, AssistantMessage, AssistantProposal

log = logging.getLogger("hearth.assistant")
NOTE_PREFIX = "[Hearth note, not typed by the person] "


@dataclass
class AgentEvent:
    """`type` is the SSE event name: start, trimmed, delta, tool_call, tool_result, proposal, notice,
    message, title, done, error."""

    type: str
    data: dict[str, Any] = field(default_factory=dict)


def message_json(m: AssistantMessage) -> dict[str, Any]:
    return {"id": str(m.id), "role": m.role, "content": m.content, "tool_calls": m.tool_calls,
            "tool_call_id": m.tool_call_id, "tool_name": m.tool_name, "status": m.status,
            "card": m.meta.get("card"), "ok": m.meta.get("ok", True), "notice": m.meta.get("notice"),
            "citations": m.meta.get("citations"), "excerpts": m.meta.get("excerpts", False),
            "declined": m.meta.get("declined"), "disclosure": m.meta.get("disclosure", False),
            "created_at": m.created_at.isoformat()}


def proposal_json(p: AssistantProposal) -> dict[str, Any]:
    tool = TOOLS.get(p.tool)
    return {"id": str(p.id), "conversation_id": str(p.conversation_id), "tool_call_id": p.tool_call_id,
            "tool": p.tool, "arguments": p.arguments, "summary": p.summary, "provenance": p.provenance,
            "status": p.status, "result": p.result, "card": (p.provenance or {}).get("card"),
            "schema": tool.spec().parameters if tool else None, "created_at": p.created_at.isoformat(),
            "decided_at": p.decided_at.isoformat() if p.decided_at else None}


def to_chat(m: AssistantMessage) -> ChatMessage:
    if m.role == "assistant":
        calls = [ToolCall(c["id"], c["name"], c["arguments"]) for c in m.tool_calls]
        return ChatMessage("assistant", m.content or None if calls else m.content, calls)
    if m.role == "tool":
        return ChatMessage("tool", m.content, tool_call_id=m.tool_call_id)
    if m.role == "note":
        return ChatMessage("user", NOTE_PREFIX + m.content)
    return ChatMessage("user", m.content)


def estimate_tokens(text: str) -> int:
    return max(1, len(text) // 4)


class Turn:
    """One running turn: its task, its event queue and its stop switch."""

    def __init__(self, conversation_id: int, viewer_id: int, profile: AgentProfile):
        self.conversation_id = conversation_id
        self.viewer_id = viewer_id
        self.profile = profile
        self.queue: asyncio.Queue[AgentEvent | None] = asyncio.Queue()
        self.stop_requested = asyncio.Event()
        self.task: asyncio.Task | None = None
        self.released = False  # the conversation and the stream slot are free again

    def emit(self, type_: str, **data: Any) -> None:
        self.queue.put_nowait(AgentEvent(type_, data))

    async def events(self) -> AsyncIterator[AgentEvent]:
        while (ev := await self.queue.get()) is not None:
            yield ev

    def stop(self) -> None:
        self.stop_requested.set()


class Assistant:
    """What the app holds (`app.state.assistant`)."""

    def __init__(self, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], runtimes: Any,
                 serving: Any = None, limits: AssistantLimits | None = None):
        self.settings = settings
        self.sessionmaker = sessionmaker
        self.runtimes = runtimes  # hearth.llm.registry.Runtimes
        self.serving = serving
        self.limits = limits or AssistantLimits(settings)
        self.turns: dict[int, Turn] = {}  # conversation id -> running turn

    # ---- status ------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """Whether a model is connected, and if not, how to connect one."""
        try:
            runtime, model = self.runtimes.for_role("assistant")
        except LLMUnavailable as e:
            return {"available": False, "message": str(e)}
        return {"available": True, "runtime": runtime.name, "model": model,
                "context_window": runtime.context_window, "tools": sorted(TOOLS)}

    # ---- turns -------------------------------------------------------------------------------
    async def start_turn(self, db: AsyncSession, viewer: Account, conversation_id: int | str,
                         text: str | None = None, regenerate: bool = False,
                         profile: AgentProfile | None = None) -> Turn:
        """Check everything that can be refused (conversation, model, limits), then start the task.
        Raises LLMUnavailable when no model is configured (and the profile has no answer without
        one), ServiceError for bad input and limits. `profile`: the personal assistant by default."""
        profile = profile or AgentProfile()
        conv = await conversations.get(db, viewer, conversation_id)
        profile.check_conversation(conv)
        if regenerate:
            history = await conversations.messages(db, viewer, conv.id)
            if not any(m.role == "user" for m in history):
                raise Invalid("there is no question to answer again in this conversation")
        else:
            text = conversations.check_user_text(text or "")
        if not profile.answers_without_model:
            profile.runtime(self.runtimes)  # LLMUnavailable: nothing configured
        if conv.id in self.turns:
            raise Conflict("a reply is already streaming in this conversation; stop it first")
        await profile.check_limits(db, viewer)
        await self.limits.check(db, viewer)
        turn = Turn(conv.id, viewer.id, profile)
        self.turns[conv.id] = turn
        self.limits.opened(viewer.id)
        turn.task = asyncio.create_task(self._run(turn, text, regenerate))
        return turn

    def stop(self, viewer: Account, conversation_id: int | str) -> bool:
        try:
            turn = self.turns.get(int(conversation_id))
        except (TypeError, ValueError):
            return False
        if turn is None or turn.viewer_id != viewer.id:
            return False
        turn.stop()
        return True

    async def close(self) -> None:
        for turn in list(self.turns.values()):
            turn.stop()
        tasks = [t.task for t in self.turns.values() if t.task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=5)

    async def _run(self, turn: Turn, text: str | None, regenerate: bool) -> None:
        try:
            async with self.sessionmaker() as db:
                viewer = await db.get(Account, turn.viewer_id)
                await _Runner(self, turn, db, viewer).run(text, regenerate)
        except Exception as e:  # never let a turn die silently
            log.exception("assistant turn failed")
            turn.emit("error", message=f"the assistant failed: {e}", status=500)
        finally:
            self.release(turn)
            turn.queue.put_nowait(None)

    def release(self, turn: Turn) -> None:
        """Free the conversation and the person's stream slot (once), e.g. as soon as the answer is done."""
        if not turn.released:
            turn.released = True
            if self.turns.get(turn.conversation_id) is turn:
                del self.turns[turn.conversation_id]
            self.limits.closed(turn.viewer_id)

    # ---- proposals ---------------------------------------------------------------------------
    async def approve(self, db: AsyncSession, viewer: Account, proposal_id: int | str,
                      arguments: dict[str, Any] | None = None) -> AssistantProposal:
        """Run a pending write as the person, optionally with their edited arguments. Invalid edits
        are refused before anything changes; a proposal is decided once (a second click is a 409)."""
        p = await proposals.get(db, viewer, proposal_id)
        tool = TOOLS.get(p.tool)
        if tool is None or tool.apply is None:
            raise Invalid(f"proposal {p.id} names an unknown action {p.tool!r}")
        if p.status != "pending":
            raise Conflict(f"proposal {p.id} was already {p.status}")
        edited = arguments is not None and arguments != p.arguments
        try:
            args = tool.parse(arguments if arguments is not None else p.arguments)
        except ValueError as e:
            raise Invalid(str(e)) from None
        p = await proposals.claim(db, viewer, p.id, "approved")
        ctx = self._context(viewer, p.conversation_id)
        try:
            result = await tool.apply(ctx, db, viewer, args)
        except ServiceError as e:
            pid = p.id
            await db.rollback()  # whatever the action half-did is gone; then record the failure
            await db.refresh(viewer)
            p = await proposals.finish(db, viewer, await proposals.get(db, viewer, pid), "failed",
                                       {"error": e.message}, args.model_dump())
            await self._note(db, viewer, p, f"The person approved “{p.summary}”, but it failed: {e.message}")
            raise
        p = await proposals.finish(db, viewer, p, "approved", {"card": result.card, "data": result.data},
                                   args.model_dump())
        how = " after editing it" if edited else ""
        await self._note(db, viewer, p, f"The person approved{how} and Hearth did it: {p.summary}")
        return p

    async def reject(self, db: AsyncSession, viewer: Account, proposal_id: int | str) -> AssistantProposal:
        p = await proposals.claim(db, viewer, proposal_id, "rejected")
        await self._note(db, viewer, p, f"The person rejected: {p.summary}. It was not done.")
        return p

    async def _note(self, db: AsyncSession, viewer: Account, p: AssistantProposal, text: str) -> None:
        with contextlib.suppress(NotFound):  # the conversation may have been deleted meanwhile
            await conversations.append(db, viewer, p.conversation_id, "note", text,
                                       meta={"proposal_id": str(p.id)})

    # ---- helpers -----------------------------------------------------------------------------
    def _context(self, viewer: Account, conversation_id: int | None) -> ToolContext:
        return ToolContext(self.sessionmaker, viewer.id, self.settings, self.serving, self.summarise,
                           conversation_id)

    async def small_reply(self, instruction: str, text: str, max_tokens: int = 300) -> str:
        """One short answer from the small model (summaries, titles): no tools, no history."""
        runtime, model = self.runtimes.for_role("small")
        out = ""
        async for ev in runtime.stream_chat([ChatMessage("system", instruction), ChatMessage("user", text)],
                                            None, max_tokens=max_tokens, temperature=0.2, model=model):
            if isinstance(ev, Completion):
                out = ev.content
        return out.strip()

    async def summarise(self, instruction: str, text: str) -> str:
        return await self.small_reply(instruction + "\n\n" + datamark.RULES, datamark.quote("app", text))

    async def make_title(self, question: str) -> str:
        try:
            title = await self.small_reply("Write a title of at most six words for a conversation that starts "
                                           "with the user's message. Answer with the title only, no quotes.",
                                           question[:2000], max_tokens=24)
        except LLMError:
            title = ""
        title = " ".join(title.strip().strip('"“”\'').split())[:80]
        if not title:
            words = question.split()
            title = " ".join(words[:8]) + ("…" if len(words) > 8 else "")
        return title


class _Runner:
    """The body of one turn (kept apart from the task plumbing above)."""

    def __init__(self, assistant: Assistant, turn: Turn, db: AsyncSession, viewer: Account):
        self.a = assistant
        self.turn = turn
        self.db = db
        self.viewer = viewer
        self.conv_id = turn.conversation_id
        self.settings = assistant.settings
        self.profile = turn.profile
        self.retracted: Screened | None = None
        self.prompt: str | None = None
        # App content the model has in its context: read earlier in the conversation (from the stored
        # tool results) and during this turn. A proposal shows it; `remember` asks first when there is any.
        self.earlier_sources: list[dict[str, Any]] = []
        self.sources: list[dict[str, Any]] = []
        self.request = ""  # the person's message this turn answers
        self.tokens = 0
        self.started = False

    async def run(self, text: str | None, regenerate: bool) -> None:
        db, viewer = self.db, self.viewer
        user_msg = None
        if regenerate:
            history = await conversations.messages(db, viewer, self.conv_id)
            last_user = [m for m in history if m.role == "user"][-1]
            for p in await proposals.list_for(db, viewer, self.conv_id, "pending"):
                await proposals.finish(db, viewer, p, "rejected", {"why": "the answer was regenerated"})
            await conversations.truncate_after(db, viewer, self.conv_id, last_user.id)
            self.request = last_user.content
        else:
            user_msg = await conversations.append(db, viewer, self.conv_id, "user", text or "")
            self.request = text or ""
        try:
            screened = await self.profile.screen_question(self.request)
            if screened is not None:
                self._started(user_msg)
                last = await self._store_answer(screened.answer, "complete", {"declined": screened.reason})
                await self._finish(last, user_msg)
                return
            await self._loop(user_msg)
        except LLMUnavailable as e:
            fallback = None if self.started else await self.profile.without_model(self.request, str(e))
            if fallback is None:
                await self._fail(user_msg, str(e), 503)
            else:
                self._started(user_msg)
                last = await self._store_answer(fallback[0], "complete", fallback[1])
                await self._finish(last, user_msg)
        except LLMError as e:
            await self._fail(user_msg, str(e), 502)
        finally:
            if self.tokens:
                await usage.add_usage(db, viewer, self.tokens, messages=0 if regenerate else 1)

    def _read_so_far(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for src in (*self.earlier_sources, *self.sources):
            if src not in out:
                out.append(src)
        return out

    async def _fail(self, user_msg: AssistantMessage | None, message: str, status: int) -> None:
        """Before any output: take the person's message back (nothing half-written), and say why."""
        if not self.started and user_msg is not None:
            await self.db.rollback()
            await conversations.delete_message(self.db, self.viewer, self.conv_id, user_msg.id)
        self.turn.emit("error", message=message, status=status, started=self.started)

    def _started(self, user_msg: AssistantMessage | None) -> None:
        if not self.started:
            self.started = True
            self.turn.emit("start", conversation_id=str(self.conv_id),
                           user_message_id=str(user_msg.id) if user_msg else None)

    async def _history(self) -> list[ChatMessage]:
        if self.prompt is None:  # once per turn: the rounds of one answer share it
            self.prompt = await self.profile.system_prompt(self.db, self.viewer, self.settings, self.request)
        prompt = self.prompt
        stored = await conversations.messages(self.db, self.viewer, self.conv_id)
        self.earlier_sources = [src for m in stored if m.role == "tool" for src in m.meta.get("sources", [])]
        await self.db.commit()  # end the read transaction: tools write from their own sessions meanwhile
        return [ChatMessage("system", prompt), *(to_chat(m) for m in stored)]

    async def _loop(self, user_msg: AssistantMessage | None) -> None:
        runtime, model = self.profile.runtime(self.a.runtimes)
        specs = [t.spec() for t in self.profile.tools.values()] or None
        rounds = self.settings.assistant_max_tool_rounds
        pending_notice: str | None = None
        last_message: AssistantMessage | None = None
        for _ in range(rounds):
            messages = await self._history()
            if pending_notice:  # said to the model once, never stored as history
                messages.append(ChatMessage("user", NOTE_PREFIX + pending_notice))
                pending_notice = None
            completion, text, stopped = await self._stream(runtime, model, messages, specs, user_msg)
            if self.retracted is not None:
                last_message = await self._store_answer(self.retracted.answer, "complete",
                                                        {"declined": self.retracted.reason})
                await self._finish(last_message, user_msg)
                return
            if stopped or completion is None:
                last_message = await self._store_answer(text, "stopped")
                self.turn.emit("done", message_id=str(last_message.id), stopped=True, tokens=self.tokens)
                return
            self.tokens += (completion.usage.prompt_tokens + completion.usage.completion_tokens
                            if completion.usage else estimate_tokens(text) + sum(
                                estimate_tokens(m.content or "") for m in messages))
            for r in completion.rejected_calls:
                self.turn.emit("notice", text=f"The model sent a malformed call to {r.name or 'a tool'} ({r.why}); "
                                              "it was not run and not kept.")
            if completion.rejected_calls:
                pending_notice = ("Your previous tool call(s) were malformed and were dropped: " + "; ".join(
                    f"{r.name or '?'}: {r.why}" for r in completion.rejected_calls)
                    + ". Call the tool again with a valid JSON object of arguments, or answer in words.")
            if completion.tool_calls:
                await self._run_calls(completion.content, completion.tool_calls)
                continue
            if completion.rejected_calls and not completion.content.strip():
                continue
            last_message = await self._store_answer(completion.content, "complete",
                                                    self.profile.answer_meta(completion.content))
            await self._finish(last_message, user_msg)
            return
        note = (f"I stopped after {rounds} rounds of tool calls without a final answer; ask again more "
                "specifically, or raise HEARTH_ASSISTANT_MAX_TOOL_ROUNDS.")
        self.turn.emit("notice", text=note)
        last_message = await conversations.append(self.db, self.viewer, self.conv_id, "assistant", note,
                                                  meta={"notice": True})
        await self._finish(last_message, user_msg)

    async def _finish(self, last: AssistantMessage, user_msg: AssistantMessage | None) -> None:
        """`done` first (the person can type again), then a title for a new conversation."""
        self.turn.emit("done", message_id=str(last.id), stopped=False, tokens=self.tokens)
        self.a.release(self.turn)
        conv = await conversations.get(self.db, self.viewer, self.conv_id)
        if not conv.title and user_msg is not None:
            title = await self.a.make_title(self.request)
            if await conversations.set_auto_title(self.db, self.viewer, self.conv_id, title):
                self.turn.emit("title", title=title)

    async def _stream(self, runtime: Any, model: str, messages: list[ChatMessage], specs: list,
                      user_msg: AssistantMessage | None) -> tuple[Completion | None, str, bool]:
        """One model call, streamed to the client. Returns (completion, text so far, stopped)."""
        text = ""
        completion = None
        stream = runtime.stream_chat(messages, specs, max_tokens=self.settings.assistant_max_answer_tokens,
                                     model=model)
        try:
            async for ev in stream:
                self._started(user_msg)
                if self.turn.stop_requested.is_set():
                    return None, text, True
                if isinstance(ev, Trimmed):
                    self.turn.emit("trimmed", dropped_messages=ev.dropped_messages,
                                   dropped_tokens=ev.dropped_tokens, context_window=ev.context_window,
                                   text=f"{ev.dropped_messages} older message(s) (about {ev.dropped_tokens} tokens) "
                                        f"were left out to fit the model's {ev.context_window}-token context window")
                elif isinstance(ev, TextDelta):
                    text += ev.text
                    hit = self.profile.screen_answer(text)
                    if hit is not None:  # stop generating; the client replaces what it showed
                        self.retracted = hit
                        self.turn.emit("retract", text=hit.answer, reason=hit.reason)
                        return None, text, False
                    self.turn.emit("delta", text=ev.text)
                elif isinstance(ev, Completion):
                    completion = ev
        finally:
            with contextlib.suppress(Exception):
                await stream.aclose()
        if self.turn.stop_requested.is_set() and completion is None:
            return None, text, True
        return completion, text, False

    async def _store_answer(self, text: str, status: str, meta: dict[str, Any] | None = None) -> AssistantMessage:
        msg = await conversations.append(self.db, self.viewer, self.conv_id, "assistant", text, status=status,
                                         meta=meta)
        self.turn.emit("message", id=str(msg.id), content=text, status=status, **(meta or {}))
        return msg

    async def _run_calls(self, text: str, calls: list[ToolCall]) -> None:
        """Run every call of one answer (reads at once, writes as proposals), then store the answer
        with all its results in one transaction: stored history never holds a call without its result."""
        outcomes: list[tuple[ToolCall, ToolResult | None, tuple[Tool, Proposal] | None]] = []
        for call in calls:
            self.turn.emit("tool_call", id=call.id, name=call.name, arguments=call.arguments)
            tool = self.profile.tools.get(call.name)
            if tool is None:
                outcomes.append((call, ToolResult(
                    {"error": f"there is no tool named {call.name!r}; the tools are: "
                              f"{', '.join(self.profile.tools) or 'none'}"},
                    {"title": f"Unknown tool {call.name}"}, ok=False), None))
            elif tool.kind == "read":
                outcomes.append((call, await self._read(tool, call), None))
            else:
                outcomes.append((call, *await self._write(tool, call)))
        try:
            msg = await conversations.append(
                self.db, self.viewer, self.conv_id, "assistant", text,
                tool_calls=[{"id": c.id, "name": c.name, "arguments": c.arguments} for c in calls], commit=False)
            emitted = []
            for call, result, proposed in outcomes:
                if proposed is not None:
                    tool, proposal = proposed
                    read = self._read_so_far()
                    provenance = {"request": self.request[:1000], "after_reading": read[-20:],
                                  "read_app_content": bool(read), "card": proposal.card}
                    p = await proposals.create(self.db, self.viewer, self.conv_id, call.id, tool.name,
                                               proposal.arguments, proposal.summary, provenance, commit=False)
                    emitted.append(("proposal", proposal_json(p)))
                    result = ToolResult(
                        {"proposal": p.id, "status": "waiting for the person's approval", "action": proposal.summary,
                         "note": "Nothing has been done yet. Tell the person what you proposed; they approve or "
                                 "reject it."},
                        {"title": "Waiting for your approval", "summary": proposal.summary, "proposal_id": str(p.id)})
                assert result is not None
                await conversations.append(self.db, self.viewer, self.conv_id, "tool",
                                           datamark.quote(call.name, result.data), tool_call_id=call.id,
                                           tool_name=call.name,
                                           meta={"card": result.card, "ok": result.ok,
                                                 "sources": result.sources[:50]}, commit=False)
                emitted.append(("tool_result", {"id": call.id, "name": call.name, "ok": result.ok,
                                                "card": result.card}))
            await self.db.commit()
        except BaseException:
            await self.db.rollback()
            raise
        if text:
            self.turn.emit("message", id=str(msg.id), content=text, status="complete")
        for type_, data in emitted:
            self.turn.emit(type_, **data)

    async def _read(self, tool: Tool, call: ToolCall) -> ToolResult:
        ctx = self.a._context(self.viewer, self.conv_id)
        try:
            args = tool.parse(call.arguments)
            async with self.a.sessionmaker() as tool_db:
                viewer = await tool_db.get(Account, self.viewer.id)
                result = await tool.run(ctx, tool_db, viewer, args)
        except (ValueError, ServiceError) as e:
            msg = e.message if isinstance(e, ServiceError) else str(e)
            return ToolResult({"error": msg}, {"title": f"{call.name} failed", "summary": msg}, ok=False)
        except LLMError as e:  # the small model behind `summarise`
            return ToolResult({"error": str(e)}, {"title": f"{call.name} failed", "summary": str(e)}, ok=False)
        self.sources.extend(result.sources)
        return result

    async def _write(self, tool: Tool, call: ToolCall) -> tuple[ToolResult | None, tuple[Tool, Proposal] | None]:
        """A write becomes a proposal; only `remember`, before any app content was read this turn, runs."""
        ctx = self.a._context(self.viewer, self.conv_id)
        try:
            args = tool.parse(call.arguments)
            async with self.a.sessionmaker() as tool_db:
                viewer = await tool_db.get(Account, self.viewer.id)
                if tool.direct_when_untainted and not self._read_so_far():
                    return await tool.apply(ctx, tool_db, viewer, args), None
                return None, (tool, await tool.propose(ctx, tool_db, viewer, args))
        except (ValueError, ServiceError) as e:
            msg = e.message if isinstance(e, ServiceError) else str(e)
            return ToolResult({"error": msg}, {"title": f"{call.name} failed", "summary": msg}, ok=False), None
