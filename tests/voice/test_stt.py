"""Speech to text: the offline recogniser on what espeak-ng says (as WAV, and as the Opus files browsers
record), scored by word error rate; the limits and refusals; and the HTTP backend against the scripted
OpenAI-compatible audio server (tests/fake_speech.py)."""

from __future__ import annotations

import asyncio
import io
import wave

import jiwer
import pytest

from hearth.settings import Settings
from hearth.voice import InvalidInput, TooLarge, VoiceError, VoiceUnavailable
from hearth.voice.audio import AudioLimits, decode_pcm, transcode
from hearth.voice.stt import HTTPTranscriber, NoTranscriber, PocketSphinxTranscriber, make_transcriber
from hearth.voice.tts import EspeakSpeaker
from tests.fake_openai import free_port
from tests.fake_speech import FakeSpeech, tone_wav
from voice import SENTENCES, need_av, need_espeak, need_pocketsphinx

LIMITS = AudioLimits(max_bytes=10_000_000, max_seconds=60)
# Measured with the defaults (espeak-ng 1.51 voice en-us+f5 at 150 wpm, pocketsphinx 5.1.1): 0.14 on these
# sentences as WAV, 0.06 to 0.23 through Opus at 24 to 128 kbit/s, 0.23 through mp3. Nothing, or words from
# the wrong sentences, scores 1.0 or more; a recogniser that gets only every other word right fails.
MAX_WER = 0.5


@pytest.fixture(scope="module")
def spoken() -> list[bytes]:
    """Each of SENTENCES as espeak-ng says it with the default voice (WAV)."""
    path = need_espeak()
    need_pocketsphinx()
    speaker = EspeakSpeaker(path=path)

    async def say_all() -> list[bytes]:
        return [(await speaker.speak(s)).audio for s in SENTENCES]

    return asyncio.run(say_all())


@pytest.fixture(scope="module")
def recogniser() -> PocketSphinxTranscriber:
    need_pocketsphinx()
    return PocketSphinxTranscriber(LIMITS)


async def _wer(recogniser: PocketSphinxTranscriber, audios: list[bytes], references: list[str]) -> float:
    transcripts = [await recogniser.transcribe(a) for a in audios]
    for t in transcripts:
        assert t.backend == "pocketsphinx" and t.seconds_taken > 0 and t.seconds_audio and t.seconds_audio > 1
    return jiwer.wer(references, [t.text for t in transcripts])


async def test_offline_round_trip_understands_espeak(spoken, recogniser) -> None:
    wer = await _wer(recogniser, spoken, SENTENCES)
    assert wer < MAX_WER, f"word error rate {wer:.2f}"


@pytest.mark.parametrize(("container", "codec"), [("ogg", "libopus"), ("webm", "libopus"), ("mp3", "libmp3lame")])
async def test_what_browsers_send_transcribes_too(spoken, recogniser, container: str, codec: str) -> None:
    """MediaRecorder's webm/ogg Opus (48 kHz) and mp3, decoded and resampled to 16 kHz by PyAV."""
    encoded = [transcode(a, container, codec, rate=48_000 if codec == "libopus" else 22_050) for a in spoken]
    assert all(len(e) < len(a) / 3 for e, a in zip(encoded, spoken, strict=True))  # really compressed
    wer = await _wer(recogniser, encoded, SENTENCES)
    assert wer < MAX_WER, f"word error rate {wer:.2f} for {container}/{codec}"


async def test_bad_audio_is_refused_clearly(recogniser) -> None:
    with pytest.raises(InvalidInput, match="empty"):
        await recogniser.transcribe(b"")
    with pytest.raises(InvalidInput, match="could not be decoded.*webm or ogg"):
        await recogniser.transcribe(b"this is not audio at all" * 50)
    with pytest.raises(TooLarge, match="HEARTH_VOICE_MAX_AUDIO_BYTES"):
        await PocketSphinxTranscriber(AudioLimits(max_bytes=1000, max_seconds=60)).transcribe(tone_wav(1.0))
    with pytest.raises(TooLarge, match="longer than 0.5 s"):
        await PocketSphinxTranscriber(AudioLimits(max_bytes=10**7, max_seconds=0.5)).transcribe(tone_wav(1.0))


