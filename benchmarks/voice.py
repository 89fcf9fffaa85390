"""Offline voice, end to end: espeak-ng says N known sentences (hearth/voice's EspeakSpeaker, default voice),
the offline recogniser (PocketSphinxTranscriber) transcribes them, as WAV and as webm/Opus (what browsers'
MediaRecorder sends, made with PyAV). Reports the word error rate per sentence and overall (jiwer), and
seconds per turn for text to speech and speech to text (p50, p90; speech to text includes decoding and
resampling the audio). One request at a time; the recogniser is warmed up first (its model loads once).

    python benchmarks/voice.py [--n 20] [--voice en-us+f5] [--speed 150]

Prints a table and writes benchmarks/results/voice.json with machine info. Not run in CI.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import sys
from importlib.metadata import version
from pathlib import Path

import jiwer
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SENTENCES = ["the quick brown fox jumps over the lazy dog", "please turn on the kitchen lights",
             "what is the weather like today", "show me the latest posts from my friends",
             "i would like to hear some jazz music tonight", "who followed me this week",
             "write a short post about my garden", "how many people liked my photo",
             "remind me to call my mother tomorrow", "find posts about coffee and books",
             "tell me a story about a dragon", "what time is it in london", "summarize the news for me",
             "play something relaxing", "thank you very much for your help", "can you recommend a good movie",
             "send a message to my brother", "the train leaves at seven in the morning",
             "i am going to the park with my dog", "what did my sister post yesterday"]


def stats(xs: list[float]) -> dict[str, float]:
    a = np.array(xs)
    return {"p50_s": round(float(np.percentile(a, 50)), 4), "p90_s": round(float(np.percentile(a, 90)), 4),
            "mean_s": round(float(a.mean()), 4), "n": len(xs)}


async def run(n: int, voice: str, speed: int) -> dict:
    from hearth.voice.audio import AudioLimits, transcode
    from hearth.voice.stt import PocketSphinxTranscriber
    from hearth.voice.tts import EspeakSpeaker

    speaker = EspeakSpeaker(voice=voice, speed=speed)
    recogniser = PocketSphinxTranscriber(AudioLimits(max_bytes=10_000_000, max_seconds=60))
    await recogniser.transcribe((await speaker.speak("warming up")).audio)
    rows, tts_s, stt_s, opus_s, audio_s = [], [], [], [], []
    for sentence in SENTENCES[:n]:
        speech = await speaker.speak(sentence)
        heard = await recogniser.transcribe(speech.audio)
        opus = await recogniser.transcribe(await asyncio.to_thread(transcode, speech.audio, "webm", "libopus"))
        tts_s.append(speech.seconds_taken)
        stt_s.append(heard.seconds_taken)
        opus_s.append(opus.seconds_taken)
        audio_s.append(heard.seconds_audio or 0.0)
        rows.append({"reference": sentence, "heard_wav": heard.text,
                     "wer_wav": round(jiwer.wer(sentence, heard.text), 3), "heard_webm_opus": opus.text,
                     "wer_webm_opus": round(jiwer.wer(sentence, opus.text), 3),
                     "seconds_audio": round(heard.seconds_audio or 0.0, 3)})
    references = [r["reference"] for r in rows]
    return {
        "sentences": rows,
        "wer": {"wav": round(jiwer.wer(references, [r["heard_wav"] for r in rows]), 4),
                "webm_opus": round(jiwer.wer(references, [r["heard_webm_opus"] for r in rows]), 4)},
        "seconds_per_turn": {"tts_espeak": stats(tts_s), "stt_pocketsphinx_wav": stats(stt_s),
                             "stt_pocketsphinx_webm_opus": stats(opus_s), "audio_length": stats(audio_s)},
        "stt_real_time_factor_p50": round(float(np.median(np.array(stt_s) / np.array(audio_s))), 4),
    }


def main() -> None:
    from rich.console import Console
    from rich.table import Table

    from hearth.bench.machine import machine_info

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=len(SENTENCES), help=f"sentences (at most {len(SENTENCES)})")
    ap.add_argument("--voice", default="en-us+f5", help="espeak-ng voice (Hearth's default)")
    ap.add_argument("--speed", type=int, default=150, help="espeak-ng words per minute (Hearth's default)")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "voice.json")
    args = ap.parse_args()
    console = Console(width=140)
    measured = asyncio.run(run(min(args.n, len(SENTENCES)), args.voice, args.speed))
    result = {
        "benchmark": "voice", "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": "python benchmarks/voice.py " + " ".join(sys.argv[1:]), "machine": machine_info(),
        "tts": {"backend": "espeak-ng", "voice": args.voice, "speed_wpm": args.speed},
        "stt": {"backend": "pocketsphinx (bundled US English model)", "pocketsphinx": version("pocketsphinx"),
                "av": version("av"), "jiwer": version("jiwer")},
        **measured,
    }
    table = Table(title="Offline voice: espeak-ng -> pocketsphinx (word error rate per sentence)")
    for col in ("said", "heard (wav)", "WER wav", "heard (webm/Opus)", "WER opus"):
        table.add_column(col, justify="right" if col.startswith("WER") else "left")
    for r in measured["sentences"]:
        table.add_row(r["reference"], r["heard_wav"], f"{r['wer_wav']:.2f}", r["heard_webm_opus"],
                      f"{r['wer_webm_opus']:.2f}")
    console.print(table)
    turn = measured["seconds_per_turn"]
    console.print(f"overall WER: wav {measured['wer']['wav']:.3f}, webm/Opus {measured['wer']['webm_opus']:.3f}")
    console.print(f"seconds per turn (p50 / p90): text to speech {turn['tts_espeak']['p50_s']} / "
                  f"{turn['tts_espeak']['p90_s']}; speech to text {turn['stt_pocketsphinx_wav']['p50_s']} / "
                  f"{turn['stt_pocketsphinx_wav']['p90_s']} (wav), {turn['stt_pocketsphinx_webm_opus']['p50_s']} / "
                  f"{turn['stt_pocketsphinx_webm_opus']['p90_s']} (webm/Opus); audio {turn['audio_length']['p50_s']} s "
                  f"(p50), real-time factor {measured['stt_real_time_factor_p50']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    console.print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
