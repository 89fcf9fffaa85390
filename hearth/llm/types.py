"""The runtime interface every backend implements, and the values that cross it.

A runtime streams `StreamEvent`s: `Trimmed` (first, only when older history had to be dropped to
fit the context window), `TextDelta`s as tokens arrive, then exactly one `Completion` holding the
whole answer: its text, the tool calls assembled from the stream (arguments always a parsed JSON
object) and the calls that had to be rejected (never stored, never sent back to a runtime).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Role = Literal["system", "user", "assistant", "tool"]


class LLMError(Exception):
    """The runtime answered, but with an error (bad request, model failure, a broken stream)."""


class LLMUnavailable(LLMError):
    """No runtime is configured, or it cannot be reached. The message says how to connect one."""


HOW_TO_CONNECT = ("connect an open-weights model: run Ollama (`ollama pull llama3.2`) and set "
                  "HEARTH_LLM_BASE_URL=http://127.0.0.1:11434/v1 and HEARTH_LLM_MODEL=llama3.2, or point "
                  "HEARTH_LLM_BASE_URL at llama.cpp's `llama-server --jinja`, vLLM or LM Studio, or set "
                  "HEARTH_LLM_GGUF_PATH to a local .gguf file (pip install 'hearth[llm-local]')")


@dataclass
class ToolCall:
    id: str
    name: str
    arguments: dict[str, Any]

    def to_openai(self) -> dict[str, Any]:
        return {"id": self.id, "type": "function",
                "function": {"name": self.name, "arguments": json.dumps(self.arguments, ensure_ascii=False)}}


@dataclass
class RejectedCall:
    """A streamed tool call that could not be turned into a valid call (bad JSON, no name)."""

    id: str
    name: str
    raw_arguments: str
    why: str


@dataclass
class ChatMessage:
    role: Role
    content: str | None = None
    tool_calls: list[ToolCall] = field(default_factory=list)  # assistant messages only
    tool_call_id: str | None = None  # tool messages only

    def to_openai(self) -> dict[str, Any]:
        out: dict[str, Any] = {"role": self.role, "content": self.content if self.content is not None else ""}
        if self.tool_calls:
            out["tool_calls"] = [c.to_openai() for c in self.tool_calls]
            if not self.content:
                out["content"] = None
        if self.tool_call_id is not None:
            out["tool_call_id"] = self.tool_call_id
        return out


@dataclass
class ToolSpec:
    name: str
    description: str
    parameters: dict[str, Any]  # JSON schema of an object

    def to_openai(self) -> dict[str, Any]:
        return {"type": "function",
                "function": {"name": self.name, "description": self.description, "parameters": self.parameters}}


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass
class TextDelta:
    text: str


@dataclass
class Trimmed:
    """Older messages left out so the conversation fits the context window (said, never silent)."""

    dropped_messages: int
    dropped_tokens: int
    context_window: int


@dataclass
class Completion:
    content: str
    tool_calls: list[ToolCall] = field(default_factory=list)
    rejected_calls: list[RejectedCall] = field(default_factory=list)
    finish_reason: str = "stop"  # stop | length | tool_calls | cancelled
    usage: Usage | None = None
    model: str = ""


StreamEvent = Trimmed | TextDelta | Completion


class ChatRuntime(Protocol):
    """One configured runtime. `name` is its key in the settings ("default", or a named runtime)."""

    name: str
    model: str
    context_window: int

    def stream_chat(self, messages: list[ChatMessage], tools: list[ToolSpec] | None = None, *,
                    max_tokens: int | None = None, temperature: float | None = None,
                    model: str | None = None) -> AsyncIterator[StreamEvent]: ...

    async def list_models(self) -> list[str]: ...

    async def aclose(self) -> None: ...
