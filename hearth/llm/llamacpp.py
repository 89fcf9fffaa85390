"""An in-process GGUF model through llama-cpp-python (the `llm-local` extra), for machines without a server.

llama-cpp-python is imported only when the model is first used, so the rest of Hearth runs without it.
Its calls block, and a llama.cpp context is not re-entrant: loading and generating run in worker threads,
one generation at a time per model, and the tokens cross to the event loop through a queue. A consumer
that stops iterating (or the timeout) stops the generation at the next token instead of leaving a thread
generating into the void.

Chat format: the model's own Jinja template (the GGUF's `tokenizer.chat_template`), always. By default
llama-cpp-python replaces a template that it recognises (ChatML, Llama 3, Mistral) with a built-in
formatter that drops `tools`; we select the "chat_template.default" handler instead, which renders the
template with `tools` as Hugging Face templates expect, so a tool-capable model (Qwen 2.5/3, Hermes,
Llama 3.1+) sees the tools in its own format, and a template without tool support just ignores them.
"chatml-function-calling" was rejected: it overrides the model's template with its own prompt and raises
"Automatic streaming tool choice is not supported" for a streamed request with tools. The generic handler
does not parse tool calls out of the text, so calls written in the Hermes convention,
`<tool_call>{"name": ..., "arguments": {...}}</tool_call>` (Qwen, Hermes and the templates derived from
them), are taken out of the streamed text here (only when tools were offered) and assembled like any
streamed `delta.tool_calls` (which go to the same assembler whenever llama-cpp-python produces them).
Other conventions, such as Llama 3.1's bare `{"name": ..., "parameters": ...}`, come through as text. A GGUF
without a template gets llama-cpp-python's fallback format, which ignores tools.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from hearth.llm.context import fit_to_window
from hearth.llm.toolcalls import ToolCallAssembler, new_call_id
from hearth.llm.types import (
    ChatMessage,
    Completion,
    LLMError,
    LLMUnavailable,
    StreamEvent,
    TextDelta,
    ToolSpec,
    Usage,
)

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'hearth[llm-local]'"
TEMPLATE_HANDLER = "chat_template.default"  # llama-cpp-python's name for the GGUF's own chat template
CALL_OPEN, CALL_CLOSE = "<tool_call>", "</tool_call>"


def _import_llama_cpp() -> Any:
    """llama_cpp, or LLMUnavailable saying how to install it (it is an optional, compiled dependency)."""
    try:
        import llama_cpp
    except ImportError as exc:
        raise LLMUnavailable(
            f"running a GGUF model in-process needs llama-cpp-python, which is not installed: {INSTALL_HINT} "
            f"(it builds llama.cpp, a few minutes), or point HEARTH_LLM_BASE_URL at a server instead ({exc})"
        ) from exc
    except (OSError, RuntimeError) as exc:  # installed, but its shared library does not load
        raise LLMUnavailable(
            f"llama-cpp-python is installed but cannot load llama.cpp ({exc}); reinstall it: "
            f"pip install --force-reinstall --no-cache-dir llama-cpp-python"
        ) from exc
    if logging.getLogger("llama-cpp-python").level == logging.NOTSET:
        logging.getLogger("llama-cpp-python").setLevel(logging.ERROR)  # llama.cpp's load chatter otherwise
    return llama_cpp


class _TokenHook:
    """A logits processor, called by llama-cpp-python once per sampled token with the ids so far (prompt
    included). It counts (a stream reports no usage, and its chunks are text, not tokens), and it ends a
    generation nobody waits for by allowing only the end-of-generation token: llama-cpp-python holds back
    chunks (an unfinished UTF-8 character, a possible stop string), so checking between chunks alone could
    leave it generating for a long time."""

    def __init__(self, stop: threading.Event, deadline: float, end_token: int) -> None:
        self.stop = stop
        self.deadline = deadline
        self.end_token = end_token
        self.prompt_tokens = 0
        self.sampled = 0

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        if self.sampled == 0:
            self.prompt_tokens = len(input_ids)
        self.sampled += 1
        if self.end_token >= 0 and (self.stop.is_set() or time.monotonic() > self.deadline):
            scores[:] = -float("inf")
            scores[self.end_token] = 0.0
        return scores


class _TaggedCalls:
    """Splits streamed text into what the user sees and Hermes-style `<tool_call>...</tool_call>` blocks,
    holding back only what could still turn out to be the start of a tag."""

    def __init__(self) -> None:
        self._pending = ""
        self._in_call = False
        self.calls: list[str] = []

    def feed(self, text: str) -> str:
        """The part of the text so far that is certainly plain text."""
        self._pending += text
        shown: list[str] = []
        while True:
            if self._in_call:
                end = self._pending.find(CALL_CLOSE)
                if end < 0:
                    return "".join(shown)
                self.calls.append(self._pending[:end])
                self._pending = self._pending[end + len(CALL_CLOSE):]
                self._in_call = False
                continue
            start = self._pending.find(CALL_OPEN)
            if start >= 0:
                shown.append(self._pending[:start])
                self._pending = self._pending[start + len(CALL_OPEN):]
                self._in_call = True
                continue
            keep = _partial_suffix(self._pending, CALL_OPEN)
            shown.append(self._pending[:len(self._pending) - keep])
            self._pending = self._pending[len(self._pending) - keep:]
            return "".join(shown)

    def finish(self) -> str:
        """The text still held back; an unclosed block is taken as a call (cut off by max_tokens, say)."""
        rest, self._pending = self._pending, ""
        if self._in_call:
            self.calls.append(rest)
            self._in_call = False
            return ""
        return rest

    def as_deltas(self) -> list[dict[str, Any]]:
        """The blocks as `delta.tool_calls` entries, for the shared assembler (which repairs or rejects them)."""
        deltas: list[dict[str, Any]] = []
        for raw in self.calls:  # each with an id of its own: never merged with another call
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
            if isinstance(body, dict) and isinstance(body.get("name"), str):
                arguments = body.get("arguments", body.get("parameters", {}))
                deltas.append({"id": new_call_id(), "function": {"name": body["name"], "arguments": arguments}})
            else:  # no parseable name: the assembler rejects it, with the raw text kept for the log
                deltas.append({"id": new_call_id(), "function": {"name": "", "arguments": raw.strip()}})
        return deltas


def _partial_suffix(text: str, tag: str) -> int:
    """Length of the longest end of `text` that is a proper beginning of `tag`."""
    for size in range(min(len(text), len(tag) - 1), 0, -1):
        if text.endswith(tag[:size]):
            return size
    return 0


def _template_message(message: ChatMessage) -> dict[str, Any]:
    """OpenAI-shaped, except that tool-call arguments are objects: GGUF chat templates come from Hugging Face,
    whose templates write them with `| tojson` (a JSON string would come out quoted twice)."""
    out = message.to_openai()
    if message.tool_calls:
        out["tool_calls"] = [{"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                             for c in message.tool_calls]
    return out


class LlamaCppRuntime:
    """A local .gguf file as a `ChatRuntime`: one model, loaded on first use, freed by `aclose()`.

    `context_window` is the n_ctx asked for; after loading it is capped at the model's trained context.
    `threads` is llama.cpp's thread count (None: its default, half the cores). `timeout_seconds` bounds
    each answer from the request to the last token (waiting for another answer on the same model
    included, loading not)."""

    def __init__(self, name: str, gguf_path: Path, model: str | None = None, context_window: int = 8192,
                 timeout_seconds: float = 120.0, threads: int | None = None) -> None:
        self.name = name
        self.gguf_path = Path(gguf_path).expanduser()
        self.model = model or self.gguf_path.stem
        self.context_window = context_window
        self.timeout_seconds = timeout_seconds
        self.threads = threads
        self._requested_window = context_window
        self._llama: Any = None
        self._load_lock = threading.Lock()
        self._generate_lock = threading.Lock()  # held by the thread generating; never by the event loop
        self._active: set[threading.Event] = set()

    # Loading

    def _ensure_loaded(self) -> Any:
        """The loaded `llama_cpp.Llama` (loading it once; blocking: call from a worker thread)."""
        with self._load_lock:
            if self._llama is None:
                self._llama = self._load()
            return self._llama

    def _load(self) -> Any:
        llama_cpp = _import_llama_cpp()
        path = self.gguf_path
        if not path.is_file():
            raise LLMUnavailable(f"the GGUF model file {path} does not exist (check HEARTH_LLM_GGUF_PATH)")
        started = time.monotonic()
        llm = self._open(llama_cpp, path, self._requested_window)
        trained = self._trained_context(llm)
        if trained and llm.n_ctx() > trained:  # more than it was trained for: garbage past that point
            llm.close()
            llm = self._open(llama_cpp, path, trained)
        if "tokenizer.chat_template" in llm.metadata:
            llm.chat_format = TEMPLATE_HANDLER  # the model's own template, tools included (module docstring)
        self.context_window = llm.n_ctx()
        log.info("loaded %s in %.1f s (context %d tokens, chat format %s)", path, time.monotonic() - started,
                 self.context_window, llm.chat_format)
        return llm

    def _open(self, llama_cpp: Any, path: Path, n_ctx: int) -> Any:
        try:
            return llama_cpp.Llama(model_path=str(path), n_ctx=n_ctx, n_threads=self.threads, verbose=False)
        except (ValueError, RuntimeError, OSError) as exc:
            raise LLMUnavailable(f"could not load the GGUF model {path}: {exc} (is it a complete .gguf file, "
                                 "of an architecture this llama-cpp-python supports?)") from exc

    @staticmethod
    def _trained_context(llm: Any) -> int:
        arch = llm.metadata.get("general.architecture", "")
        try:
            return int(llm.metadata.get(f"{arch}.context_length", 0))
        except ValueError:
            return 0

    # ChatRuntime

    async def list_models(self) -> list[str]:
        return [self.model]

    async def aclose(self) -> None:
        """Stop what is generating, then free the model (a later request loads it again)."""
        for stop in list(self._active):
            stop.set()
        await asyncio.to_thread(self._close)

    def _close(self) -> None:
        with self._generate_lock:
            with self._load_lock:
                llm, self._llama = self._llama, None
            if llm is not None:
                llm.close()

    async def stream_chat(self, messages: list[ChatMessage], tools: list[ToolSpec] | None = None, *,
                          max_tokens: int | None = None, temperature: float | None = None,
                          model: str | None = None) -> AsyncIterator[StreamEvent]:
        """Trimmed (when history was dropped), TextDeltas, then one Completion. `model` is ignored: this
        runtime has one model, the file's."""
        await asyncio.to_thread(self._ensure_loaded)
        loop = asyncio.get_running_loop()
        events: asyncio.Queue[StreamEvent | BaseException] = asyncio.Queue()
        stop = threading.Event()
        deadline = time.monotonic() + self.timeout_seconds

        def emit(item: StreamEvent | BaseException) -> None:
            try:
                loop.call_soon_threadsafe(events.put_nowait, item)
            except RuntimeError:  # the event loop is closed: nobody is listening any more
                stop.set()

        request = (list(messages), list(tools or []), max_tokens, temperature)
        worker = threading.Thread(target=self._worker, args=(request, emit, stop, deadline), daemon=True,
                                  name=f"llamacpp-{self.name}")
        self._active.add(stop)
        worker.start()
        try:
            while True:
                try:
                    item = await asyncio.wait_for(events.get(), max(deadline - time.monotonic(), 0.0))
                except TimeoutError:
                    raise LLMError(f"the local model {self.model} did not finish its answer within "
                                   f"{self.timeout_seconds:g} s (HEARTH_LLM_TIMEOUT_SECONDS)") from None
                if isinstance(item, BaseException):
                    raise item
                yield item
                if isinstance(item, Completion):
                    return
        finally:
            stop.set()  # the worker stops at its next token
            self._active.discard(stop)

    # The worker thread

    def _worker(self, request: tuple[list[ChatMessage], list[ToolSpec], int | None, float | None],
                emit: Callable[[StreamEvent | BaseException], None], stop: threading.Event, deadline: float) -> None:
        try:
            if not self._generate_lock.acquire(timeout=max(deadline - time.monotonic(), 0.0)):
                return  # still busy with another answer at the deadline: the consumer reports the timeout
            try:
                if not stop.is_set():
                    self._generate(self._ensure_loaded(), *request, emit=emit, stop=stop, deadline=deadline)
            finally:
                self._generate_lock.release()
        except LLMError as exc:
            emit(exc)
        except Exception as exc:  # llama.cpp or a chat template failed: the consumer gets it as an LLMError
            log.exception("local model %s failed", self.model)
            error = LLMError(f"the local model {self.model} failed: {type(exc).__name__}: {exc}")
            error.__cause__ = exc
            emit(error)

    def _generate(self, llm: Any, messages: list[ChatMessage], tools: list[ToolSpec], max_tokens: int | None,
                  temperature: float | None, *, emit: Callable[[StreamEvent | BaseException], None],
                  stop: threading.Event, deadline: float) -> None:
        def count_tokens(text: str) -> int:
            return len(llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))

        window = llm.n_ctx()
        reserve = max_tokens if max_tokens else min(1024, window // 4)
        kept, trimmed = fit_to_window(messages, tools or None, window, reserve, count_tokens)
        if trimmed is not None:
            emit(trimmed)

        counter = _TokenHook(stop, deadline, llm.token_eos())
        llama_cpp = _import_llama_cpp()
        kwargs: dict[str, Any] = {"messages": [_template_message(m) for m in kept], "stream": True,
                                  "max_tokens": max_tokens,
                                  "logits_processor": llama_cpp.LogitsProcessorList([counter])}
        if tools:
            kwargs["tools"] = [t.to_openai() for t in tools]
        if temperature is not None:
            kwargs["temperature"] = temperature

        text: list[str] = []
        tagged = _TaggedCalls() if tools else None  # without tools, "<tool_call>" is just text
        assembler = ToolCallAssembler()
        finish: str | None = None
        chunks = llm.create_chat_completion(**kwargs)
        try:
            for chunk in chunks:
                if stop.is_set() or time.monotonic() > deadline:
                    return  # nobody is waiting for the rest
                choice = chunk["choices"][0]
                delta = choice.get("delta") or {}
                content = delta.get("content") or ""
                shown = tagged.feed(content) if tagged is not None else content
                if shown:
                    text.append(shown)
                    emit(TextDelta(shown))
                assembler.feed(delta.get("tool_calls"))
                finish = choice.get("finish_reason") or finish
        finally:
            chunks.close()  # ends llama-cpp-python's generator (and its sampling loop) here
        if tagged is not None:
            rest = tagged.finish()
            if rest:
                text.append(rest)
                emit(TextDelta(rest))
            assembler.feed(tagged.as_deltas())
        calls, rejected = assembler.finish()
        if calls and finish in (None, "stop"):
            finish = "tool_calls"
        emit(Completion(content="".join(text), tool_calls=calls, rejected_calls=rejected,
                        finish_reason=finish or "stop", model=self.model,
                        usage=Usage(prompt_tokens=counter.prompt_tokens, completion_tokens=counter.sampled)))
