"""Speech to text. Two backends, picked by the settings (`make_transcriber`):

- `HTTPTranscriber`: any server with OpenAI's `POST /v1/audio/transcriptions` (speaches, whisper.cpp's
  server, LocalAI). When PyAV is installed the audio is checked and measured here first and sent as 16 kHz
  mono WAV, which every such server reads (whisper.cpp's only reads WAV unless started with --convert).
- `PocketSphinxTranscriber`: offline, in-process, English only (the model ships in pocketsphinx's wheel);
  the `voice` extra. Decoding and recognising run in a worker thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import queue
import re
import time
from typing import Any

from hearth.settings import Settings
from hearth.voice.audio import RATE, AudioLimits, decode_pcm, have_av, pcm_seconds, wav_bytes
from hearth.voice.http import AudioServer
from hearth.voice.types import (
    HOW_TO_ENABLE_STT,
    BackendStatus,
    InvalidInput,
    Transcriber,
    Transcript,
    VoiceError,
    VoiceUnavailable,
)

LANGUAGE = re.compile(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})?$")


def check_language(language: str | None) -> str | None:
    """A language tag like "en" or "pt-BR" (None or blank: let the backend decide)."""
    if language is None or not language.strip():
        return None
    language = language.strip()
    if not LANGUAGE.match(language):
        raise InvalidInput(f"{language!r} is not a language code like 'en' or 'pt-BR'")
    return language


class HTTPTranscriber:
    name = "http"

    def __init__(self, *, base_url: str, model: str, api_key: str | None, language: str | None,
                 limits: AudioLimits, timeout_seconds: float = 60.0, connect_retries: int = 2,
                 backoff_seconds: float = 0.5) -> None:
        self.server = AudioServer(base_url=base_url, api_key=api_key, timeout_seconds=timeout_seconds,
                                  connect_retries=connect_retries, prefix="HEARTH_STT",
                                  what="the transcription server", how_to=HOW_TO_ENABLE_STT,
                                  backoff_seconds=backoff_seconds)
        self.model = model
        self.language = language
        self.limits = limits

    def _upload(self, audio: bytes, filename: str | None) -> tuple[tuple[str, bytes, str], float | None]:
        """What to send, and the audio's length when it could be measured (blocking: PyAV)."""
        if not have_av():
            return (filename or "audio", audio, "application/octet-stream"), None
        pcm = decode_pcm(audio, self.limits)
        return ("audio.wav", wav_bytes(pcm), "audio/wav"), pcm_seconds(pcm)

    async def transcribe(self, audio: bytes, *, language: str | None = None,
                         filename: str | None = None) -> Transcript:
        start = time.perf_counter()
        language = check_language(language) or self.language
        self.limits.check_size(audio)
        upload, seconds = await asyncio.to_thread(self._upload, audio, filename)
        fields = {"model": self.model, "response_format": "json"}
        if language:
            fields["language"] = language
        response = await self.server.post("/audio/transcriptions", data=fields, files={"file": upload})
        text = _text_of(response.text, response.headers.get("content-type", ""), self.server.base_url)
        return Transcript(text.strip(), self.name, seconds, time.perf_counter() - start)

    def status(self) -> BackendStatus:
        """Configured (the server itself is not called: status stays cheap)."""
        return BackendStatus("stt", self.name, True, f"{self.server.base_url}/audio/transcriptions, model "
                                                      f"{self.model!r}")


def _text_of(body: str, content_type: str, base_url: str) -> str:
    """{"text": ...} as asked; a plain-text answer from servers that ignore response_format is taken too."""
    try:
        data: Any = json.loads(body)
    except ValueError:
        if content_type.startswith("text/plain"):
            return body
        raise VoiceError(f"the transcription server at {base_url} did not answer with JSON: {body[:200]!r}") from None
    if isinstance(data, dict) and isinstance(data.get("text"), str):
        return data["text"]
    raise VoiceError(f"the transcription server at {base_url} answered without a text field: {body[:200]!r}")


