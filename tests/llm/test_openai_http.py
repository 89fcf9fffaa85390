"""The HTTP runtime against the scripted server over real loopback HTTP: what it sends, what it makes of
answers, and how each failure reads (unreachable, HTTP errors, slow, cut off, cancelled)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from contextlib import aclosing

import pytest

from hearth.llm.context import estimate_tokens, message_text
from hearth.llm.openai_http import OpenAIHTTPRuntime
from hearth.llm.types import (
    HOW_TO_CONNECT,
    ChatMessage,
    Completion,
    LLMError,
    LLMUnavailable,
    TextDelta,
    ToolSpec,
    Trimmed,
    Usage,
)
from tests.fake_openai import (
    FakeOpenAI,
    Script,
    chunk,
    chunks_for_text,
    chunks_for_tool_calls,
    free_port,
    message_for,
)

HELLO = [ChatMessage("system", "Be brief."), ChatMessage("user", "Hello?")]
SEARCH = ToolSpec("search_posts", "Search posts.", {"type": "object", "properties": {"q": {"type": "string"}}})


def runtime_for(url: str, **kw) -> OpenAIHTTPRuntime:
    kw = {"model": "fake-model", "timeout_seconds": 5.0, "connect_retries": 0, "backoff_seconds": 0.01, **kw}
    return OpenAIHTTPRuntime(base_url=url, **kw)


async def collect(runtime: OpenAIHTTPRuntime, messages=HELLO, tools=None, **kw) -> list:
    try:
        return [e async for e in runtime.stream_chat(messages, tools, **kw)]
    finally:
        await runtime.aclose()


async def test_plain_streamed_reply(fake_llm) -> None:
    fake_llm.queue_text("Hello there, friend", n=4)
    events = await collect(runtime_for(fake_llm.base_url))
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["Hello", " ther", "e, fr", "iend"]
    done = events[-1]
    assert done == Completion("Hello there, friend", finish_reason="stop", usage=Usage(10, 3), model="fake-model")
    sent = fake_llm.requests[0]
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}
    assert sent["model"] == "fake-model" and "tools" not in sent and "max_tokens" not in sent
    assert sent["messages"] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello?"}]
    assert "authorization" not in fake_llm.headers[0]


async def test_sends_tools_options_and_model_override(fake_llm) -> None:
    await collect(runtime_for(fake_llm.base_url), tools=[SEARCH], max_tokens=64, temperature=0.2, model="other")
    sent = fake_llm.requests[0]
    assert sent["tools"] == [SEARCH.to_openai()]
    assert (sent["max_tokens"], sent["temperature"], sent["model"]) == (64, 0.2, "other")


async def test_api_key_is_sent(fake_llm) -> None:
    fake_llm.api_key = "sekret"
    events = await collect(runtime_for(fake_llm.base_url, api_key="sekret"))
    assert events[-1].content == "OK"
    assert fake_llm.headers[0]["authorization"] == "Bearer sekret"


async def test_wrong_api_key_says_so(fake_llm) -> None:
    fake_llm.api_key = "sekret"
    with pytest.raises(LLMError, match=r"refused the request \(401: Incorrect API key.*HEARTH_LLM_API_KEY"):
        await collect(runtime_for(fake_llm.base_url, api_key="wrong"))


async def test_http_error_carries_status_and_server_message(fake_llm) -> None:
    fake_llm.queue_error(400, "'messages' must not be empty")
    fake_llm.queue_text("never asked for")
    with pytest.raises(LLMError, match=r"answered 400: 'messages' must not be empty") as e:
        await collect(runtime_for(fake_llm.base_url, connect_retries=3))
    assert not isinstance(e.value, LLMUnavailable)
    assert len(fake_llm.requests) == 1  # a 400 is not retried


async def test_http_error_with_text_body(fake_llm) -> None:
    fake_llm.queue_error(500, body="Internal Server Error: CUDA out of memory")
    with pytest.raises(LLMError, match="answered 500: Internal Server Error: CUDA out of memory"):
        await collect(runtime_for(fake_llm.base_url))


async def test_model_not_found_says_how_to_get_it(fake_llm) -> None:
    fake_llm.queue_error(404, 'model "llama9" not found, try pulling it first')  # Ollama's words
    with pytest.raises(LLMError, match=r"`ollama pull llama9`.*HEARTH_LLM_MODEL"):
        await collect(runtime_for(fake_llm.base_url, model="llama9"))


async def test_missing_v1_suggests_it(fake_llm) -> None:
    with pytest.raises(LLMError, match=rf"did you mean {fake_llm.root_url}/v1\?"):
        await collect(runtime_for(fake_llm.root_url + "/"))


async def test_unreachable_server_says_how_to_connect() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    start = time.monotonic()
    with pytest.raises(LLMUnavailable) as e:
        await collect(runtime_for(url, connect_retries=2))
    assert url in str(e.value) and HOW_TO_CONNECT in str(e.value) and "3 attempts" in str(e.value)
    assert time.monotonic() - start < 1


async def test_bad_url_is_unavailable() -> None:
    with pytest.raises(LLMUnavailable, match="must start with http"):
        OpenAIHTTPRuntime(base_url="localhost:11434/v1")


async def test_retries_until_the_server_comes_up() -> None:
    port = free_port()
    server = FakeOpenAI(port=port)
    starter = threading.Timer(0.3, server.start)
    starter.start()
    try:
        events = await collect(runtime_for(f"http://127.0.0.1:{port}/v1", connect_retries=5, backoff_seconds=0.1))
        assert events[-1].content == "OK"
        assert len(server.requests) == 1
    finally:
        starter.join()
        server.stop()


async def test_retries_a_503_then_answers(fake_llm) -> None:
    fake_llm.queue_error(503, "Loading model")
    fake_llm.queue_text("ready now")
    events = await collect(runtime_for(fake_llm.base_url, connect_retries=2))
    assert events[-1].content == "ready now"
    assert len(fake_llm.requests) == 2


async def test_503_until_retries_run_out_is_unavailable(fake_llm) -> None:
    fake_llm.queue_error(503, "Loading model")
    fake_llm.queue_error(503, "Loading model")
    with pytest.raises(LLMUnavailable, match=r"not ready \(it answered 503: Loading model, 2 attempts\)"):
        await collect(runtime_for(fake_llm.base_url, connect_retries=1))


async def test_never_retries_once_streaming_began(fake_llm) -> None:
    fake_llm.queue_disconnect("an answer cut short", after=3)
    fake_llm.queue_text("a second answer")
    deltas = []
    with pytest.raises(LLMError, match="closed the stream early") as e:
        async for event in runtime_for(fake_llm.base_url, connect_retries=3).stream_chat(HELLO):
            deltas.append(event)
    assert not isinstance(e.value, LLMUnavailable)
    assert [d.text for d in deltas] == ["an a", "nswe"]  # chunks 2 and 3 of 5 (the first has the role only)
    assert len(fake_llm.requests) == 1 and fake_llm.pending == 1


async def test_timeout_on_a_slow_stream(fake_llm) -> None:
    fake_llm.queue_text("one word at a time", n=10, delay=0.3)
    start = time.monotonic()
    with pytest.raises(LLMError, match=r"timed out after 0.5 s"):
        await collect(runtime_for(fake_llm.base_url, timeout_seconds=0.5))
    assert time.monotonic() - start < 1.5
    assert fake_llm.streams[0].ended.wait(2) and not fake_llm.streams[0].complete


async def test_stream_ending_without_finish_or_done_is_an_error(fake_llm) -> None:
    fake_llm.queue_chunks(chunks_for_text("half", 2)[:2], done=False)  # a clean end of the body, too early
    with pytest.raises(LLMError, match=r"closed the stream early \(no finish_reason, no \[DONE\]\)"):
        await collect(runtime_for(fake_llm.base_url))


async def test_finish_reason_without_done_is_fine(fake_llm) -> None:
    fake_llm.queue_chunks(chunks_for_text("all here", 2), done=False)
    events = await collect(runtime_for(fake_llm.base_url))
    assert events[-1].content == "all here" and events[-1].finish_reason == "stop"


async def test_error_chunk_mid_stream(fake_llm) -> None:
    fake_llm.queue_stream_error("llama_decode failed: out of memory", after=2, text="partial")
    with pytest.raises(LLMError, match="failed while answering: llama_decode failed: out of memory"):
        await collect(runtime_for(fake_llm.base_url))


async def test_length_finish_reason_is_passed_on(fake_llm) -> None:
    fake_llm.queue_text("truncated", finish_reason="length")
    events = await collect(runtime_for(fake_llm.base_url))
    assert events[-1].finish_reason == "length"


async def test_tool_call_cut_by_length_is_rejected(fake_llm) -> None:
    fake_llm.queue_chunks([chunk({"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                                                  "function": {"name": "search_posts", "arguments": '{"q": "ja'}}]}),
                           chunk({}, "length")])
    done = (await collect(runtime_for(fake_llm.base_url), tools=[SEARCH]))[-1]
    assert done.tool_calls == [] and done.rejected_calls[0].raw_arguments == '{"q": "ja'
    assert done.finish_reason == "length"


async def test_tool_calls_with_finish_reason_stop_say_tool_calls(fake_llm) -> None:
    chunks = [c for c in chunks_for_tool_calls([("search_posts", {"q": "jazz"})]) if c["choices"]]
    chunks[-1]["choices"][0]["finish_reason"] = "stop"  # as some llama.cpp and Ollama versions do
    fake_llm.queue_chunks(chunks)
    done = (await collect(runtime_for(fake_llm.base_url), tools=[SEARCH]))[-1]
    assert done.finish_reason == "tool_calls" and done.usage is None
    assert [(c.name, c.arguments) for c in done.tool_calls] == [("search_posts", {"q": "jazz"})]


async def test_server_ignoring_stream_true_still_works(fake_llm) -> None:
    fake_llm.queue(Script(stream=False, message=message_for("whole answer", [("search_posts", {"q": "jazz"})]),
                          finish_reason="tool_calls"))
    events = await collect(runtime_for(fake_llm.base_url), tools=[SEARCH])
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["whole answer"]
    assert [(c.id, c.name, c.arguments) for c in events[-1].tool_calls] == [("call_0", "search_posts", {"q": "jazz"})]


async def test_trimming_is_reported_first_with_counts(fake_llm) -> None:
    old = []
    for i in range(6):
        old += [ChatMessage("user", f"question {i} " + "x" * 200), ChatMessage("assistant", f"answer {i} " + "y" * 200)]
    messages = [ChatMessage("system", "Be brief."), *old, ChatMessage("user", "and now?")]
    events = await collect(runtime_for(fake_llm.base_url, context_window=400), messages, max_tokens=100)
    trimmed = events[0]
    assert isinstance(trimmed, Trimmed) and trimmed.context_window == 400
    sent = fake_llm.requests[0]["messages"]
    assert trimmed.dropped_messages == len(messages) - len(sent) > 0
    dropped = messages[1:1 + trimmed.dropped_messages]
    assert trimmed.dropped_tokens == sum(estimate_tokens(message_text(m)) for m in dropped)
    assert sent[0] == {"role": "system", "content": "Be brief."} and sent[1]["role"] == "user"
    assert sent[-1] == {"role": "user", "content": "and now?"}


async def test_no_trimmed_event_when_it_fits(fake_llm) -> None:
    events = await collect(runtime_for(fake_llm.base_url))
    assert not any(isinstance(e, Trimmed) for e in events)


async def test_malformed_arguments_never_reach_the_next_request(fake_llm) -> None:
    bad, fixable = "search for jazz please", '{"q": "blues",'
    fake_llm.queue_chunks([chunk({"tool_calls": [{"index": 0, "id": "call_bad", "type": "function",
                                                  "function": {"name": "search_posts", "arguments": bad}}]}),
                           chunk({"tool_calls": [{"index": 1, "id": "call_ok", "type": "function",
                                                  "function": {"name": "search_posts", "arguments": fixable}}]}),
                           chunk({}, "tool_calls")])
    fake_llm.queue_text("Found some blues.")
    runtime = runtime_for(fake_llm.base_url)
    history = [ChatMessage("user", "find jazz and blues")]
    first = (await collect(runtime, history, [SEARCH]))[-1]
    assert [r.id for r in first.rejected_calls] == ["call_bad"]
    history += [ChatMessage("assistant", first.content or None, tool_calls=first.tool_calls),
                *(ChatMessage("tool", "[]", tool_call_id=c.id) for c in first.tool_calls)]
    await collect(runtime, history, [SEARCH])
    second = fake_llm.requests[1]
    assert bad not in json.dumps(second) and "call_bad" not in json.dumps(second)
    [call] = second["messages"][1]["tool_calls"]
    assert call["id"] == "call_ok" and json.loads(call["function"]["arguments"]) == {"q": "blues"}


async def test_aclose_closes_the_http_stream(fake_llm) -> None:
    fake_llm.queue_text("a long and slow answer " * 4, n=40, delay=0.05)
    runtime = runtime_for(fake_llm.base_url)
    async with aclosing(runtime.stream_chat(HELLO)) as events:
        async for event in events:
            if isinstance(event, TextDelta):
                break
    record = fake_llm.streams[0]
    assert record.ended.wait(1) and not record.complete and record.sent < 10
    await runtime.aclose()


async def test_cancelling_the_task_closes_the_http_stream(fake_llm) -> None:
    fake_llm.queue_text("a long and slow answer " * 4, n=40, delay=0.05)
    runtime = runtime_for(fake_llm.base_url)
    first = asyncio.Event()

    async def consume() -> None:
        async for event in runtime.stream_chat(HELLO):
            if isinstance(event, TextDelta):
                first.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first.wait(), 2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    record = fake_llm.streams[0]
    assert record.ended.wait(1) and not record.complete and record.sent < 10
    await runtime.aclose()


async def test_list_models_and_embeddings(fake_llm) -> None:
    fake_llm.models = ["llama3.2:latest", "nomic-embed-text:latest"]
    runtime = runtime_for(fake_llm.base_url)
    try:
        assert await runtime.list_models() == ["llama3.2:latest", "nomic-embed-text:latest"]
        vectors = await runtime.embed(["jazz", "blues", "jazz"], model="nomic-embed-text")
    finally:
        await runtime.aclose()
    assert len(vectors) == 3 and vectors[0] == vectors[2] != vectors[1] and len(vectors[0]) == 8
    assert fake_llm.calls == ["GET /v1/models", "POST /v1/embeddings"]


async def test_list_models_unreachable() -> None:
    runtime = runtime_for(f"http://127.0.0.1:{free_port()}/v1")
    with pytest.raises(LLMUnavailable, match="cannot reach"):
        await runtime.list_models()
    await runtime.aclose()
