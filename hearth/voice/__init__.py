"""Speech in and speech out, so people can talk to Hearth's AIs by voice.

Speech to text (`stt`): an OpenAI-compatible transcription server by URL, or offline pocketsphinx.
Text to speech (`tts`): an OpenAI-compatible speech server by URL, or offline espeak-ng.
Audio decoding (`audio`) is PyAV. Nothing here imports the app; the API lives in hearth/app/api/voice.py.

    transcriber = make_transcriber(settings)
    transcript = await transcriber.transcribe(webm_bytes, language="en")   # Transcript(text, backend, ...)
    speech = await make_speaker(settings).speak("Hello!")                  # Speech(audio, media_type, ...)
"""

from hearth.voice.stt import make_transcriber
from hearth.voice.tts import make_speaker
from hearth.voice.types import (
    BackendStatus,
    InvalidInput,
    Speaker,
    Speech,
    TooLarge,
    Transcriber,
    Transcript,
    VoiceError,
    VoiceUnavailable,
)

__all__ = ["BackendStatus", "InvalidInput", "Speaker", "Speech", "TooLarge", "Transcriber", "Transcript",
           "VoiceError", "VoiceUnavailable", "make_speaker", "make_transcriber"]
