"""Text to speech: espeak-ng as a subprocess (valid WAV, voice and speed, text never read as options,
timeouts, a missing binary), text capping, and the HTTP backend against the scripted OpenAI-compatible
audio server (tests/fake_speech.py)."""

from __future__ import annotations

import io
import time
import wave
from pathlib import Path

import pytest

from hearth.settings import Settings
from hearth.voice import InvalidInput, VoiceError, VoiceUnavailable
from hearth.voice.tts import EspeakSpeaker, HTTPSpeaker, NoSpeaker, cap_text, make_speaker
from tests.fake_openai import free_port
from tests.fake_speech import FakeSpeech, tone_wav
from voice import need_espeak


def _wav(audio: bytes) -> tuple[int, float]:
    """(sample rate, seconds); also checks the header's sizes match the bytes."""
    with wave.open(io.BytesIO(audio)) as w:
        frames = w.getnframes()
        assert len(audio) == 44 + frames * w.getsampwidth() * w.getnchannels()
        return w.getframerate(), frames / w.getframerate()


@pytest.fixture
def espeak() -> EspeakSpeaker:
    return EspeakSpeaker(path=need_espeak(), timeout_seconds=10)


async def test_espeak_speaks_wav(espeak) -> None:
    speech = await espeak.speak("Hello, this is Hearth speaking.")
    assert (speech.media_type, speech.backend, speech.truncated) == ("audio/wav", "espeak", False)
    rate, seconds = _wav(speech.audio)
    assert rate == 22_050 and 1.0 < seconds < 5.0
    assert espeak.status().available and espeak.status().backend == "espeak"


async def test_voice_and_speed_are_used(espeak) -> None:
    text = "the train leaves at seven in the morning"
    slow = await EspeakSpeaker(path=espeak.path, speed=100).speak(text)
    fast = await EspeakSpeaker(path=espeak.path, speed=300).speak(text)
    assert _wav(slow.audio)[1] > 1.8 * _wav(fast.audio)[1]
    other = await espeak.speak(text, voice="en-gb")
    assert other.audio != (await espeak.speak(text)).audio
    with pytest.raises(InvalidInput, match="has no voice 'xx-nope'.*--voices"):
        await espeak.speak(text, voice="xx-nope")
    with pytest.raises(InvalidInput, match="not a voice name"):
        await espeak.speak(text, voice="--stdout")


async def test_text_is_never_read_as_an_option(espeak, tmp_path: Path) -> None:
    target = tmp_path / "x.wav"
    speech = await espeak.speak(f"-w {target} --help")
    assert _wav(speech.audio)[1] > 0.5 and not target.exists()


async def test_long_text_is_capped_and_said_so(espeak) -> None:
    capped = EspeakSpeaker(path=espeak.path, max_chars=30)
    speech = await capped.speak("one two three four five six seven eight nine ten eleven twelve")
    assert speech.truncated
    assert cap_text("one two three four five six seven eight nine ten", 30) == ("one two three four five six", True)
    assert cap_text("  a\n\n b  ", 30) == ("a b", False)
    assert cap_text("x" * 50, 10) == ("x" * 10, True)  # no space to cut at: cut mid-word
    with pytest.raises(InvalidInput, match="no text"):
        await espeak.speak(" \n ")


async def test_missing_espeak_says_how_to_install(tmp_path: Path) -> None:
    speaker = EspeakSpeaker(path=str(tmp_path / "espeak-ng"))
    status = speaker.status()
    assert not status.available and "apt-get install espeak-ng" in status.how_to_enable
    with pytest.raises(VoiceUnavailable, match="apt-get install espeak-ng.*HEARTH_TTS_BASE_URL") as e:
        await speaker.speak("hello")
    assert e.value.status == 503


def _script(tmp_path: Path, body: str) -> str:
    path = tmp_path / "fake-espeak"
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return str(path)