class PocketSphinxTranscriber:
    """Offline recognition with CMU pocketsphinx's bundled US English model.

    Loading a decoder takes about half a second, so decoders are kept and reused, one per concurrent
    request (a decoder is not safe to share between threads)."""

    name = "pocketsphinx"

    def __init__(self, limits: AudioLimits) -> None:
        self.limits = limits
        self._idle: queue.SimpleQueue[Any] = queue.SimpleQueue()

    @staticmethod
    def installed() -> bool:
        return importlib.util.find_spec("pocketsphinx") is not None and have_av()

    def _decoder(self) -> Any:
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            pass
        from pocketsphinx import Decoder

        return Decoder(samprate=RATE, logfn=os.devnull)

    def _recognise(self, audio: bytes) -> tuple[str, float]:
        """The words and the audio's length in seconds (blocking)."""
        pcm = decode_pcm(audio, self.limits)
        decoder = self._decoder()
        decoder.start_utt()
        decoder.process_raw(pcm, full_utt=True)
        decoder.end_utt()
        hyp = decoder.hyp()
        self._idle.put(decoder)  # only after a clean run; a decoder that raised is dropped
        return (hyp.hypstr if hyp is not None else ""), pcm_seconds(pcm)

    async def transcribe(self, audio: bytes, *, language: str | None = None,
                         filename: str | None = None) -> Transcript:
        start = time.perf_counter()
        language = check_language(language)
        if language and re.split(r"[-_]", language.lower())[0] not in ("en", "eng"):
            raise InvalidInput(f"the offline recogniser only knows English, not {language!r}; for other languages "
                               "set HEARTH_STT_BASE_URL to a Whisper server (speaches, whisper.cpp, LocalAI)")
        if not self.installed():
            raise VoiceUnavailable(f"the offline recogniser is not installed; {HOW_TO_ENABLE_STT}")
        self.limits.check_size(audio)
        text, seconds = await asyncio.to_thread(self._recognise, audio)
        return Transcript(text.strip(), self.name, seconds, time.perf_counter() - start)

    def status(self) -> BackendStatus:
        if self.installed():
            return BackendStatus("stt", self.name, True, "pocketsphinx, offline, US English")
        return BackendStatus("stt", None, False, "pocketsphinx or PyAV is not installed",
                             how_to_enable=HOW_TO_ENABLE_STT)


class NoTranscriber:
    """Speech input is off or misconfigured: every request is refused with why and how to enable it."""

    name = "none"

    def __init__(self, why: str) -> None:
        self.why = why

    async def transcribe(self, audio: bytes, *, language: str | None = None,
                         filename: str | None = None) -> Transcript:
        raise VoiceUnavailable(f"{self.why}; {HOW_TO_ENABLE_STT}")

    def status(self) -> BackendStatus:
        return BackendStatus("stt", None, False, self.why, how_to_enable=HOW_TO_ENABLE_STT)


def make_transcriber(settings: Settings) -> Transcriber:
    """The backend the settings pick: "auto" is the server when HEARTH_STT_BASE_URL is set, else offline."""
    limits = AudioLimits(settings.voice_max_audio_bytes, settings.voice_max_audio_seconds)
    backend = settings.stt_backend
    if backend == "auto":
        backend = "http" if settings.stt_base_url else "pocketsphinx"
    if backend == "off":
        return NoTranscriber("speech input is turned off (HEARTH_STT_BACKEND=off)")
    if backend == "pocketsphinx":
        return PocketSphinxTranscriber(limits)
    if not settings.stt_base_url:
        return NoTranscriber("HEARTH_STT_BACKEND=http needs HEARTH_STT_BASE_URL")
    if not settings.stt_base_url.strip().startswith(("http://", "https://")):
        return NoTranscriber(f"HEARTH_STT_BASE_URL must start with http:// or https://, not {settings.stt_base_url!r}")
    return HTTPTranscriber(base_url=settings.stt_base_url, model=settings.stt_model, api_key=settings.stt_api_key,
                           language=settings.stt_language, limits=limits,
                           timeout_seconds=settings.voice_timeout_seconds,
                           connect_retries=settings.voice_connect_retries)


def status(settings: Settings) -> BackendStatus:
    """Which speech-to-text backend the settings give, whether it can work, and how to enable one if not."""
    return make_transcriber(settings).status()
