"""Text to speech. Two backends, picked by the settings (`make_speaker`):

- `HTTPSpeaker`: any server with OpenAI's `POST /v1/audio/speech` (speaches, Kokoro-FastAPI, LocalAI,
  openedai-speech); the audio comes back as the server sends it.
- `EspeakSpeaker`: offline espeak-ng (Debian package `espeak-ng`) run as an asyncio subprocess with a
  timeout, text on stdin (so no text is ever read as an option), WAV on stdout.

Text longer than HEARTH_TTS_MAX_CHARS is cut at a word boundary; `Speech.truncated` says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import re
import shutil
import time
import wave

from hearth.settings import Settings
from hearth.voice.http import AudioServer
from hearth.voice.types import (
    HOW_TO_ENABLE_TTS,
    VOICE_NAME,
    BackendStatus,
    InvalidInput,
    Speaker,
    Speech,
    VoiceError,
    VoiceUnavailable,
)

MEDIA_TYPES = {"mp3": "audio/mpeg", "wav": "audio/wav", "opus": "audio/ogg", "aac": "audio/aac",
               "flac": "audio/flac", "pcm": "audio/L16"}


def cap_text(text: str, max_chars: int) -> tuple[str, bool]:
    """The text to speak (whitespace collapsed) and whether it had to be cut to `max_chars`."""
    text = " ".join(text.split())
    if not text:
        raise InvalidInput("there is no text to speak")
    if len(text) <= max_chars:
        return text, False
    cut = text[:max_chars]
    space = cut.rfind(" ")
    if space > max_chars // 2:  # end on a whole word unless that would drop half the text
        cut = cut[:space]
    return cut.rstrip(), True


def check_voice(voice: str) -> str:
    if not re.match(VOICE_NAME, voice):
        raise InvalidInput(f"{voice!r} is not a voice name (letters, digits and _ + . -, at most 64)")
    return voice


class HTTPSpeaker:
    name = "http"

    def __init__(self, *, base_url: str, model: str, voice: str, api_key: str | None, response_format: str = "mp3",
                 max_chars: int = 2000, timeout_seconds: float = 60.0, connect_retries: int = 2,
                 backoff_seconds: float = 0.5) -> None:
        self.server = AudioServer(base_url=base_url, api_key=api_key, timeout_seconds=timeout_seconds,
                                  connect_retries=connect_retries, prefix="HEARTH_TTS", what="the speech server",
                                  how_to=HOW_TO_ENABLE_TTS, backoff_seconds=backoff_seconds)
        self.model = model
        self.voice = voice
        self.response_format = response_format
        self.max_chars = max_chars

    async def speak(self, text: str, *, voice: str | None = None) -> Speech:
        start = time.perf_counter()
        text, truncated = cap_text(text, self.max_chars)
        body = {"model": self.model, "input": text, "voice": check_voice(voice or self.voice),
                "response_format": self.response_format}
        response = await self.server.post("/audio/speech", json=body)
        media_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type.startswith(("application/json", "text/")):
            raise VoiceError(f"the speech server at {self.server.base_url} sent {media_type}, not audio: "
                             f"{response.text[:200]!r}")
        if not response.content:
            raise VoiceError(f"the speech server at {self.server.base_url} sent no audio")
        if not media_type or media_type == "application/octet-stream":
            media_type = MEDIA_TYPES.get(self.response_format, "application/octet-stream")
        return Speech(response.content, media_type, self.name, truncated, time.perf_counter() - start)

    def status(self) -> BackendStatus:
        """Configured (the server itself is not called: status stays cheap)."""
        return BackendStatus("tts", self.name, True, f"{self.server.base_url}/audio/speech, model {self.model!r}, "
                                                      f"voice {self.voice!r}")


def complete_wav(data: bytes) -> bytes:
    """espeak-ng writing to a pipe cannot go back to fill in the WAV header's sizes (it leaves 0x7ffff000):
    rewrite the header so every player, and anything that trusts the sizes, reads it right."""
    try:
        with wave.open(io.BytesIO(data), "rb") as src:
            params = src.getparams()
            frames = src.readframes(src.getnframes())
    except (wave.Error, EOFError) as e:
        raise VoiceError(f"espeak-ng wrote something that is not WAV ({e})") from e
    out = io.BytesIO()
    with wave.open(out, "wb") as dst:
        dst.setnchannels(params.nchannels)
        dst.setsampwidth(params.sampwidth)
        dst.setframerate(params.framerate)
        dst.writeframes(frames)
    return out.getvalue()


class EspeakSpeaker:
    name = "espeak"

    def __init__(self, *, path: str = "espeak-ng", voice: str = "en-us+f5", speed: int = 150, max_chars: int = 2000,
                 timeout_seconds: float = 60.0) -> None:
        self.path = path
        self.voice = voice
        self.speed = speed
        self.max_chars = max_chars
        self.timeout_seconds = timeout_seconds

    def binary(self) -> str | None:
        """The executable's full path, or None when it is not there (a bare name is looked up on PATH)."""
        return shutil.which(self.path)

    def _missing(self) -> VoiceUnavailable:
        return VoiceUnavailable(f"espeak-ng is not installed (no executable {self.path!r}, HEARTH_ESPEAK_PATH); "
                                f"{HOW_TO_ENABLE_TTS}")

    async def speak(self, text: str, *, voice: str | None = None) -> Speech:
        start = time.perf_counter()
        text, truncated = cap_text(text, self.max_chars)
        voice = check_voice(voice or self.voice)
        binary = self.binary()
        if binary is None:
            raise self._missing()
        try:
            proc = await asyncio.create_subprocess_exec(
                binary, "-v", voice, "-s", str(self.speed), "-b", "1", "--stdin", "--stdout",
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        except OSError as e:  # removed, or not executable, since the lookup
            raise self._missing() from e
        try:
            async with asyncio.timeout(self.timeout_seconds):
                out, err = await proc.communicate(text.encode("utf-8"))
        except TimeoutError as e:
            raise VoiceError(f"espeak-ng took longer than {self.timeout_seconds:g} s (HEARTH_VOICE_TIMEOUT_SECONDS)"
                             ) from e
        finally:
            if proc.returncode is None:  # timed out, or the request was cancelled: never leave it running
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        message = err.decode("utf-8", errors="replace").strip()
        if proc.returncode != 0 or not out:
            if "voice does not exist" in message:
                raise InvalidInput(f"espeak-ng has no voice {voice!r} (`espeak-ng --voices` lists them)")
            raise VoiceError(f"espeak-ng failed (exit {proc.returncode}): {message or 'no audio'}")
        return Speech(complete_wav(out), "audio/wav", self.name, truncated, time.perf_counter() - start)

    def status(self) -> BackendStatus:
        binary = self.binary()
        if binary is None:
            return BackendStatus("tts", None, False, f"espeak-ng not found ({self.path!r})",
                                 how_to_enable=HOW_TO_ENABLE_TTS)
        return BackendStatus("tts", self.name, True, f"espeak-ng at {binary}, voice {self.voice!r}, "
                                                      f"{self.speed} words per minute")


class NoSpeaker:
    """Speech output is off or misconfigured: every request is refused with why and how to enable it."""

    name = "none"

    def __init__(self, why: str) -> None:
        self.why = why

    async def speak(self, text: str, *, voice: str | None = None) -> Speech:
        raise VoiceUnavailable(f"{self.why}; {HOW_TO_ENABLE_TTS}")

    def status(self) -> BackendStatus:
        return BackendStatus("tts", None, False, self.why, how_to_enable=HOW_TO_ENABLE_TTS)


def make_speaker(settings: Settings) -> Speaker:
    """The backend the settings pick: "auto" is the server when HEARTH_TTS_BASE_URL is set, else espeak-ng."""
    backend = settings.tts_backend
    if backend == "auto":
        backend = "http" if settings.tts_base_url else "espeak"
    if backend == "off":
        return NoSpeaker("speech output is turned off (HEARTH_TTS_BACKEND=off)")
    if backend == "espeak":
        return EspeakSpeaker(path=settings.espeak_path, voice=settings.espeak_voice, speed=settings.espeak_speed,
                             max_chars=settings.tts_max_chars, timeout_seconds=settings.voice_timeout_seconds)
    if not settings.tts_base_url:
        return NoSpeaker("HEARTH_TTS_BACKEND=http needs HEARTH_TTS_BASE_URL")
    if not settings.tts_base_url.strip().startswith(("http://", "https://")):
        return NoSpeaker(f"HEARTH_TTS_BASE_URL must start with http:// or https://, not {settings.tts_base_url!r}")
    return HTTPSpeaker(base_url=settings.tts_base_url, model=settings.tts_model, voice=settings.tts_voice,
                       api_key=settings.tts_api_key, response_format=settings.tts_format,
                       max_chars=settings.tts_max_chars, timeout_seconds=settings.voice_timeout_seconds,
                       connect_retries=settings.voice_connect_retries)


def status(settings: Settings) -> BackendStatus:
    """Which text-to-speech backend the settings give, whether it can work, and how to enable one if not."""
    return make_speaker(settings).status()