async def test_espeak_hanging_or_failing(tmp_path: Path) -> None:
    hung = EspeakSpeaker(path=_script(tmp_path, "exec sleep 30"), timeout_seconds=0.5)
    start = time.monotonic()
    with pytest.raises(VoiceError, match="longer than 0.5 s.*HEARTH_VOICE_TIMEOUT_SECONDS"):
        await hung.speak("hello")
    assert time.monotonic() - start < 5
    broken = EspeakSpeaker(path=_script(tmp_path, "echo 'no audio device' >&2; exit 3"))
    with pytest.raises(VoiceError, match=r"exit 3\): no audio device"):
        await broken.speak("hello")


def test_settings_pick_the_backend() -> None:
    assert isinstance(make_speaker(Settings()), EspeakSpeaker)
    http = make_speaker(Settings(tts_base_url="http://127.0.0.1:9/v1"))
    assert isinstance(http, HTTPSpeaker) and "voice 'alloy'" in http.status().detail
    off = make_speaker(Settings(tts_backend="off"))
    assert isinstance(off, NoSpeaker) and not off.status().available
    assert "apt-get install espeak-ng" in off.status().how_to_enable
    assert isinstance(make_speaker(Settings(tts_backend="http")), NoSpeaker)
    missing = make_speaker(Settings(espeak_path="/nonexistent/espeak-ng")).status()
    assert not missing.available and "/nonexistent/espeak-ng" in missing.detail


# ---- the HTTP backend, against the scripted server ---------------------------------------------------------
def _http(url: str, **kw) -> HTTPSpeaker:  # noqa: ANN003
    options = {"model": "kokoro", "voice": "af_heart", "api_key": None, "response_format": "mp3",
               "timeout_seconds": 10, "connect_retries": 0, "backoff_seconds": 0.01, **kw}
    return HTTPSpeaker(base_url=url, **options)


async def test_http_sends_the_openai_request_and_returns_the_audio() -> None:
    with FakeSpeech(api_key="sekrit") as server:
        server.queue_speech(b"ID3fake-mp3", content_type="audio/mpeg")
        speech = await _http(server.base_url, api_key="sekrit").speak("Hello  there", voice="af_bella")
        assert (speech.audio, speech.media_type, speech.backend) == (b"ID3fake-mp3", "audio/mpeg", "http")
        sent = server.speeches[0]
        assert sent["body"] == {"model": "kokoro", "input": "Hello there", "voice": "af_bella",
                                "response_format": "mp3"}
        assert sent["headers"]["authorization"] == "Bearer sekrit"
        server.queue_speech(tone_wav(), content_type=None)  # no content type: the asked format's
        speech = await _http(server.base_url, api_key="sekrit", response_format="wav").speak("hi")
        assert speech.media_type == "audio/wav" and _wav(speech.audio)[0] == 16_000
        assert server.speeches[1]["body"]["voice"] == "af_heart"
        with pytest.raises(VoiceError, match=r"401.*HEARTH_TTS_API_KEY"):
            await _http(server.base_url).speak("hi")


async def test_http_failures_are_clear(fake_speech) -> None:
    tts = _http(fake_speech.base_url)
    fake_speech.queue_audio_error("speech", 500, "voice model crashed")
    with pytest.raises(VoiceError, match="speech server .* answered 500: voice model crashed"):
        await tts.speak("hi")
    fake_speech.queue_speech(b'{"detail": "oops"}', content_type="application/json")
    with pytest.raises(VoiceError, match="sent application/json, not audio"):
        await tts.speak("hi")
    fake_speech.queue_speech(b"", content_type="audio/mpeg")
    with pytest.raises(VoiceError, match="sent no audio"):
        await tts.speak("hi")
    with pytest.raises(VoiceError, match="did you mean .*/v1"):
        await _http(fake_speech.root_url).speak("hi")
    with pytest.raises(VoiceUnavailable, match="cannot reach the speech server .*Is it running.*espeak-ng"):
        await _http(f"http://127.0.0.1:{free_port()}/v1").speak("hi")
