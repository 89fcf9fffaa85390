"""Fitting history into the context window: oldest first, tool groups whole, newest user message kept."""

from __future__ import annotations

import pytest

from hearth.llm.context import estimate_tokens, fit_to_window, message_text, tools_text
from hearth.llm.types import ChatMessage, LLMError, ToolCall, ToolSpec, Trimmed


def per_message(text: str) -> int:
    """A counter that makes every message cost 10 tokens, so the arithmetic in the tests is obvious."""
    return 10


def sys_() -> ChatMessage:
    return ChatMessage("system", "You are Hearth's assistant.")


def user(text: str) -> ChatMessage:
    return ChatMessage("user", text)


def assistant(text: str) -> ChatMessage:
    return ChatMessage("assistant", text)


def calls(*ids: str) -> ChatMessage:
    return ChatMessage("assistant", None, tool_calls=[ToolCall(i, "search_posts", {"q": i}) for i in ids])


def result(call_id: str) -> ChatMessage:
    return ChatMessage("tool", "[]", tool_call_id=call_id)


def test_fits_untouched() -> None:
    messages = [sys_(), user("hi"), assistant("hello"), user("how are you?")]
    kept, trimmed = fit_to_window(messages, None, 8192, 1024)
    assert kept == messages and trimmed is None


def test_drops_oldest_first_and_keeps_system() -> None:
    messages = [sys_(), user("u1"), assistant("a1"), user("u2"), assistant("a2"), user("u3")]
    kept, trimmed = fit_to_window(messages, None, 45, 5, per_message)  # room for 4 messages
    assert kept == [messages[0], messages[3], messages[4], messages[5]]
    assert trimmed == Trimmed(dropped_messages=2, dropped_tokens=20, context_window=45)


def test_kept_history_starts_at_a_user_message() -> None:
    messages = [sys_(), user("u1"), assistant("a1"), user("u2"), assistant("a2"), user("u3")]
    kept, trimmed = fit_to_window(messages, None, 55, 5, per_message)  # room for 5, but a1 cannot lead
    assert [m.content for m in kept] == [messages[0].content, "u2", "a2", "u3"]
    assert trimmed is not None and trimmed.dropped_messages == 2


def test_tool_results_go_with_their_call() -> None:
    messages = [sys_(), user("u1"), calls("c1", "c2"), result("c1"), result("c2"), assistant("a1"), user("u2")]
    # Room for 4 messages: dropping u1 and a lone call would do, but its results go too (then a1, which
    # cannot open the history).
    kept, trimmed = fit_to_window(messages, None, 45, 5, per_message)
    assert kept == [messages[0], messages[6]]
    assert trimmed == Trimmed(dropped_messages=5, dropped_tokens=50, context_window=45)


def test_never_a_tool_message_without_its_call() -> None:
    messages = [sys_(), user("u1"), calls("c1"), result("c1"), assistant("a1"), user("u2"), assistant("a2"),
                user("u3")]
    for window in range(35, 95, 10):
        kept, _ = fit_to_window(messages, None, window, 5, per_message)
        ids = {c.id for m in kept for c in m.tool_calls}
        assert all(m.tool_call_id in ids for m in kept if m.role == "tool"), window


def test_current_turn_is_never_dropped() -> None:
    messages = [sys_(), user("u1"), assistant("a1"), user("u2"), calls("c1"), result("c1")]
    kept, trimmed = fit_to_window(messages, None, 45, 5, per_message)
    assert kept == [messages[0], messages[3], messages[4], messages[5]]
    assert trimmed is not None and trimmed.dropped_messages == 2


def test_newest_user_message_too_big_raises() -> None:
    messages = [sys_(), user("old"), user("x" * 10_000)]
    with pytest.raises(LLMError, match="does not fit the model's context window.*HEARTH_LLM_CONTEXT_WINDOW"):
        fit_to_window(messages, None, 1000, 200)


def test_tools_count_towards_the_window() -> None:
    tool = ToolSpec("search_posts", "Search posts. " * 40, {"type": "object", "properties": {}})
    messages = [sys_(), user("u1"), assistant("a1"), user("u2")]
    budget = sum(estimate_tokens(message_text(m)) for m in messages)
    kept, trimmed = fit_to_window(messages, None, budget + 10, 10)
    assert trimmed is None
    kept, trimmed = fit_to_window(messages, [tool], budget + 10 + estimate_tokens(tools_text([tool])) - 1, 10)
    assert trimmed is not None and kept == [messages[0], messages[3]]


def test_estimate_is_about_four_chars_per_token() -> None:
    assert estimate_tokens("") == 0 and estimate_tokens("abcd") == 1 and estimate_tokens("abcde") == 2
