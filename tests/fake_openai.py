"""A scripted OpenAI-compatible model server for tests: the real wire protocol (HTTP, server-sent events)
on loopback, so the client code under test runs exactly as it does against Ollama or llama.cpp.

Tests queue one script per expected /v1/chat/completions request, in order; an empty queue answers "OK".
Every request body is recorded in `requests` (and its headers in `headers`) so tests can assert what was sent:

    fake_llm.queue_tool_calls([("search_posts", {"q": "jazz"})])   # as llama.cpp streams them
    fake_llm.queue_text("Here you go")                                # streamed in 3 chunks
    fake_llm.queue_chunks([...raw chunk dicts...], done=False)       # replay any quirk verbatim
    fake_llm.queue_error(503, "Loading model")                        # an HTTP error
    fake_llm.queue_text("slow", n=10, delay=0.2)                      # a slow stream
    fake_llm.queue_disconnect("half an ans", after=2)                 # connection dropped mid-answer
    fake_llm.queue_stream_error("out of memory", after=1)            # an {"error": ...} chunk mid-stream
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import socket
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

MODEL = "fake-model"
# (name, arguments) or (name, arguments, id); arguments as a dict, or a string sent verbatim (broken JSON).
CallSpec = tuple[str, dict[str, Any] | str] | tuple[str, dict[str, Any] | str, str]


def chunk(delta: dict[str, Any], finish_reason: str | None = None, model: str = MODEL) -> dict[str, Any]:
    """One chat.completion.chunk with a single choice."""
    return {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0, "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}]}


def usage_chunk(prompt_tokens: int, completion_tokens: int) -> dict[str, Any]:
    """The last chunk when the client asked for `stream_options.include_usage`: no choices, only usage."""
    return {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0, "model": MODEL, "choices": [],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens}}


def split_text(text: str, n: int) -> list[str]:
    """`text` in `n` nearly equal consecutive pieces (fewer when it is shorter than n)."""
    n = max(1, min(n, len(text)))
    size, extra = divmod(len(text), n)
    pieces, start = [], 0
    for i in range(n):
        end = start + size + (1 if i < extra else 0)
        pieces.append(text[start:end])
        start = end
    return [p for p in pieces if p]


def chunks_for_text(text: str, n: int = 3, *, finish_reason: str = "stop",
                    usage: tuple[int, int] | None = (10, 3)) -> list[dict[str, Any]]:
    """A plain streamed answer: role first, the text in `n` pieces, the finish reason, then usage."""
    out = [chunk({"role": "assistant", "content": ""})]
    out += [chunk({"content": piece}) for piece in split_text(text, n)]
    out.append(chunk({}, finish_reason))
    if usage is not None:
        out.append(usage_chunk(*usage))
    return out


def _call_parts(calls: Sequence[CallSpec]) -> list[tuple[str, str, str]]:
    out = []
    for i, spec in enumerate(calls):
        name, arguments = spec[0], spec[1]
        call_id = spec[2] if len(spec) > 2 else f"call_{i}"  # type: ignore[misc]
        out.append((call_id, name, arguments if isinstance(arguments, str) else json.dumps(arguments)))
    return out


def chunks_for_tool_calls(calls: Sequence[CallSpec], style: str = "llamacpp", *, text: str = "",
                          usage: tuple[int, int] | None = (10, 8)) -> list[dict[str, Any]]:
    """Tool calls streamed the way a given server does it (ids default to call_0, call_1, ...):

    - "llamacpp": id, type and name with empty arguments first, then the arguments in pieces (as OpenAI);
    - "ollama": each call complete (id, index, name, all arguments) in one chunk;
    - "vllm": as llamacpp, then the complete arguments of every call re-sent in one more delta (a quirk of
      some vLLM tool parsers, also seen from other servers)."""
    if style not in ("llamacpp", "ollama", "vllm"):
        raise ValueError(f"unknown style {style!r}")
    out = [chunk({"role": "assistant", "content": None if style == "llamacpp" else ""})]
    out += [chunk({"content": piece}) for piece in split_text(text, 2)] if text else []
    parts = _call_parts(calls)
    for i, (call_id, name, arguments) in enumerate(parts):
        if style == "ollama":
            out.append(chunk({"tool_calls": [{"id": call_id, "index": i, "type": "function",
                                              "function": {"name": name, "arguments": arguments}}]}))
            continue
        out.append(chunk({"tool_calls": [{"index": i, "id": call_id, "type": "function",
                                          "function": {"name": name, "arguments": ""}}]}))
        out += [chunk({"tool_calls": [{"index": i, "function": {"arguments": piece}}]})
                for piece in split_text(arguments, 3)]
    if style == "vllm":
        out += [chunk({"tool_calls": [{"index": i, "function": {"arguments": arguments}}]})
                for i, (_, _, arguments) in enumerate(parts)]
    out.append(chunk({}, "tool_calls"))
    if usage is not None:
        out.append(usage_chunk(*usage))
    return out


def message_for(text: str | None, calls: Sequence[CallSpec] = ()) -> dict[str, Any]:
    """The assistant message of a non-streamed answer."""
    message: dict[str, Any] = {"role": "assistant", "content": text}
    if calls:
        message["tool_calls"] = [{"id": i, "type": "function", "function": {"name": n, "arguments": a}}
                                 for i, n, a in _call_parts(calls)]
    return message


@dataclass
class Script:
    """The answer to one chat request."""

    chunks: list[dict[str, Any]] = field(default_factory=list)  # each sent as `data: {json}\n\n`
    done: bool = True  # end with `data: [DONE]`
    delay: float = 0.0  # seconds before each chunk
    disconnect_after: int | None = None  # drop the connection after this many chunks (no [DONE], no end)
    status: int = 200  # >= 400: answer `error_body` instead of a stream
    error_body: dict[str, Any] | str | None = None
    message: dict[str, Any] | None = None  # the answer when the request has stream false
    finish_reason: str = "stop"
    stream: bool | None = None  # None: as the request asks; False: one JSON answer even when asked to stream


@dataclass
class StreamRecord:
    """What happened to one streamed answer: chunks sent, and whether it ran to its end."""

    sent: int = 0
    complete: bool = False
    ended: threading.Event = field(default_factory=threading.Event)  # set when the stream stopped, either way


class _Disconnect(Exception):
    """Raised inside a stream to make the server drop the connection mid-answer."""


class _QuietDisconnects(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, _Disconnect)


class FakeOpenAI:
    """The server; `start()`/`stop()` or use it as a context manager. `base_url` ends in /v1."""

    def __init__(self, models: list[str] | None = None, api_key: str | None = None, port: int = 0) -> None:
        self.models = list(models) if models is not None else [MODEL]
        self.api_key = api_key
        self.port = port
        self.requests: list[dict[str, Any]] = []  # bodies of chat requests, in order
        self.headers: list[dict[str, str]] = []  # their headers
        self.calls: list[str] = []  # "METHOD /path" of every request, chat or not
        self.streams: list[StreamRecord] = []  # one per streamed chat answer
        self._scripts: deque[Script] = deque()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/v1"

    # Scripts, answered in the order queued.

    def queue(self, script: Script) -> None:
        self._scripts.append(script)

    def queue_text(self, text: str, n: int = 3, *, delay: float = 0.0, finish_reason: str = "stop") -> None:
        """A plain answer streamed in `n` chunks (or one JSON answer if the request is not streamed)."""
        self.queue(Script(chunks_for_text(text, n, finish_reason=finish_reason), delay=delay,
                          message=message_for(text), finish_reason=finish_reason))

    def queue_tool_calls(self, calls: Sequence[CallSpec], *, style: str = "llamacpp", text: str = "",
                         delay: float = 0.0) -> None:
        """Tool calls, e.g. [("search_posts", {"q": "jazz"})], streamed as `style` streams them."""
        self.queue(Script(chunks_for_tool_calls(calls, style, text=text), delay=delay,
                          message=message_for(text or None, calls), finish_reason="tool_calls"))

    def queue_chunks(self, chunks: list[dict[str, Any]], *, done: bool = True, delay: float = 0.0) -> None:
        """Raw chunks sent verbatim, then `data: [DONE]` unless done=False: replays any server's quirk."""
        self.queue(Script(list(chunks), done=done, delay=delay))

    def queue_error(self, status: int, message: str = "fake failure", *,
                    body: dict[str, Any] | str | None = None) -> None:
        """An HTTP error; the body is OpenAI's error JSON unless `body` is given (a string is sent as text)."""
        default = {"error": {"message": message, "type": "server_error", "code": status}}
        self.queue(Script(status=status, error_body=default if body is None else body))

    def queue_disconnect(self, text: str = "an answer cut short", after: int = 2, n: int = 5) -> None:
        """Start streaming `text` in `n` chunks, then drop the connection after `after` chunks."""
        self.queue(Script(chunks_for_text(text, n), done=False, disconnect_after=after))

    def queue_stream_error(self, message: str = "the model crashed", after: int = 1, text: str = "partial") -> None:
        """`after` chunks of an answer, then a `{"error": {...}}` chunk, then the end (no [DONE])."""
        chunks = chunks_for_text(text, 3, usage=None)[:after]
        chunks.append({"error": {"message": message, "type": "server_error", "code": 500}})
        self.queue(Script(chunks, done=False))

    @property
    def pending(self) -> int:
        return len(self._scripts)

    # Serving.

    def _authorized(self, request: Request) -> bool:
        return self.api_key is None or request.headers.get("authorization") == f"Bearer {self.api_key}"

    def _unauthorized(self) -> Response:
        return JSONResponse({"error": {"message": "Incorrect API key provided", "type": "invalid_request_error",
                                       "code": "invalid_api_key"}}, status_code=401)

    async def _chat(self, request: Request) -> Response:
        self.calls.append(f"POST {request.url.path}")
        body = await request.json()
        self.requests.append(body)
        self.headers.append(dict(request.headers))
        if not self._authorized(request):
            return self._unauthorized()
        script = self._scripts.popleft() if self._scripts else None
        if script is None:
            script = Script(chunks_for_text("OK", 1), message=message_for("OK"))
        if script.status >= 400:
            if isinstance(script.error_body, str):
                return PlainTextResponse(script.error_body, status_code=script.status)
            return JSONResponse(script.error_body, status_code=script.status)
        if not body.get("stream") or script.stream is False:
            return JSONResponse(self._whole(script))
        record = StreamRecord()
        self.streams.append(record)
        return StreamingResponse(self._stream(script, record), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache"})

    @staticmethod
    def _whole(script: Script) -> dict[str, Any]:
        message = script.message or message_for("".join(
            c["choices"][0]["delta"].get("content") or "" for c in script.chunks if c.get("choices")))
        return {"id": "chatcmpl-fake", "object": "chat.completion", "created": 0, "model": MODEL,
                "choices": [{"index": 0, "message": message, "finish_reason": script.finish_reason}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13}}

    @staticmethod
    async def _stream(script: Script, record: StreamRecord) -> AsyncIterator[bytes]:
        try:
            for i, item in enumerate(script.chunks):
                if script.disconnect_after is not None and i >= script.disconnect_after:
                    raise _Disconnect()
                if script.delay:
                    await asyncio.sleep(script.delay)
                yield f"data: {json.dumps(item)}\n\n".encode()
                record.sent += 1
            if script.disconnect_after is not None:
                raise _Disconnect()
            if script.done:
                yield b"data: [DONE]\n\n"
            record.complete = True
        finally:
            record.ended.set()

    async def _models(self, request: Request) -> Response:
        self.calls.append(f"GET {request.url.path}")
        if not self._authorized(request):
            return self._unauthorized()
        return JSONResponse({"object": "list", "data": [{"id": m, "object": "model", "created": 0,
                                                         "owned_by": "fake"} for m in self.models]})

    async def _embeddings(self, request: Request) -> Response:
        self.calls.append(f"POST {request.url.path}")
        if not self._authorized(request):
            return self._unauthorized()
        body = await request.json()
        texts = [body["input"]] if isinstance(body["input"], str) else list(body["input"])
        return JSONResponse({"object": "list", "model": body.get("model") or MODEL,
                             "data": [{"object": "embedding", "index": i, "embedding": embedding(t)}
                                      for i, t in enumerate(texts)],
                             "usage": {"prompt_tokens": len(texts), "total_tokens": len(texts)}})

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/v1/chat/completions", self._chat, methods=["POST"]),
                                 Route("/v1/models", self._models, methods=["GET"]),
                                 Route("/v1/embeddings", self._embeddings, methods=["POST"])])

    def start(self) -> FakeOpenAI:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        sock.listen(64)
        self.port = sock.getsockname()[1]
        logging.getLogger("uvicorn.error").addFilter(_QUIET)
        config = uvicorn.Config(self.app(), log_config=None, log_level="warning", lifespan="off", http="h11",
                                ws="none", timeout_graceful_shutdown=1)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True,
                                        name=f"fake-openai-{self.port}")
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the fake OpenAI server did not start")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._server.force_exit = True
            self._thread.join(10)
        self._server = self._thread = None

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


_QUIET = _QuietDisconnects()


def embedding(text: str, dim: int = 8) -> list[float]:
    """A deterministic vector for `text` (from its SHA-256), in [-1, 1]."""
    digest = hashlib.sha256(text.encode()).digest()
    return [round((b - 127.5) / 127.5, 6) for b in digest[:dim]]


def free_port() -> int:
    """A loopback port free right now (for starting a server later, at a known address)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
