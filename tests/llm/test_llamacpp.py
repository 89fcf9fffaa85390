"""The in-process GGUF runtime for real: a tiny random-weight Llama, built by transformers and written as GGUF
by scripts/make_tiny_gguf.py, loaded and run by llama-cpp-python through `LlamaCppRuntime`.

Its words are nonsense, so these tests check the plumbing: deltas, the one Completion and its usage, tools,
trimming, cancellation, timeouts, and the errors that say what to do. Without llama-cpp-python they skip on
a developer machine and fail on CI (env CI set), where the dev extra installs it.
"""

from __future__ import annotations

import asyncio
import importlib.util
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import REPO, _unavailable  # tests/conftest.py

from hearth.llm.context import fit_to_window, message_text
from hearth.llm.llamacpp import LlamaCppRuntime, _TaggedCalls
from hearth.llm.types import ChatMessage, Completion, LLMError, LLMUnavailable, TextDelta, ToolSpec, Trimmed

LOOKUP = ToolSpec("lookup", "Look a word up.", {"type": "object", "properties": {"word": {"type": "string"}},
                                                "required": ["word"]})


def _llama_cpp() -> Any:
    try:
        import llama_cpp
    except ImportError as exc:
        _unavailable(f"llama-cpp-python is not installed ({exc}): pip install -e '.[dev]' builds it")
    return llama_cpp


