"""A `ChatRuntime` over any OpenAI-compatible HTTP server: Ollama, llama.cpp `llama-server --jinja`, vLLM,
LM Studio. Streams `/chat/completions` as server-sent events and turns every way it can fail (unreachable,
loading, wrong URL or model, a crash mid-answer, a stalled stream) into an `LLMError` that says what to do.

Retries happen only while nothing of the answer has arrived (connection refused, 502/503); a stream that
has begun is never sent again, so a model's answer is never doubled.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable
from typing import Any, TypeVar

import httpx
from httpx_sse import EventSource, SSEError

from hearth.llm.context import TokenCounter, estimate_tokens, fit_to_window
from hearth.llm.toolcalls import ToolCallAssembler
from hearth.llm.types import (
    HOW_TO_CONNECT,
    ChatMessage,
    Completion,
    LLMError,
    LLMUnavailable,
    StreamEvent,
    TextDelta,
    ToolSpec,
    Usage,
)

T = TypeVar("T")
RETRY_STATUSES = (502, 503)  # a proxy without its backend, a server still loading the model
_DONE = object()


def default_answer_tokens(context_window: int) -> int:
    """Room kept for the answer when the caller sets no max_tokens."""
    return min(1024, context_window // 4)


def error_message(body: str) -> str:
    """The readable part of an error body: OpenAI's {"error": {"message"}}, {"error": "..."}, {"detail"}, text."""
    try:
        data = json.loads(body)
    except ValueError:
        return body.strip()[:500] or "(empty answer)"
    if isinstance(data, dict):
        error = data.get("error", data.get("detail", data.get("message")))
        if isinstance(error, dict):
            return str(error.get("message") or json.dumps(error))[:500]
        if error is not None:
            return str(error)[:500]
    return body.strip()[:500]


