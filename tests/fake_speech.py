"""A scripted OpenAI-compatible audio server for tests: `POST /v1/audio/transcriptions` (multipart, as
speaches, whisper.cpp's server and LocalAI take it) and `POST /v1/audio/speech` (JSON in, audio out), over
real HTTP on loopback, so hearth/voice's clients run exactly as they do against a real server. The serving
plumbing (uvicorn in a thread, start/stop, API key check) is FakeOpenAI's (tests/fake_openai.py).

Tests queue one answer per expected request, in order; with nothing queued a transcription answers
"hello world" and speech answers a short valid WAV tone. Every request is recorded:

    fake_speech.queue_transcript("turn on the lights")
    fake_speech.queue_audio_error("transcriptions", 500, "CUDA out of memory")
    fake_speech.queue_speech(b"ID3...", content_type="audio/mpeg")
    fake_speech.transcriptions[0]["fields"]["model"], fake_speech.speeches[0]["body"]["voice"]
"""

from __future__ import annotations

import asyncio
import io
import math
import struct
import wave
from collections import deque
from dataclasses import dataclass
from typing import Any, Literal

from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from tests.fake_openai import FakeOpenAI

Endpoint = Literal["transcriptions", "speech"]
DEFAULT_TEXT = "hello world"


def tone_wav(seconds: float = 0.2, rate: int = 16_000, hz: float = 440.0) -> bytes:
    """A short mono 16-bit sine tone as a WAV file."""
    frames = b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * hz * i / rate)))
                      for i in range(int(seconds * rate)))
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(frames)
    return buf.getvalue()


@dataclass
class AudioScript:
    """The answer to one audio request."""

    text: str = DEFAULT_TEXT  # transcriptions
    audio: bytes | None = None  # speech (None: a tone)
    content_type: str | None = None  # speech: the answer's type; transcriptions: "text/plain" answers bare text
    status: int = 200  # >= 400: answer `error_body` instead
    error_body: dict[str, Any] | str | None = None
    delay: float = 0.0  # seconds before answering


class FakeSpeech(FakeOpenAI):
    """The server; `start()`/`stop()` or a context manager. `base_url` ends in /v1."""

    def __init__(self, api_key: str | None = None, port: int = 0) -> None:
        super().__init__(api_key=api_key, port=port)
        self.transcriptions: list[dict[str, Any]] = []  # {"fields", "filename", "content_type", "audio", "headers"}
        self.speeches: list[dict[str, Any]] = []  # {"body", "headers"}
        self._audio_scripts: dict[Endpoint, deque[AudioScript]] = {"transcriptions": deque(), "speech": deque()}

    def queue_transcript(self, text: str, *, delay: float = 0.0, plain: bool = False) -> None:
        """The next transcription answers `text` (as {"text": ...}, or bare text with plain=True)."""
        self._audio_scripts["transcriptions"].append(
            AudioScript(text=text, delay=delay, content_type="text/plain" if plain else None))

    def queue_speech(self, audio: bytes | None = None, *, content_type: str | None = "audio/wav",
                     delay: float = 0.0) -> None:
        """The next speech request answers `audio` (a tone when None) with `content_type` (None: no header)."""
        self._audio_scripts["speech"].append(AudioScript(audio=audio, content_type=content_type, delay=delay))

    def queue_audio_error(self, endpoint: Endpoint, status: int, message: str = "fake failure", *,
                          body: dict[str, Any] | str | None = None) -> None:
        """An HTTP error from `endpoint`; OpenAI's error JSON unless `body` is given (a string is sent as text)."""
        default = {"error": {"message": message, "type": "server_error", "code": status}}
        self._audio_scripts[endpoint].append(AudioScript(status=status, error_body=default if body is None else body))

    def _next(self, endpoint: Endpoint) -> AudioScript:
        scripts = self._audio_scripts[endpoint]
        return scripts.popleft() if scripts else AudioScript()

    @staticmethod
    def _failure(script: AudioScript) -> Response:
        if isinstance(script.error_body, str):
            return PlainTextResponse(script.error_body, status_code=script.status)
        return JSONResponse(script.error_body, status_code=script.status)

    async def _transcribe(self, request: Request) -> Response:
        self.calls.append(f"POST {request.url.path}")
        form = await request.form()
        upload = form.get("file")
        record: dict[str, Any] = {"fields": {k: v for k, v in form.items() if isinstance(v, str)},
                                  "headers": dict(request.headers), "filename": None, "content_type": None,
                                  "audio": None}
        if isinstance(upload, UploadFile):
            record.update(filename=upload.filename, content_type=upload.content_type, audio=await upload.read())
        await form.close()
        self.transcriptions.append(record)
        if not self._authorized(request):
            return self._unauthorized()
        script = self._next("transcriptions")
        if script.delay:
            await asyncio.sleep(script.delay)
        if script.status >= 400:
            return self._failure(script)
        if record["audio"] is None:
            return JSONResponse({"error": {"message": "file is required", "type": "invalid_request_error"}},
                                status_code=400)
        if script.content_type == "text/plain" or record["fields"].get("response_format") == "text":
            return PlainTextResponse(script.text)
        return JSONResponse({"text": script.text})

    async def _speech(self, request: Request) -> Response:
        self.calls.append(f"POST {request.url.path}")
        body = await request.json()
        self.speeches.append({"body": body, "headers": dict(request.headers)})
        if not self._authorized(request):
            return self._unauthorized()
        script = self._next("speech")
        if script.delay:
            await asyncio.sleep(script.delay)
        if script.status >= 400:
            return self._failure(script)
        audio = script.audio if script.audio is not None else tone_wav()
        return Response(audio, media_type=script.content_type)  # no content-type header at all when None

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/v1/audio/transcriptions", self._transcribe, methods=["POST"]),
                                 Route("/v1/audio/speech", self._speech, methods=["POST"])])

    def __enter__(self) -> FakeSpeech:
        self.start()
        return self
