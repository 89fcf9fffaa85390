"""Talking to the AIs by voice (`/api/hearth/v1/voice`): speech to text and text to speech through
hearth/voice. Same callers as the rest of the Hearth API: a bearer token (`read` for the status, `write`
to transcribe or speak) or the web session, whose transcribe and speak requests need the CSRF header
(they use the server's resources like any write). Both count against HEARTH_VOICE_REQUESTS_PER_USER.

- `GET /status`: the backend of each direction, whether it works, how to enable it; the limits.
- `POST /transcribe`: multipart `file` (webm/ogg Opus as MediaRecorder records, wav, mp3), optional
  `language` -> {text, backend, seconds_audio, seconds_taken}.
- `POST /speak`: {text, voice?} -> the audio (audio/wav from espeak-ng; what the server sends otherwise).
  `X-Hearth-Speech-Truncated: true` when the text was longer than HEARTH_TTS_MAX_CHARS.

Errors are JSON {"error": ...}: 413 audio over the limits, 422 empty or undecodable audio (or an unknown
language or voice), 429 over the rate, 503 when no backend is set up (saying how), 502 a backend's failure.
"""

from __future__ import annotations

import math
import time
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from pydantic import BaseModel, ConfigDict, Field
from starlette.datastructures import UploadFile

from hearth.app.api.hearth import caller
from hearth.services.errors import RateLimited
from hearth.settings import Settings
from hearth.storage.models import Account
from hearth.voice import InvalidInput, Speaker, TooLarge, Transcriber, VoiceError, make_speaker, make_transcriber
from hearth.voice.types import VOICE_NAME

router = APIRouter(prefix="/api/hearth/v1/voice", tags=["voice"])
Reader = Annotated[Account, Depends(caller("read"))]
Writer = Annotated[Account, Depends(caller("write", write=True))]
MULTIPART_SLACK = 64 * 1024  # room for the multipart framing and the other fields around the file


class Voice:
    """The app's backends and the per-user rate limit, made on first use from the app's settings."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.transcriber: Transcriber = make_transcriber(settings)
        self.speaker: Speaker = make_speaker(settings)
        self.limiter = MovingWindowRateLimiter(MemoryStorage())
        text = settings.voice_requests_per_user
        try:
            self.rate: RateLimitItem | None = parse(text) if text else None
        except ValueError as e:
            raise ValueError(f"HEARTH_VOICE_REQUESTS_PER_USER={text!r} is not a rate like '60/minute'") from e

    def hit(self, account_id: int) -> None:
        """Count one request; RateLimited (429 with Retry-After) when over the rate."""
        if self.rate is None or self.limiter.hit(self.rate, "voice", str(account_id)):
            return
        reset = self.limiter.get_window_stats(self.rate, "voice", str(account_id)).reset_time
        raise RateLimited(f"too many voice requests ({self.rate}); try again later",
                          retry_after=max(1, math.ceil(reset - time.time())))


def _voice(request: Request) -> Voice:
    voice = getattr(request.app.state, "voice", None)
    if voice is None:
        voice = request.app.state.voice = Voice(request.app.state.settings)
    return voice


def _error(e: VoiceError) -> JSONResponse:
    return JSONResponse({"error": e.message}, status_code=e.status)


class SpeakBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=100_000, description="longer than HEARTH_TTS_MAX_CHARS is cut")
    voice: str | None = Field(None, pattern=VOICE_NAME, description="a voice of the backend; omit for the default")


@router.get("/status")
async def status(request: Request, viewer: Reader) -> dict:
    """What each direction runs on, whether it works, and how to enable it when it does not."""
    voice = _voice(request)
    s = voice.settings
    return {"stt": voice.transcriber.status().to_json(), "tts": voice.speaker.status().to_json(),
            "limits": {"max_audio_seconds": s.voice_max_audio_seconds, "max_audio_bytes": s.voice_max_audio_bytes,
                       "max_text_chars": s.tts_max_chars, "requests_per_user": s.voice_requests_per_user or None}}


TRANSCRIBE_BODY = {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file"],
    "properties": {"file": {"type": "string", "format": "binary", "description": "webm/ogg (Opus), wav, mp3, m4a"},
                   "language": {"type": "string", "description": "e.g. en; omit to let the backend detect it"}}}}}}


@router.post("/transcribe", response_model=None, openapi_extra={"requestBody": TRANSCRIBE_BODY})
async def transcribe(request: Request, viewer: Writer) -> Response:
    """The words in the recording. The form is read here, after the caller is known and the declared
    size is checked, so an oversized or anonymous upload is refused before it is read."""
    voice = _voice(request)
    voice.hit(viewer.id)
    limit = voice.settings.voice_max_audio_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit + MULTIPART_SLACK:
        return _error(TooLarge(f"the upload is {int(declared):,} bytes; audio of at most {limit:,} bytes is "
                               "accepted (HEARTH_VOICE_MAX_AUDIO_BYTES)"))
    form = await request.form(max_files=1, max_fields=8)
    try:
        upload, language = form.get("file"), form.get("language")
        if not isinstance(upload, UploadFile):
            return _error(InvalidInput("send the recording as the multipart/form-data field `file`"))
        data = await upload.read(limit + 1)  # one byte over is enough to know it is too large
        t = await voice.transcriber.transcribe(data, language=language if isinstance(language, str) else None,
                                               filename=upload.filename)
    except VoiceError as e:
        return _error(e)
    finally:
        await form.close()
    return JSONResponse({"text": t.text, "backend": t.backend, "seconds_audio": t.seconds_audio,
                         "seconds_taken": round(t.seconds_taken, 3)})


@router.post("/speak", response_model=None)
async def speak(body: SpeakBody, request: Request, viewer: Writer) -> Response:
    """The text spoken, as audio bytes with their content type."""
    voice = _voice(request)
    voice.hit(viewer.id)
    try:
        speech = await voice.speaker.speak(body.text, voice=body.voice)
    except VoiceError as e:
        return _error(e)
    return Response(speech.audio, media_type=speech.media_type,
                     headers={"Cache-Control": "no-store", "X-Hearth-Voice-Backend": speech.backend,
                              "X-Hearth-Speech-Truncated": "true" if speech.truncated else "false"})