class OpenAIHTTPRuntime:
    """One OpenAI-compatible server at `base_url` (used exactly as given, e.g. http://127.0.0.1:11434/v1)."""

    kind = "http"

    def __init__(self, *, name: str = "default", base_url: str, model: str | None = None,
                 api_key: str | None = None, timeout_seconds: float = 120.0, connect_retries: int = 2,
                 context_window: int = 8192, backoff_seconds: float = 0.5,
                 count_tokens: TokenCounter = estimate_tokens) -> None:
        base_url = base_url.strip().rstrip("/")
        if not base_url.startswith(("http://", "https://")):
            raise LLMUnavailable(f"the model server URL must start with http:// or https://, not {base_url!r}; "
                                 f"{HOW_TO_CONNECT}")
        self.name = name
        self.base_url = base_url
        self.model = model or ""
        self.api_key = api_key
        self.timeout_seconds = timeout_seconds
        self.connect_retries = connect_retries
        self.context_window = context_window
        self.backoff_seconds = backoff_seconds
        self.count_tokens = count_tokens
        self._client: httpx.AsyncClient | None = None

    def _http(self) -> httpx.AsyncClient:
        """Made on first use, so a runtime can be built outside the event loop that will use it."""
        if self._client is None:
            headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
            timeout = httpx.Timeout(self.timeout_seconds, connect=min(self.timeout_seconds, 10.0))
            self._client = httpx.AsyncClient(headers=headers, timeout=timeout)
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    @property
    def _model_setting(self) -> str:
        return "HEARTH_LLM_MODEL" if self.name == "default" else f"the model of {self.name!r} in HEARTH_LLM_RUNTIMES"

    def _timed_out(self) -> LLMError:
        return LLMError(f"the model server at {self.base_url} timed out after {self.timeout_seconds:g} s "
                        "(raise HEARTH_LLM_TIMEOUT_SECONDS for slow hardware, or use a smaller model)")

    async def _before(self, deadline: float, awaitable: Awaitable[T]) -> T:
        """`awaitable`, or LLMError once the request's overall deadline has passed."""
        try:
            async with asyncio.timeout_at(deadline):
                return await awaitable
        except (TimeoutError, httpx.TimeoutException) as e:
            raise self._timed_out() from e

    async def _send(self, method: str, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        """The response (streaming, status < 400), after retrying what failed before any byte of an answer."""
        client = self._http()
        url = f"{self.base_url}{path}"
        attempts = self.connect_retries + 1
        headers = {"Accept": "text/event-stream"} if body and body.get("stream") else {}
        problem, busy = "", False
        tries = f"{attempts} attempt{'s' if attempts > 1 else ''}"
        for attempt in range(attempts):
            if attempt:
                await asyncio.sleep(self.backoff_seconds * 2 ** (attempt - 1))
            try:
                response = await client.send(client.build_request(method, url, json=body, headers=headers),
                                             stream=True)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError) as e:
                problem, busy = str(e) or type(e).__name__, False
                continue
            if response.status_code < 400:
                return response
            try:
                text = (await response.aread()).decode("utf-8", errors="replace")
            finally:
                await response.aclose()
            if response.status_code not in RETRY_STATUSES:
                raise self._http_error(response.status_code, error_message(text), url, body)
            problem, busy = f"it answered {response.status_code}: {error_message(text)}", True
        if busy:
            raise LLMUnavailable(f"the model server at {self.base_url} is not ready ({problem}, {tries}); it may "
                                 "still be loading the model, try again in a moment")
        raise LLMUnavailable(f"cannot reach the model server at {url} ({problem}; {tries}). "
                             f"Is it running? {HOW_TO_CONNECT}")

    def _http_error(self, status: int, message: str, url: str, body: dict[str, Any] | None) -> LLMError:
        model = (body or {}).get("model") or self.model
        if status == 404 and "model" in message.lower():
            return LLMError(f"the model server at {self.base_url} has no model {model!r} ({message}): run "
                            f"`ollama pull {model}`, or set {self._model_setting} to a model it has "
                            "(`hearth llm check` lists them)")
        if status == 404 and not self.base_url.endswith("/v1"):
            return LLMError(f"the model server answered 404 for {url} ({message}): did you mean "
                            f"{self.base_url}/v1? (HEARTH_LLM_BASE_URL is used exactly as given)")
        if status in (401, 403):
            return LLMError(f"the model server at {self.base_url} refused the request ({status}: {message}); "
                            "check the API key (HEARTH_LLM_API_KEY)")
        return LLMError(f"the model server at {url} answered {status}: {message}")

    async def _json(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        deadline = asyncio.get_running_loop().time() + self.timeout_seconds

        async def fetch() -> Any:
            response = await self._send(method, path, body)
            try:
                return json.loads(await response.aread())
            except ValueError as e:
                raise LLMError(f"the model server at {self.base_url}{path} did not answer with JSON") from e
            finally:
                await response.aclose()

        return await self._before(deadline, fetch())

    async def list_models(self) -> list[str]:
        """The model ids the server offers (GET /models)."""
        data = await self._json("GET", "/models")
        items = data.get("data") if isinstance(data, dict) else None
        return [str(m["id"]) for m in items or [] if isinstance(m, dict) and "id" in m]

    async def embed(self, texts: list[str], model: str | None = None) -> list[list[float]]:
        """One vector per text (POST /embeddings), in the order given."""
        data = await self._json("POST", "/embeddings", {"model": model or self.model, "input": texts})
        items = sorted(data.get("data") or [], key=lambda d: d.get("index", 0)) if isinstance(data, dict) else []
        if len(items) != len(texts):
            raise LLMError(f"the model server sent {len(items)} embeddings for {len(texts)} texts")
        return [[float(x) for x in item["embedding"]] for item in items]

    async def stream_chat(self, messages: list[ChatMessage], tools: list[ToolSpec] | None = None, *,
                          max_tokens: int | None = None, temperature: float | None = None,
                          model: str | None = None) -> AsyncIterator[StreamEvent]:
        """Trimmed (if history was dropped), TextDelta per content piece, then one Completion.

        Stopping early (aclose, or cancelling the consuming task) closes the HTTP stream right away."""
        kept, trimmed = fit_to_window(messages, tools, self.context_window,
                                      max_tokens or default_answer_tokens(self.context_window), self.count_tokens)
        if trimmed is not None:
            yield trimmed
        body: dict[str, Any] = {"messages": [m.to_openai() for m in kept], "stream": True,
                                "stream_options": {"include_usage": True}}
        if model or self.model:
            body["model"] = model or self.model
        if tools:
            body["tools"] = [t.to_openai() for t in tools]
        if max_tokens is not None:
            body["max_tokens"] = max_tokens
        if temperature is not None:
            body["temperature"] = temperature
        deadline = asyncio.get_running_loop().time() + self.timeout_seconds
        response = await self._before(deadline, self._send("POST", "/chat/completions", body))
        chunks = _chunks(response)
        answer = _Answer()
        done = False
        try:
            while True:
                try:
                    chunk = await self._before(deadline, anext(chunks))
                except StopAsyncIteration:
                    break
                except (httpx.TransportError, SSEError) as e:
                    raise LLMError(f"the model server at {self.base_url} closed the stream early "
                                   f"({str(e) or type(e).__name__}); it may have crashed or run out of memory: "
                                   "see its log") from e
                if chunk is _DONE:
                    done = True
                    break
                if isinstance(chunk, dict) and chunk.get("error"):
                    raise LLMError(f"the model server at {self.base_url} failed while answering: "
                                   f"{error_message(json.dumps(chunk))}")
                for piece in answer.add(chunk):
                    yield TextDelta(piece)
        finally:
            await chunks.aclose()
            await response.aclose()
        if not done and answer.finish_reason is None:
            raise LLMError(f"the model server at {self.base_url} closed the stream early (no finish_reason, no "
                           "[DONE]); it may have crashed or run out of memory: see its log")
        yield answer.completion(body.get("model", ""))


class _Answer:
    """The answer as the chunks arrive: its text, tool calls, finish reason, usage and model."""

    def __init__(self) -> None:
        self.text: list[str] = []
        self.calls = ToolCallAssembler()
        self.finish_reason: str | None = None
        self.usage: Usage | None = None
        self.model = ""

    def add(self, chunk: Any) -> list[str]:
        """Take one chunk; returns its content pieces (to stream on)."""
        if not isinstance(chunk, dict):
            return []
        self.model = chunk.get("model") or self.model
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            self.usage = Usage(int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0))
        pieces = []
        for choice in chunk.get("choices") or []:
            if not isinstance(choice, dict) or (choice.get("index") or 0) != 0:
                continue  # only the first choice is asked for
            delta = choice.get("delta") or {}
            content = delta.get("content")
            if isinstance(content, str) and content:
                pieces.append(content)
            self.calls.feed(delta.get("tool_calls"))
            self.finish_reason = choice.get("finish_reason") or self.finish_reason
        self.text += pieces
        return pieces

    def completion(self, asked_model: str) -> Completion:
        """finish_reason is "tool_calls" whenever calls came through (some servers say "stop")."""
        calls, rejected = self.calls.finish(truncated=self.finish_reason == "length")
        finish = "tool_calls" if calls else self.finish_reason or "stop"
        return Completion(content="".join(self.text), tool_calls=calls, rejected_calls=rejected,
                          finish_reason="stop" if finish == "tool_calls" and not calls else finish,
                          usage=self.usage, model=self.model or asked_model)

async def _chunks(response: httpx.Response) -> AsyncIterator[Any]:
    """Each JSON chunk of the event stream, then `_DONE` at `data: [DONE]`. A server that ignored
    `stream: true` and sent one JSON completion is read as a single chunk holding the whole message."""
    content_type = response.headers.get("content-type", "")
    if "text/event-stream" not in content_type:
        raw = await response.aread()
        try:
            whole = json.loads(raw)
        except ValueError as e:
            raise LLMError(f"the model server sent {content_type or 'an unknown content type'}, not an event "
                           f"stream: {raw[:200]!r}") from e
        if isinstance(whole, dict):
            whole = {**whole, "choices": [{**c, "delta": c.get("message") or {}} for c in whole.get("choices") or []
                                          if isinstance(c, dict)]}
        yield whole
        yield _DONE
        return
    async for event in EventSource(response).aiter_sse():
        data = event.data.strip()
        if not data:
            continue
        if data == "[DONE]":
            yield _DONE
            return
        try:
            yield json.loads(data)
        except ValueError as e:
            raise LLMError(f"the model server sent a chunk that is not JSON: {data[:200]!r}") from e
