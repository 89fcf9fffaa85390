"""The values and errors that cross hearth/voice's boundary.

Every error carries the HTTP status the API answers with, so the API needs no table of its own:
bad input is 4xx, a backend that is not set up (or cannot be reached) is 503 with how to set it up,
and a backend that answered with an error is 502.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal, Protocol

Direction = Literal["stt", "tts"]
# Voice names as servers and espeak-ng spell them ("alloy", "af_heart", "en-us+f5"); never starting with "-",
# so a name can never be read as a command-line option.
VOICE_NAME = r"^[A-Za-z0-9][A-Za-z0-9_+.\-]{0,63}$"


class VoiceError(Exception):
    """A speech backend answered, but with an error (or produced nothing usable)."""

    status = 502

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class VoiceUnavailable(VoiceError):
    """No backend is set up for this direction, or it cannot be reached. The message says how to set one up."""

    status = 503


class InvalidInput(VoiceError):
    """The audio or text cannot be used: empty, undecodable, a language or voice that does not exist."""

    status = 422


class TooLarge(InvalidInput):
    """The audio is over the byte or duration limit."""

    status = 413


HOW_TO_ENABLE_STT = ("set HEARTH_STT_BASE_URL to an OpenAI-compatible transcription server (speaches, whisper.cpp "
                     "`whisper-server --convert`, LocalAI), e.g. http://127.0.0.1:8000/v1, or install the offline "
                     "recogniser: pip install 'hearth[voice]' (pocketsphinx and av)")
HOW_TO_ENABLE_TTS = ("install the offline voice: apt-get install espeak-ng (or set HEARTH_ESPEAK_PATH to its binary), "
                     "or set HEARTH_TTS_BASE_URL to an OpenAI-compatible speech server (speaches, Kokoro-FastAPI, "
                     "LocalAI, openedai-speech), e.g. http://127.0.0.1:8000/v1")


@dataclass(frozen=True)
class Transcript:
    text: str
    backend: str  # "http" or "pocketsphinx"
    seconds_audio: float | None  # None when the audio could not be measured here (HTTP backend without PyAV)
    seconds_taken: float


@dataclass(frozen=True)
class Speech:
    audio: bytes
    media_type: str  # audio/wav for espeak-ng; what the server said otherwise
    backend: str  # "http" or "espeak"
    truncated: bool  # the text was longer than HEARTH_TTS_MAX_CHARS and only its start was spoken
    seconds_taken: float


@dataclass(frozen=True)
class BackendStatus:
    """Which backend a direction uses, whether it can work right now, and how to enable one when not."""

    direction: Direction
    backend: str | None  # None when the direction is off or nothing is available
    available: bool
    detail: str  # where it is (URL and model, binary path, module)
    how_to_enable: str | None = None  # only when not available

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class Transcriber(Protocol):
    name: str

    async def transcribe(self, audio: bytes, *, language: str | None = None,
                         filename: str | None = None) -> Transcript: ...

    def status(self) -> BackendStatus: ...


class Speaker(Protocol):
    name: str

    async def speak(self, text: str, *, voice: str | None = None) -> Speech: ...

    def status(self) -> BackendStatus: ...
