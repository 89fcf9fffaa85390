"""Fitting a conversation into the model's context window by leaving out its oldest turns.

Dropping is never silent (the caller gets a `Trimmed` to show) and never breaks the conversation: system
messages stay, an assistant message with tool calls goes together with its tool results, and the newest user
message (with everything after it: the current turn's calls and results) is always kept. The kept history
starts at a user message, as strict chat templates (Mistral, Gemma) require.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable

from hearth.llm.types import ChatMessage, LLMError, ToolSpec, Trimmed

TokenCounter = Callable[[str], int]


def estimate_tokens(text: str) -> int:
    """An estimate, not a count: about four characters per token, which errs on the safe side for English
    and code. Runtimes with a tokenizer at hand (in-process GGUF) pass a real counter instead."""
    return math.ceil(len(text) / 4)


def message_text(message: ChatMessage) -> str:
    """What a message costs: its OpenAI JSON (role, content, tool calls), close to what the template renders."""
    return json.dumps(message.to_openai(), ensure_ascii=False)


def tools_text(tools: list[ToolSpec] | None) -> str:
    return json.dumps([t.to_openai() for t in tools], ensure_ascii=False) if tools else ""


def _groups(messages: list[ChatMessage]) -> list[list[int]]:
    """Indexes of the non-system messages in droppable units: an assistant message with tool calls and the
    tool results that follow it form one unit; every other message is a unit of its own."""
    groups: list[list[int]] = []
    for i, m in enumerate(messages):
        if m.role == "system":
            continue
        if m.role == "tool" and groups and _opens_calls(messages[groups[-1][0]]):
            groups[-1].append(i)  # only tool messages ever join such a unit, so they follow it directly
        else:
            groups.append([i])
    return groups


def _opens_calls(message: ChatMessage) -> bool:
    return message.role == "assistant" and bool(message.tool_calls)


def fit_to_window(messages: list[ChatMessage], tools: list[ToolSpec] | None, context_window: int,
                  max_answer_tokens: int, count_tokens: TokenCounter = estimate_tokens,
                  ) -> tuple[list[ChatMessage], Trimmed | None]:
    """The messages that fit `context_window` with `max_answer_tokens` left for the answer, oldest turns
    dropped first, and a `Trimmed` saying what was dropped (None when nothing was).

    Raises LLMError when even the system messages, the tools and the newest user turn do not fit."""
    costs = [count_tokens(message_text(m)) for m in messages]
    budget = context_window - max_answer_tokens
    total = sum(costs) + (count_tokens(tools_text(tools)) if tools else 0)
    if total <= budget:
        return list(messages), None
    groups = _groups(messages)
    last_user = max((i for i, m in enumerate(messages) if m.role == "user"), default=None)
    dropped: set[int] = set()
    dropped_tokens = 0
    for group in groups:
        if (last_user is not None and group[0] >= last_user) or group is groups[-1]:
            break  # the newest user message and what follows it always stay
        # Once it fits, keep going only to the next user message: many chat templates refuse a history
        # that starts with an assistant or tool message after the system prompt.
        if total <= budget and messages[group[0]].role == "user":
            break
        dropped.update(group)
        cost = sum(costs[i] for i in group)
        dropped_tokens += cost
        total -= cost
    if total > budget:
        raise LLMError(
            f"the conversation does not fit the model's context window even after leaving out older messages: "
            f"about {total} tokens for the system prompt, tools and newest message, but only {budget} of the "
            f"{context_window}-token window are left after reserving {max_answer_tokens} for the answer; shorten "
            "the message, or use a model with a larger window (HEARTH_LLM_CONTEXT_WINDOW)")
    kept = [m for i, m in enumerate(messages) if i not in dropped]
    return kept, Trimmed(dropped_messages=len(dropped), dropped_tokens=dropped_tokens, context_window=context_window)
