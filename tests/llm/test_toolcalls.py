"""Tool calls assembled from streamed deltas: each reported server quirk replayed chunk for chunk, once
through the assembler directly and once through the real HTTP stream of the fake server."""

from __future__ import annotations

import re
from typing import Any

import pytest

from hearth.llm.openai_http import OpenAIHTTPRuntime
from hearth.llm.toolcalls import ToolCallAssembler
from hearth.llm.types import ChatMessage, Completion, ToolCall
from tests.fake_openai import chunk, chunks_for_tool_calls

GENERATED_ID = re.compile(r"^call_[0-9a-f]{24}$")


def tc(**fields: Any) -> dict[str, Any]:
    """One chunk carrying one tool-call delta."""
    return chunk({"tool_calls": [fields]})


def fn(name: str | None = None, arguments: Any = None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if name is not None:
        out["name"] = name
    if arguments is not None:
        out["arguments"] = arguments
    return out


def pieces(text: str, size: int) -> list[str]:
    return [text[i:i + size] for i in range(0, len(text), size)]


# name -> (chunks as the server sent them, expected calls as (id or None for generated, name, arguments),
#          expected rejected calls as (name, a word of the reason))
QUIRKS: dict[str, tuple[list[dict[str, Any]], list[tuple[str | None, str, dict[str, Any]]], list[tuple[str, str]]]] = {
    # 1. llama.cpp: the id (and name) only in the first delta, then argument pieces without id.
    "id only in the first delta": (
        [tc(index=0, id="call_a", type="function", function=fn("search_posts", "")),
         tc(index=0, function=fn(arguments='{"q"')),
         tc(index=0, function=fn(arguments=': "jazz"}'))],
        [("call_a", "search_posts", {"q": "jazz"})], []),
    # 2. arguments in many small pieces, the opening brace in the same delta as the name.
    "arguments in many pieces, brace with the name": (
        [tc(index=0, id="call_b", type="function", function=fn("search_posts", "{"))]
        + [tc(index=0, function=fn(arguments=p)) for p in pieces('"q": "late night jazz", "limit": 5}', 2)],
        [("call_b", "search_posts", {"q": "late night jazz", "limit": 5})], []),
    # 3a. no index at all: a new id starts a new call, id-less deltas continue the last one.
    "index missing": (
        [tc(id="call_1", type="function", function=fn("add", "")),
         tc(function=fn(arguments='{"a": 2, ')), tc(function=fn(arguments='"b": 3}')),
         tc(id="call_2", type="function", function=fn("get_time", "")),
         tc(function=fn(arguments="{}"))],
        [("call_1", "add", {"a": 2, "b": 3}), ("call_2", "get_time", {})], []),
    # 3b. every parallel call at index 0, told apart only by their ids.
    "index 0 for every parallel call": (
        [tc(index=0, id="call_x", type="function", function=fn("search_posts", '{"q": ')),
         tc(index=0, function=fn(arguments='"jazz"}')),
         tc(index=0, id="call_y", type="function", function=fn("search_posts", '{"q": ')),
         tc(index=0, function=fn(arguments='"blues"}'))],
        [("call_x", "search_posts", {"q": "jazz"}), ("call_y", "search_posts", {"q": "blues"})], []),
    # 4a. a tool without parameters: no arguments key at all.
    "no arguments ever streamed": (
        [tc(index=0, id="call_t", type="function", function=fn("get_time"))],
        [("call_t", "get_time", {})], []),
    # 4b. ... or only empty strings.
    "empty-string arguments": (
        [tc(index=0, id="call_t", type="function", function=fn("get_time", "")),
         tc(index=0, function=fn(arguments=""))],
        [("call_t", "get_time", {})], []),
    # 5. broken JSON that json_repair turns into an object: kept, repaired.
    "repairable arguments (missing brace, trailing comma)": (
        [tc(index=0, id="call_r", type="function", function=fn("search_posts", '{"q": "jazz", "limit": 5,'))],
        [("call_r", "search_posts", {"q": "jazz", "limit": 5})], []),
    "repairable arguments (unquoted keys)": (
        [tc(index=0, id="call_r", type="function", function=fn("search_posts", "{q: 'jazz'}"))],
        [("call_r", "search_posts", {"q": "jazz"})], []),
    # 5. not JSON at all, or JSON that is not an object: rejected.
    "arguments that cannot be repaired": (
        [tc(index=0, id="call_bad", type="function", function=fn("search_posts", "search for jazz please"))],
        [], [("search_posts", "not valid JSON")]),
    "arguments that are a JSON array": (
        [tc(index=0, id="call_bad", type="function", function=fn("search_posts", '["jazz"]'))],
        [], [("search_posts", "an array")]),
    "arguments that are a JSON string": (
        [tc(index=0, id="call_bad", type="function", function=fn("search_posts", '"jazz"'))],
        [], [("search_posts", "a string")]),
    # 5. no function name: rejected; no id: one is generated.
    "no function name": (
        [tc(index=0, id="call_n", type="function", function=fn(arguments='{"q": "jazz"}'))],
        [], [("", "no function name")]),
    "no id": (
        [tc(index=0, type="function", function=fn("get_time", "{}"))],
        [(None, "get_time", {})], []),
    # vLLM and others: after the pieces, the complete arguments once more.
    "complete arguments re-sent after the pieces": (
        [tc(index=0, id="call_v", type="function", function=fn("add", "")),
         tc(index=0, function=fn(arguments='{"a": 2,')), tc(index=0, function=fn(arguments=' "b": 3}')),
         tc(index=0, function=fn(arguments='{"a": 2, "b": 3}'))],
        [("call_v", "add", {"a": 2, "b": 3})], []),
    # Some servers repeat id, type and name on every delta.
    "id and name repeated on every delta": (
        [tc(index=0, id="call_s", type="function", function=fn("add", '{"a": 2')),
         tc(index=0, id="call_s", type="function", function=fn("add", ', "b": 3}'))],
        [("call_s", "add", {"a": 2, "b": 3})], []),
    # Ollama: each call complete in one chunk, with its own index.
    "ollama: each call whole in one chunk": (
        [tc(id="call_o1", index=0, type="function", function=fn("add", '{"a":2,"b":3}')),
         tc(id="call_o2", index=1, type="function", function=fn("get_time", "{}"))],
        [("call_o1", "add", {"a": 2, "b": 3}), ("call_o2", "get_time", {})], []),
    # Arguments sent as a JSON object rather than a string.
    "arguments as an object, not a string": (
        [tc(index=0, id="call_d", type="function", function=fn("add", {"a": 2, "b": 3}))],
        [("call_d", "add", {"a": 2, "b": 3})], []),
    # Parallel calls with neither ids nor distinct indexes, told apart by their names.
    "no ids, index 0, different names": (
        [tc(index=0, type="function", function=fn("add", '{"a": 2, "b": 3}')),
         tc(index=0, type="function", function=fn("get_time", "{}"))],
        [(None, "add", {"a": 2, "b": 3}), (None, "get_time", {})], []),
}


def check(calls: list[ToolCall], rejected: list, quirk: str) -> None:
    _, want_calls, want_rejected = QUIRKS[quirk]
    assert [(c.name, c.arguments) for c in calls] == [(n, a) for _, n, a in want_calls]
    for call, (want_id, _, _) in zip(calls, want_calls, strict=True):
        if want_id is None:
            assert GENERATED_ID.match(call.id), call.id
        else:
            assert call.id == want_id
    assert len({c.id for c in calls}) == len(calls)
    assert [r.name for r in rejected] == [n for n, _ in want_rejected]
    for r, (_, why) in zip(rejected, want_rejected, strict=True):
        assert why in r.why
        assert r.id


@pytest.mark.parametrize("quirk", list(QUIRKS))
def test_assembler(quirk: str) -> None:
    assembler = ToolCallAssembler()
    for c in QUIRKS[quirk][0]:
        assembler.feed(c["choices"][0]["delta"].get("tool_calls"))
    check(*assembler.finish(), quirk)


@pytest.mark.parametrize("quirk", list(QUIRKS))
async def test_quirk_through_http(fake_llm, quirk: str) -> None:
    fake_llm.queue_chunks([chunk({"role": "assistant", "content": None}), *QUIRKS[quirk][0],
                           chunk({}, "tool_calls")])
    runtime = OpenAIHTTPRuntime(base_url=fake_llm.base_url, model="fake-model", timeout_seconds=5)
    try:
        events = [e async for e in runtime.stream_chat([ChatMessage("user", "go")])]
    finally:
        await runtime.aclose()
    completion = events[-1]
    assert isinstance(completion, Completion)
    check(completion.tool_calls, completion.rejected_calls, quirk)
    assert completion.finish_reason == ("tool_calls" if completion.tool_calls else "stop")


@pytest.mark.parametrize("style", ["llamacpp", "ollama", "vllm"])
def test_builder_styles_assemble(style: str) -> None:
    assembler = ToolCallAssembler()
    for c in chunks_for_tool_calls([("search_posts", {"q": "jazz"}), ("get_time", {})], style):
        for choice in c["choices"]:
            assembler.feed(choice["delta"].get("tool_calls"))
    calls, rejected = assembler.finish()
    assert [(c.id, c.name, c.arguments) for c in calls] == [("call_0", "search_posts", {"q": "jazz"}),
                                                            ("call_1", "get_time", {})]
    assert rejected == []


def test_cut_off_arguments_are_rejected_not_repaired() -> None:
    assembler = ToolCallAssembler()
    assembler.feed([{"index": 0, "id": "call_c", "function": {"name": "search_posts", "arguments": '{"q": "ja'}}])
    calls, rejected = assembler.finish(truncated=True)
    assert calls == []
    assert rejected[0].raw_arguments == '{"q": "ja' and "cut off" in rejected[0].why


def test_ignores_empty_and_garbage_deltas() -> None:
    assembler = ToolCallAssembler()
    assembler.feed(None)
    assembler.feed([])
    assembler.feed(["not a dict"])  # type: ignore[list-item]
    assert not assembler.has_calls
    assert assembler.finish() == ([], [])