def _make_tiny_gguf_module() -> Any:
    spec = importlib.util.spec_from_file_location("make_tiny_gguf", REPO / "scripts" / "make_tiny_gguf.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tiny() -> Any:
    return _make_tiny_gguf_module()


@pytest.fixture(scope="module")
def tiny_model(tiny: Any) -> Any:
    try:
        import transformers  # noqa: F401
    except ImportError as exc:
        _unavailable(f"the tiny model is built with transformers, which is not installed ({exc}; dev extra)")
    return tiny.tiny_llama_model()


@pytest.fixture(scope="module")
def llama_cpp() -> Any:
    return _llama_cpp()


@pytest.fixture(scope="module")
def gguf_path(llama_cpp: Any, tiny: Any, tiny_model: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built once per module, into a temporary folder: a few seconds, most of them importing transformers."""
    return tiny.make_tiny_gguf(tmp_path_factory.mktemp("gguf") / "tiny-llama.gguf", tiny_model)


def _runtime(path: Path, **kwargs: Any) -> LlamaCppRuntime:
    kwargs.setdefault("context_window", 512)
    return LlamaCppRuntime("default", path, threads=1, **kwargs)


async def _events(runtime: LlamaCppRuntime, messages: list[ChatMessage], **kwargs: Any) -> list[Any]:
    kwargs.setdefault("temperature", 0.0)
    return [event async for event in runtime.stream_chat(messages, **kwargs)]


def _prompt_tokens(runtime: LlamaCppRuntime, messages: list[ChatMessage], tools: list[ToolSpec] | None = None) -> int:
    """What the GGUF's own template makes of the messages, counted by its tokenizer."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    llm = runtime._llama
    formatter = Jinja2ChatFormatter(llm.metadata["tokenizer.chat_template"], eos_token="<|im_end|>", bos_token="<s>")
    prompt = formatter(messages=[m.to_openai() for m in messages],
                       tools=[t.to_openai() for t in tools] if tools else None).prompt
    return len(llm.tokenize(prompt.encode(), add_bos=False, special=True))


def test_the_gguf_computes_what_the_transformers_model_computes(llama_cpp: Any, gguf_path: Path,
                                                               tiny_model: Any) -> None:
    """The conversion is right (names, shapes, the rotary q/k permutation), not merely loadable."""
    import torch

    llm = llama_cpp.Llama(model_path=str(gguf_path), n_ctx=128, n_threads=1, logits_all=True, verbose=False)
    tokens = llm.tokenize(b"<|im_start|>user\nHello, world! How are you?<|im_end|>", add_bos=False, special=True)
    assert tokens[0] == 2 and tokens[-1] == 3  # the ChatML markers are single special tokens
    llm.eval(tokens)
    ours = np.asarray(llm.scores[: len(tokens)])
    with torch.no_grad():
        reference = tiny_model(torch.tensor([tokens])).logits[0].numpy()
    assert np.abs(ours - reference).max() < 1e-2 < np.abs(reference).max()
    llm.close()


async def test_streams_deltas_then_one_completion_with_usage(gguf_path: Path) -> None:
    runtime = _runtime(gguf_path)
    messages = [ChatMessage("system", "Be brief."), ChatMessage("user", "Hello there")]
    events = await _events(runtime, messages, max_tokens=8)
    *deltas, completion = events
    assert isinstance(completion, Completion)
    assert deltas and all(isinstance(d, TextDelta) and d.text for d in deltas)
    assert "".join(d.text for d in deltas) == completion.content
    assert completion.finish_reason == "length"
    assert completion.usage is not None
    assert completion.usage.completion_tokens == 8
    assert completion.usage.prompt_tokens == _prompt_tokens(runtime, messages)
    assert completion.model == "tiny-llama" and completion.tool_calls == [] == completion.rejected_calls
    assert await runtime.list_models() == ["tiny-llama"]
    # The trained context (16384) caps the window asked for.
    assert runtime.context_window == 512
    await runtime.aclose()
    big = _runtime(gguf_path, context_window=65536, model="tiny")
    assert isinstance((await _events(big, messages, max_tokens=2))[-1], Completion)
    assert big.context_window == 16384 and await big.list_models() == ["tiny"]
    await big.aclose()


async def test_tools_go_to_the_template(gguf_path: Path) -> None:
    runtime = _runtime(gguf_path)
    messages = [ChatMessage("user", "What does 'hearth' mean?")]
    events = await _events(runtime, messages, tools=[LOOKUP], max_tokens=8)
    completion = events[-1]
    assert isinstance(completion, Completion) and sum(isinstance(e, Completion) for e in events) == 1
    assert completion.usage.prompt_tokens == _prompt_tokens(runtime, messages, [LOOKUP])
    assert completion.usage.prompt_tokens > _prompt_tokens(runtime, messages) + 20  # the tool was rendered
    # A history with a call and its result renders too (arguments go to the template as an object).
    from hearth.llm.types import ToolCall

    call = ToolCall("call_1", "lookup", {"word": "hearth"})
    history = messages + [ChatMessage("assistant", None, tool_calls=[call]),
                          ChatMessage("tool", '{"meaning": "fireplace"}', tool_call_id="call_1")]
    assert isinstance((await _events(runtime, history, tools=[LOOKUP], max_tokens=4))[-1], Completion)
    await runtime.aclose()


async def test_a_long_conversation_is_trimmed_and_said_so(gguf_path: Path) -> None:
    runtime = _runtime(gguf_path, context_window=256)
    messages = [ChatMessage("system", "Be brief.")]
    for i in range(12):
        messages += [ChatMessage("user", f"Question number {i}: what is the weather?"),
                     ChatMessage("assistant", f"Answer number {i}: sunny with a chance of rain.")]
    messages.append(ChatMessage("user", "And tomorrow?"))
    events = await _events(runtime, messages, max_tokens=8)
    trimmed, completion = events[0], events[-1]
    assert isinstance(trimmed, Trimmed) and isinstance(completion, Completion)
    assert sum(isinstance(e, Trimmed) for e in events) == 1

    llm = runtime._llama  # the same tokenizer, to check the counts independently of the runtime

    def count(text: str) -> int:
        return len(llm.tokenize(text.encode(), add_bos=False, special=True))

    kept, expected = fit_to_window(messages, None, 256, 8, count)
    assert trimmed == expected and trimmed.context_window == 256
    assert trimmed.dropped_messages == len(messages) - len(kept) > 0
    dropped = [m for m in messages if m not in kept]
    assert trimmed.dropped_tokens == sum(count(message_text(m)) for m in dropped)
    assert kept[0].role == "system" and kept[1].role == "user" and kept[-1].content == "And tomorrow?"
    assert completion.usage.prompt_tokens == _prompt_tokens(runtime, kept)
    assert completion.usage.prompt_tokens + completion.usage.completion_tokens <= 256
    await runtime.aclose()


async def _released(runtime: LlamaCppRuntime, within: float) -> float:
    """Seconds until no generation holds the model (the worker thread has stopped)."""
    started = time.monotonic()
    while runtime._generate_lock.locked():
        assert time.monotonic() - started < within, "the worker thread is still generating"
        await asyncio.sleep(0.01)
    return time.monotonic() - started


async def test_breaking_off_stops_the_generation(gguf_path: Path) -> None:
    runtime = _runtime(gguf_path, context_window=2048)
    messages = [ChatMessage("user", "Tell me a long story.")]
    started = time.monotonic()
    async for event in runtime.stream_chat(messages, temperature=0.0):  # no max_tokens: up to 2000 tokens
        assert isinstance(event, TextDelta)
        break
    assert time.monotonic() - started < 5
    await _released(runtime, within=5)
    events = await _events(runtime, messages, max_tokens=4)  # the model is free again
    assert isinstance(events[-1], Completion) and events[-1].usage.completion_tokens == 4
    await runtime.aclose()


async def test_a_timeout_is_an_error_and_stops_the_generation(gguf_path: Path) -> None:
    runtime = _runtime(gguf_path, context_window=2048, timeout_seconds=0.5)
    await _events(runtime, [ChatMessage("user", "Hi")], max_tokens=1)  # loaded: loading is not timed
    with pytest.raises(LLMError, match="within 0.5 s"):
        await _events(runtime, [ChatMessage("user", "Tell me a long story.")])
    await _released(runtime, within=5)
    runtime.timeout_seconds = 30
    assert isinstance((await _events(runtime, [ChatMessage("user", "Hi")], max_tokens=2))[-1], Completion)
    await runtime.aclose()


async def test_closing_frees_the_model_and_a_later_request_loads_it_again(gguf_path: Path) -> None:
    runtime = _runtime(gguf_path)
    await _events(runtime, [ChatMessage("user", "Hi")], max_tokens=1)
    assert runtime._llama is not None
    await runtime.aclose()
    assert runtime._llama is None
    assert isinstance((await _events(runtime, [ChatMessage("user", "Hi")], max_tokens=1))[-1], Completion)
    await runtime.aclose()


async def test_a_missing_or_broken_file_is_unavailable_naming_it(gguf_path: Path, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.gguf"
    with pytest.raises(LLMUnavailable, match="nowhere.gguf"):
        await _events(_runtime(missing), [ChatMessage("user", "Hi")])
    garbage = tmp_path / "garbage.gguf"
    garbage.write_bytes(b"GGUF" + b"\x00" * 60)
    truncated = tmp_path / "truncated.gguf"  # an interrupted download
    truncated.write_bytes(gguf_path.read_bytes()[: gguf_path.stat().st_size // 2])
    for broken in (garbage, truncated):
        with pytest.raises(LLMUnavailable, match=broken.name):
            await _events(_runtime(broken), [ChatMessage("user", "Hi")])


async def test_without_llama_cpp_it_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "llama_cpp", None)
    with pytest.raises(LLMUnavailable, match=r"pip install 'hearth\[llm-local\]'"):
        await _events(_runtime(tmp_path / "any.gguf"), [ChatMessage("user", "Hi")])


def test_hermes_style_calls_are_taken_out_of_the_text() -> None:
    tagged = _TaggedCalls()
    pieces = ["Let me look", " that up. <tool", '_call>{"name": "lookup", "arg', 'uments": {"word": "hearth"}}</tool_',
              "call>\n<tool_call>not json</tool_call> Done <", "b>"]
    shown = "".join(tagged.feed(p) for p in pieces) + tagged.finish()
    assert shown == "Let me look that up. \n Done <b>"
    from hearth.llm.toolcalls import ToolCallAssembler

    assembler = ToolCallAssembler()
    assembler.feed(tagged.as_deltas())
    calls, rejected = assembler.finish()
    assert [(c.name, c.arguments) for c in calls] == [("lookup", {"word": "hearth"})]
    assert len(rejected) == 1 and rejected[0].raw_arguments == "not json"
    cut_off = _TaggedCalls()
    assert cut_off.feed('<tool_call>{"name": "lookup", "arguments": {"word": "x"}}') == ""
    assert cut_off.finish() == "" and len(cut_off.as_deltas()) == 1
