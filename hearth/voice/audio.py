"""Audio as browsers and phones send it (webm or ogg with Opus from MediaRecorder, wav, mp3, m4a), decoded
and resampled to what recognisers read: 16 kHz mono signed 16-bit PCM. PyAV does the work (its wheel bundles
ffmpeg, so no system ffmpeg is needed); it comes with the `voice` extra.

Everything here blocks: callers run it in a thread. Limits are checked before and while decoding, so a
small file that would decode to hours of audio stops at the limit instead of filling memory.
"""

from __future__ import annotations

import importlib.util
import io
import wave
from dataclasses import dataclass

from hearth.voice.types import InvalidInput, TooLarge, VoiceUnavailable

RATE = 16_000  # what pocketsphinx's model and Whisper were trained on
FORMATS = "webm or ogg (Opus), wav, mp3 or m4a"


@dataclass(frozen=True)
class AudioLimits:
    max_bytes: int
    max_seconds: float

    def check_size(self, data: bytes) -> None:
        """Empty is unusable (422); over the byte limit is 413. Cheap, so it runs before anything else."""
        if not data:
            raise InvalidInput("the audio is empty: record something first")
        if len(data) > self.max_bytes:
            raise TooLarge(f"the audio is {len(data):,} bytes; at most {self.max_bytes:,} are accepted "
                           "(HEARTH_VOICE_MAX_AUDIO_BYTES)")

    def too_long(self) -> TooLarge:
        return TooLarge(f"the audio is longer than {self.max_seconds:g} s, the most accepted "
                        "(HEARTH_VOICE_MAX_AUDIO_SECONDS); send a shorter recording")


def have_av() -> bool:
    """PyAV is importable (the decoder every offline path needs)."""
    return importlib.util.find_spec("av") is not None


def _av():  # noqa: ANN202 - the module
    try:
        import av
    except ImportError as e:
        raise VoiceUnavailable("decoding audio needs PyAV: pip install 'hearth[voice]'") from e
    return av


def decode_pcm(data: bytes, limits: AudioLimits, rate: int = RATE) -> bytes:
    """`data` in any format ffmpeg reads, as mono s16 little-endian PCM at `rate` Hz.

    InvalidInput when it is empty, undecodable or silent to the last sample; TooLarge past the limits."""
    limits.check_size(data)
    av = _av()
    max_bytes = int(limits.max_seconds * rate) * 2
    resampler = av.AudioResampler(format="s16", layout="mono", rate=rate)
    pcm = bytearray()
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            if not container.streams.audio:
                raise InvalidInput(f"the file has no audio track; send {FORMATS}")
            for frame in container.decode(audio=0):
                for out in resampler.resample(frame):
                    pcm += out.to_ndarray().tobytes()
                if len(pcm) > max_bytes:
                    raise limits.too_long()
            for out in resampler.resample(None):
                pcm += out.to_ndarray().tobytes()
    except av.FFmpegError as e:
        why = getattr(e, "strerror", None) or str(e)
        raise InvalidInput(f"the audio could not be decoded ({why}); send {FORMATS}") from e
    if len(pcm) > max_bytes:
        raise limits.too_long()
    if not pcm:
        raise InvalidInput(f"the file decodes to no sound at all; send {FORMATS}")
    return bytes(pcm)


def pcm_seconds(pcm: bytes, rate: int = RATE) -> float:
    return len(pcm) / 2 / rate


def wav_bytes(pcm: bytes, rate: int = RATE) -> bytes:
    """Mono s16 PCM wrapped as a WAV file (the one format every transcription server reads)."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm)
    return buf.getvalue()


def transcode(data: bytes, container: str, codec: str, rate: int = 48_000, bit_rate: int | None = 32_000) -> bytes:
    """`data` re-encoded as `container` with `codec`, mono at `rate` Hz: e.g. ("webm", "libopus") to make
    what a browser's MediaRecorder sends out of a WAV, for tests and benchmarks."""
    av = _av()
    out_buf = io.BytesIO()
    with av.open(io.BytesIO(data), mode="r") as src, av.open(out_buf, mode="w", format=container) as dst:
        stream = dst.add_stream(codec, rate=rate, layout="mono")
        if bit_rate:
            stream.bit_rate = bit_rate
        resampler = av.AudioResampler(format=stream.format.name, layout="mono", rate=rate)
        frames = [*src.decode(audio=0), None]
        for frame in frames:
            for out in resampler.resample(frame):
                dst.mux(stream.encode(out))
        dst.mux(stream.encode(None))
    return out_buf.getvalue()
