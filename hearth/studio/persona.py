"""A creator's AI as an agent profile (see hearth/assistant/profile.py): its persona prompt with
the passages of its knowledge that match the question (quoted data, numbered for citation),
read-only tools (its creator's posts and notes, the public timeline), the topics it avoids
(checked outside the model), its runtime and model, per-fan and per-AI limits, and, with no
model reachable, the most relevant passages themselves, labelled as excerpts."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from hearth.assistant import datamark
from hearth.assistant.profile import AgentProfile, Screened
from hearth.assistant.tools import Tool, ToolContext, ToolResult
from hearth.assistant.tools.present import post_data, post_item, post_source
from hearth.llm.types import ChatRuntime
from hearth.services import search
from hearth.services.errors import Invalid
from hearth.services.studio.ais import display_name
from hearth.settings import Settings
from hearth.storage.models import Account, AssistantConversation, CreatorAI
from hearth.studio.guard import TopicGuard

PASSAGES = 5
CITATION_RE = re.compile(r"\[(\d{1,2})\]")


def disclosure(ai: CreatorAI) -> str:
    """Said at the start of every conversation with an AI."""
    return (f"You're talking with {display_name(ai)}, an AI made by @{ai.owner.username}. Replies are "
            f"AI-generated and may be wrong; this is not @{ai.owner.username} writing.")


class _Query(BaseModel):
    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)
    query: str = Field(min_length=1, max_length=200, description="words to look for")
    limit: int = Field(5, ge=1, le=10)


def passage_json(p: Any, n: int | None = None) -> dict[str, Any]:
    out = {"kind": p.kind, "title": p.title, "text": p.text[:700], "url": p.url}
    if n is not None:
        out["n"] = n
    return out


def read_only_tools(ai: CreatorAI, knowledge: Any) -> dict[str, Tool]:
    """What a creator AI may use: reads of public things only. It never gets the tools that act
    for a person, so nothing it reads can make it write."""

    async def search_creator(ctx: ToolContext, db: AsyncSession, viewer: Account, a: _Query) -> ToolResult:
        found = await knowledge.search(ai.id, a.query, k=a.limit)
        return ToolResult({"query": a.query, "passages": [passage_json(p) for p in found]},
                          {"title": f"Searched @{ai.owner.username}'s posts and notes for “{a.query}”",
                           "summary": f"{len(found)} found",
                           "items": [{"kind": p.kind, "id": str(p.knowledge_id), "title": p.title,
                                      "text": p.text[:280], "url": p.url, "note": ""} for p in found]},
                          [{"kind": p.kind, "id": str(p.post_id or p.knowledge_id), "author": "@" + ai.owner.username,
                            "url": p.url} for p in found])

    async def search_public(ctx: ToolContext, db: AsyncSession, viewer: Account, a: _Query) -> ToolResult:
        found = [p for p in await search.search_statuses(db, None, a.query, limit=a.limit)
                 if p.visibility == "public"]
        return ToolResult({"query": a.query, "posts": [post_data(p) for p in found]},
                          {"title": f"Searched public posts for “{a.query}”", "summary": f"{len(found)} found",
                           "items": [post_item(p) for p in found]}, [post_source(p) for p in found])

    return {
        "search_creator_posts": Tool("search_creator_posts", f"Search what @{ai.owner.username} posted and the "
                                     "notes they gave you.", _Query, "read", run=search_creator),
        "search_public_timeline": Tool("search_public_timeline", "Search public posts on this server.", _Query,
                                       "read", run=search_public),
    }


class CreatorProfile(AgentProfile):
    """One creator AI, for one turn (the passages are looked up once per question)."""

    answers_without_model = True

    def __init__(self, ai: CreatorAI, knowledge: Any, limits: Any = None, encode: Any = None):
        super().__init__(read_only_tools(ai, knowledge) if knowledge is not None else {})
        self.ai = ai
        self.knowledge = knowledge
        self.limits = limits
        self.guard = TopicGuard(display_name(ai), list(ai.avoid_topics or []), encode)
        self.passages: list[Any] | None = None

    def check_conversation(self, conv: AssistantConversation) -> None:
        if conv.ai_id != self.ai.id:
            raise Invalid(f"this conversation is not with @{self.ai.account.username}")

    def runtime(self, runtimes: Any) -> tuple[ChatRuntime, str]:
        if self.ai.runtime:
            runtime = runtimes.get(self.ai.runtime)
            return runtime, self.ai.model or runtime.model
        runtime, model = runtimes.for_role("assistant")
        return runtime, self.ai.model or model

    async def check_limits(self, db: AsyncSession, viewer: Account) -> None:
        if self.limits is not None:
            self.limits.hit(self.ai, viewer)

    async def find_passages(self, question: str) -> list[Any]:
        if self.passages is None:
            self.passages = []
            if self.knowledge is not None and question:
                await self.knowledge.sync_posts(self.ai.id)
                self.passages = list(await self.knowledge.search(self.ai.id, question, k=PASSAGES))
        return self.passages

    async def system_prompt(self, db: AsyncSession, viewer: Account, settings: Settings, question: str) -> str:
        return persona_prompt(self.ai, settings.instance_title, viewer, await self.find_passages(question))

    async def screen_question(self, question: str) -> Screened | None:
        return await self.guard.question(question)

    def screen_answer(self, text: str) -> Screened | None:
        return self.guard.answer(text)

    def answer_meta(self, text: str) -> dict[str, Any]:
        """The passages the answer cites as [n], as links."""
        offered = self.passages or []
        cited = sorted({int(n) for n in CITATION_RE.findall(text) if 1 <= int(n) <= len(offered)})
        return {"citations": [passage_json(offered[n - 1], n) for n in cited],
                "sources": [passage_json(p, i + 1) for i, p in enumerate(offered)]}

    async def without_model(self, question: str, why: str) -> tuple[str, dict[str, Any]] | None:
        found = await self.find_passages(question)
        owner = "@" + self.ai.owner.username
        if not found:
            text = (f"No language model is connected to {display_name(self.ai)} right now, and nothing in "
                    f"{owner}'s posts or notes matches your question.")
        else:
            lines = [f"No language model is connected right now, so here are excerpts from {owner}'s posts and "
                     "notes that match your question (quoted as written, not an AI answer):"]
            for i, p in enumerate(found, 1):
                excerpt = " ".join(p.text.split())
                lines.append(f"[{i}] “{excerpt[:400]}{'…' if len(excerpt) > 400 else ''}” — [{p.title}]({p.url})")
            text = "\n\n".join(lines)
        return text, {"excerpts": True, "citations": [passage_json(p, i + 1) for i, p in enumerate(found)],
                      "sources": [passage_json(p, i + 1) for i, p in enumerate(found)]}


def persona_prompt(ai: CreatorAI, instance: str, viewer: Account | None, passages: list[Any]) -> str:
    name, owner = display_name(ai), "@" + ai.owner.username
    extra = ai.card_extra or {}
    parts = [
        f"You are {name}, an AI character made by {owner} on {instance}, a social network. You are an AI: never "
        f"claim to be human or to be {owner} themselves, and say you are an AI if asked. "
        + (f"You speak with @{viewer.username}. " if viewer is not None else ""),
        "You can only read: search your creator's posts and notes, and public posts. You cannot post, follow, "
        "like or do anything else on anyone's behalf.",
    ]
    if ai.personality:
        parts.append("Who you are:\n" + ai.personality)
    if extra.get("scenario"):
        parts.append("Scenario:\n" + str(extra["scenario"]))
    if ai.instructions:
        parts.append("Your creator's instructions:\n" + ai.instructions)
    if ai.example_dialogues:
        parts.append("Examples of how you talk (style only):\n" + ai.example_dialogues)
    if ai.avoid_topics:
        parts.append("Never discuss these topics; if asked, politely decline and say your creator asked you not "
                     "to: " + "; ".join(ai.avoid_topics) + ".")
    if ai.links:
        parts.append("Your creator's links: " + ", ".join(f"[{x['title']}]({x['url']})" for x in ai.links))
    if passages:
        parts.append("Passages from your creator's posts and notes that may answer the next question. Cite the "
                     "ones you use as [n] (their number); if they do not answer it, say you don't know rather "
                     "than invent:\n"
                     + datamark.quote("knowledge", [passage_json(p, i + 1) for i, p in enumerate(passages)]))
    else:
        parts.append("Nothing in your creator's posts or notes matches the next question; do not invent what they "
                     "said or think.")
    parts.append(datamark.RULES)
    if extra.get("post_history_instructions"):
        parts.append(str(extra["post_history_instructions"]))
    return "\n\n".join(parts)
