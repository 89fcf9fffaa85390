"""What differs between agents that share the loop in agent.py: the personal assistant (this
file's defaults) and a creator's AI (hearth/studio/persona.py). A profile gives the system
prompt, the tools, the runtime, and the checks made outside the model: a question refused before
generation, an answer stopped during it, and what to answer when no model can be reached."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from hearth.assistant.prompt import system_prompt
from hearth.assistant.tools import TOOLS, Tool
from hearth.llm.types import ChatRuntime
from hearth.services.assistant import memory
from hearth.services.errors import Invalid
from hearth.settings import Settings
from hearth.storage.models import Account, AssistantConversation


@dataclass
class Screened:
    """A refusal decided outside the model: why, and the polite answer the person sees."""

    reason: str
    answer: str


class AgentProfile:
    """The personal assistant: all tools, memory, the `assistant` runtime role."""

    role = "assistant"
    answers_without_model = False

    def __init__(self, tools: dict[str, Tool] | None = None):
        self.tools = TOOLS if tools is None else tools

    def check_conversation(self, conv: AssistantConversation) -> None:
        if conv.ai_id is not None:
            raise Invalid("this conversation is with a creator's AI; continue it on that AI's page")

    def runtime(self, runtimes: Any) -> tuple[ChatRuntime, str]:
        return runtimes.for_role(self.role)

    async def system_prompt(self, db: AsyncSession, viewer: Account, settings: Settings, question: str) -> str:
        prefs = await memory.prefs(db, viewer)
        facts = await memory.list_facts(db, viewer) if prefs.memory_enabled else None
        return system_prompt(viewer, settings.instance_title, facts)

    async def check_limits(self, db: AsyncSession, viewer: Account) -> None:
        """Limits of this kind of agent, on top of the person's assistant limits."""

    async def screen_question(self, question: str) -> Screened | None:
        return None

    def screen_answer(self, text: str) -> Screened | None:
        return None

    def answer_meta(self, text: str) -> dict[str, Any]:
        """Extra facts stored with a final answer (a creator AI's citations)."""
        return {}

    async def without_model(self, question: str, why: str) -> tuple[str, dict[str, Any]] | None:
        """An answer when no model can be reached, or None to report the error."""
        return None
