"""POSTs to an OpenAI-compatible audio server (speaches, whisper.cpp server, LocalAI, Kokoro-FastAPI), with
the same failure handling as the LLM runtime (hearth/llm/openai_http.py): retries with backoff only while
the server cannot be reached or is still loading (connection refused, 502/503), one deadline for the
whole request, and every failure turned into an error that says what to set or start.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from hearth.llm.openai_http import error_message
from hearth.voice.types import InvalidInput, TooLarge, VoiceError, VoiceUnavailable

RETRY_STATUSES = (502, 503)


class AudioServer:
    """One server at `base_url`, used exactly as given (e.g. http://127.0.0.1:8000/v1).

    `prefix` names its settings in messages (HEARTH_STT or HEARTH_TTS); `what` names it ("the transcription
    server"); `how_to` is appended when it cannot be reached."""

    def __init__(self, *, base_url: str, api_key: str | None, timeout_seconds: float, connect_retries: int,
                 prefix: str, what: str, how_to: str, backoff_seconds: float = 0.5) -> None:
        base_url = base_url.strip().rstrip("/")
        if not base_url.startswith(("http://", "https://")):
            raise VoiceUnavailable(f"{prefix}_BASE_URL must start with http:// or https://, not {base_url!r}; "
                                   f"{how_to}")
        self.base_url = base_url
        self.api_key = api_key
        self.timeout_seconds = timeout_seconds
        self.connect_retries = connect_retries
        self.prefix = prefix
        self.what = what
        self.how_to = how_to
        self.backoff_seconds = backoff_seconds

    async def post(self, path: str, *, json: dict[str, Any] | None = None, data: dict[str, str] | None = None,
                   files: dict[str, tuple[str, bytes, str]] | None = None) -> httpx.Response:
        """The answer (body read, status < 400), or a VoiceError saying what went wrong."""
        try:
            async with asyncio.timeout(self.timeout_seconds):
                return await self._post(path, json, data, files)
        except (TimeoutError, httpx.TimeoutException) as e:
            raise VoiceError(f"{self.what} at {self.base_url} timed out after {self.timeout_seconds:g} s (raise "
                             "HEARTH_VOICE_TIMEOUT_SECONDS for slow hardware, or use a smaller model)") from e

    async def _post(self, path: str, json: dict[str, Any] | None, data: dict[str, str] | None,
                    files: dict[str, tuple[str, bytes, str]] | None) -> httpx.Response:
        url = f"{self.base_url}{path}"
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        attempts = self.connect_retries + 1
        tries = f"{attempts} attempt{'s' if attempts > 1 else ''}"
        problem, busy = "", False
        timeout = httpx.Timeout(self.timeout_seconds, connect=min(self.timeout_seconds, 10.0))
        async with httpx.AsyncClient(headers=headers, timeout=timeout) as client:
            for attempt in range(attempts):
                if attempt:
                    await asyncio.sleep(self.backoff_seconds * 2 ** (attempt - 1))
                try:
                    response = await client.post(url, json=json, data=data, files=files)
                except (httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError) as e:
                    problem, busy = str(e) or type(e).__name__, False
                    continue
                if response.status_code < 400:
                    return response
                message = error_message(response.text)
                if response.status_code not in RETRY_STATUSES:
                    raise self._http_error(response.status_code, message, url, json or data or {})
                problem, busy = f"it answered {response.status_code}: {message}", True
        if busy:
            raise VoiceUnavailable(f"{self.what} at {self.base_url} is not ready ({problem}, {tries}); it may still "
                                   "be loading its model, try again in a moment")
        raise VoiceUnavailable(f"cannot reach {self.what} at {url} ({problem}; {tries}). Is it running? "
                               f"{self.how_to}")

    def _http_error(self, status: int, message: str, url: str, fields: dict[str, Any]) -> VoiceError:
        model = fields.get("model", "")
        if status == 404 and "model" in message.lower():
            return VoiceError(f"{self.what} at {self.base_url} has no model {model!r} ({message}); set "
                              f"{self.prefix}_MODEL to a model it has")
        if status == 404 and not self.base_url.endswith("/v1"):
            return VoiceError(f"{self.what} answered 404 for {url} ({message}): did you mean {self.base_url}/v1? "
                              f"({self.prefix}_BASE_URL is used exactly as given)")
        if status in (401, 403):
            return VoiceError(f"{self.what} at {self.base_url} refused the request ({status}: {message}); check the "
                              f"API key ({self.prefix}_API_KEY)")
        if status == 413:
            return TooLarge(f"{self.what} at {self.base_url} says the request is too large ({message})")
        if status in (415, 422):
            return InvalidInput(f"{self.what} at {self.base_url} could not use the request ({status}: {message})")
        return VoiceError(f"{self.what} at {url} answered {status}: {message}")