def test_audio_is_decoded_to_16_khz_mono() -> None:
    need_av()
    stereo = io.BytesIO()
    with wave.open(stereo, "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(44_100)
        w.writeframes(b"\x01\x00\x02\x00" * 44_100)  # one second
    pcm = decode_pcm(stereo.getvalue(), LIMITS)
    assert abs(len(pcm) - 32_000) <= 64  # 16,000 samples of 2 bytes


async def test_only_english_offline(recogniser) -> None:
    with pytest.raises(InvalidInput, match="only knows English.*HEARTH_STT_BASE_URL"):
        await recogniser.transcribe(tone_wav(), language="de")
    with pytest.raises(InvalidInput, match="not a language code"):
        await recogniser.transcribe(tone_wav(), language="../etc")
    t = await recogniser.transcribe(tone_wav(0.5), language="en-US")
    assert t.backend == "pocketsphinx" and t.seconds_audio == pytest.approx(0.5, abs=0.01)


async def test_offline_recogniser_missing_says_how_to_install(monkeypatch) -> None:
    monkeypatch.setattr(PocketSphinxTranscriber, "installed", staticmethod(lambda: False))
    t = PocketSphinxTranscriber(LIMITS)
    assert not t.status().available and "hearth[voice]" in t.status().how_to_enable
    with pytest.raises(VoiceUnavailable, match=r"pip install 'hearth\[voice\]'.*|HEARTH_STT_BASE_URL"):
        await t.transcribe(tone_wav())


def test_settings_pick_the_backend() -> None:
    assert isinstance(make_transcriber(Settings()), PocketSphinxTranscriber)
    http = make_transcriber(Settings(stt_base_url="http://127.0.0.1:9/v1"))
    assert isinstance(http, HTTPTranscriber) and http.status().available
    assert "127.0.0.1:9/v1/audio/transcriptions" in http.status().detail
    off = make_transcriber(Settings(stt_backend="off"))
    assert isinstance(off, NoTranscriber) and "HEARTH_STT_BACKEND=off" in off.status().detail
    assert "HEARTH_STT_BASE_URL" in off.status().how_to_enable
    assert isinstance(make_transcriber(Settings(stt_backend="http")), NoTranscriber)
    assert "http://" in make_transcriber(Settings(stt_base_url="localhost:8000")).status().detail


# ---- the HTTP backend, against the scripted server ---------------------------------------------------------
def _http(server: FakeSpeech | str, **kw) -> HTTPTranscriber:  # noqa: ANN003
    url = server if isinstance(server, str) else server.base_url
    options = {"model": "Systran/faster-whisper-small", "api_key": None, "language": None, "limits": LIMITS,
               "timeout_seconds": 10, "connect_retries": 0, "backoff_seconds": 0.01, **kw}
    return HTTPTranscriber(base_url=url, **options)


async def test_http_sends_the_openai_fields_and_key() -> None:
    need_av()
    with FakeSpeech(api_key="sekrit") as server:
        server.queue_transcript(" turn on the lights ")
        t = await _http(server, api_key="sekrit", language="en").transcribe(tone_wav(1.0), filename="rec.webm")
        assert (t.text, t.backend) == ("turn on the lights", "http")
        assert t.seconds_audio == pytest.approx(1.0, abs=0.01)
        sent = server.transcriptions[0]
        assert sent["fields"] == {"model": "Systran/faster-whisper-small", "response_format": "json",
                                  "language": "en"}
        assert sent["headers"]["authorization"] == "Bearer sekrit"
        assert (sent["filename"], sent["content_type"]) == ("audio.wav", "audio/wav")  # 16 kHz WAV for any server
        with wave.open(io.BytesIO(sent["audio"])) as w:
            assert (w.getframerate(), w.getnchannels(), w.getnframes()) == (16_000, 1, 16_000)
        with pytest.raises(VoiceError, match=r"refused the request \(401.*HEARTH_STT_API_KEY"):
            await _http(server, api_key="wrong").transcribe(tone_wav())


async def test_http_takes_a_plain_text_answer(fake_speech) -> None:
    need_av()
    fake_speech.queue_transcript("plain words", plain=True)
    assert (await _http(fake_speech).transcribe(tone_wav())).text == "plain words"
    assert "language" not in fake_speech.transcriptions[0]["fields"]


async def test_http_server_errors_are_clear(fake_speech) -> None:
    need_av()
    stt = _http(fake_speech)
    fake_speech.queue_audio_error("transcriptions", 500, "CUDA out of memory")
    with pytest.raises(VoiceError, match="transcription server .* answered 500: CUDA out of memory") as e:
        await stt.transcribe(tone_wav())
    assert e.value.status == 502
    fake_speech.queue_audio_error("transcriptions", 404, "model 'nope' not found")
    with pytest.raises(VoiceError, match="has no model 'Systran/faster-whisper-small'.*HEARTH_STT_MODEL"):
        await stt.transcribe(tone_wav())
    fake_speech.queue_audio_error("transcriptions", 422, "Invalid audio")
    with pytest.raises(InvalidInput, match="Invalid audio"):
        await stt.transcribe(tone_wav())
    # Still loading: retried, then unavailable (503 at the API).
    fake_speech.queue_audio_error("transcriptions", 503, "loading model")
    fake_speech.queue_audio_error("transcriptions", 503, "loading model")
    with pytest.raises(VoiceUnavailable, match="not ready .*loading model.*2 attempts"):
        await _http(fake_speech, connect_retries=1).transcribe(tone_wav())
    # Retried once, then answered.
    fake_speech.queue_audio_error("transcriptions", 502, "no backend")
    fake_speech.queue_transcript("second time lucky")
    assert (await _http(fake_speech, connect_retries=1).transcribe(tone_wav())).text == "second time lucky"
    # Undecodable audio never reaches the server.
    before = len(fake_speech.transcriptions)
    with pytest.raises(InvalidInput):
        await stt.transcribe(b"garbage" * 100)
    assert len(fake_speech.transcriptions) == before


async def test_http_slow_or_unreachable_server(fake_speech) -> None:
    need_av()
    fake_speech.queue_transcript("too late", delay=2)
    with pytest.raises(VoiceError, match="timed out after 0.5 s .*HEARTH_VOICE_TIMEOUT_SECONDS"):
        await _http(fake_speech, timeout_seconds=0.5).transcribe(tone_wav())
    nowhere = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(VoiceUnavailable, match="cannot reach the transcription server .*Is it running.*speaches"):
        await _http(nowhere, connect_retries=1).transcribe(tone_wav())
