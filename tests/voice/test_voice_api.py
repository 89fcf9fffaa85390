"""The voice API (`/api/hearth/v1/voice`) on SQLite: who may call it, speech out and back in through the
offline backends, the scripted HTTP backends, and the 4xx/5xx answers for bad input, missing backends
and too many requests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import jiwer
import pytest
from fastapi import FastAPI

from hearth.app.main import create_app
from hearth.services import accounts, auth
from hearth.settings import Settings
from hearth.storage.db import migrate
from tests.fake_speech import tone_wav
from tests.live_server import NO_RATE_LIMITS
from voice import SENTENCES, need_av, need_espeak, need_pocketsphinx

API = "/api/hearth/v1/voice"


def make_settings(tmp_path: Path, **voice) -> Settings:  # noqa: ANN003
    url = f"sqlite:///{tmp_path / 'hearth.db'}"
    migrate(url)
    return Settings(database_url=url, snapshot_dir=tmp_path / "snapshots", **NO_RATE_LIMITS,
                    **voice)


async def running(settings: Settings) -> AsyncIterator[FastAPI]:
    app = create_app(settings, migrate_db=False)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[FastAPI]:
    async for a in running(make_settings(tmp_path)):
        yield a


async def people(app: FastAPI) -> dict[str, str]:
    """ann's tokens (read+write, read only) and her web session (cookie and CSRF token)."""
    async with app.state.sessionmaker() as db:
        ann = await accounts.create_profile(db, "ann")
        await db.commit()
        token, _ = await auth.issue_token(db, None, ann.id, ["read", "write"])
        read_only, _ = await auth.issue_token(db, None, ann.id, ["read"])
        cookie, session = await auth.start_session(db, ann)
    return {"token": token, "read_only": read_only, "cookie": cookie, "csrf": session.csrf_token}


def client(app: FastAPI, token: str | None = None, **kw) -> httpx.AsyncClient:  # noqa: ANN003
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver", headers=headers,
                             timeout=60, **kw)


def upload(audio: bytes, name: str = "rec.webm", **fields: str) -> dict:
    return {"files": {"file": (name, audio, "audio/webm")}, "data": fields}


async def test_speak_then_transcribe_round_trip(app) -> None:
    need_espeak()
    need_pocketsphinx()
    w = await people(app)
    async with client(app, w["token"]) as c:
        status = (await c.get(f"{API}/status")).json()
        assert status["stt"]["backend"] == "pocketsphinx" and status["stt"]["available"]
        assert status["tts"]["backend"] == "espeak" and status["tts"]["available"]
        assert status["limits"] == {"max_audio_seconds": 60.0, "max_audio_bytes": 10_000_000,
                                    "max_text_chars": 2000, "requests_per_user": "60/minute"}
        heard = []
        for sentence in SENTENCES[:2]:
            r = await c.post(f"{API}/speak", json={"text": sentence})
            assert r.status_code == 200, r.text
            assert r.headers["content-type"] == "audio/wav" and r.content[:4] == b"RIFF"
            assert r.headers["x-hearth-voice-backend"] == "espeak"
            assert r.headers["x-hearth-speech-truncated"] == "false"
            t = await c.post(f"{API}/transcribe", **upload(r.content, "speech.wav", language="en"))
            assert t.status_code == 200, t.text
            body = t.json()
            assert body["backend"] == "pocketsphinx" and body["seconds_audio"] > 1 and body["seconds_taken"] > 0
            heard.append(body["text"])
        assert jiwer.wer(SENTENCES[:2], heard) < 0.5, heard


async def test_who_may_call(app) -> None:
    need_espeak()
    need_pocketsphinx()
    w = await people(app)
    async with client(app) as c:
        for method, path, kw in (("GET", "status", {}), ("POST", "speak", {"json": {"text": "hi"}}),
                                 ("POST", "transcribe", upload(tone_wav()))):
            r = await c.request(method, f"{API}/{path}", **kw)
            assert r.status_code == 401 and "sign in" in r.json()["error"]
    async with client(app, w["read_only"]) as c:
        assert (await c.get(f"{API}/status")).status_code == 200
        assert (await c.post(f"{API}/speak", json={"text": "hi"})).status_code == 403
        assert (await c.post(f"{API}/transcribe", **upload(tone_wav()))).status_code == 403
    async with client(app, cookies={"hearth_session": w["cookie"]}) as c:
        assert (await c.get(f"{API}/status")).status_code == 200
        r = await c.post(f"{API}/speak", json={"text": "hi"})  # a cookie write without the CSRF header
        assert r.status_code == 403 and "CSRF" in r.json()["error"]
        r = await c.post(f"{API}/speak", json={"text": "hi"}, headers={"X-CSRF-Token": w["csrf"]})
        assert r.status_code == 200 and r.content[:4] == b"RIFF"
        assert (await c.post(f"{API}/transcribe", **upload(tone_wav()))).status_code == 403
        r = await c.post(f"{API}/transcribe", **upload(tone_wav()), headers={"X-CSRF-Token": w["csrf"]})
        assert r.status_code == 200 and r.json()["backend"] == "pocketsphinx"
        r = await c.post(f"{API}/transcribe", **upload(tone_wav(), csrf_token=w["csrf"]))  # as a plain form would
        assert r.status_code == 200, r.text


async def test_bad_input_is_4xx_json(tmp_path: Path) -> None:
    need_pocketsphinx()
    async for app in running(make_settings(tmp_path, voice_max_audio_bytes=20_000, voice_max_audio_seconds=0.5)):
        w = await people(app)
        async with client(app, w["token"]) as c:
            cases = [(upload(tone_wav(1.0)), 413, "HEARTH_VOICE_MAX_AUDIO_BYTES"),  # 32 kB
                     (upload(tone_wav(0.6, rate=8000)), 413, "longer than 0.5 s"),  # 9.6 kB
                     (upload(b"\x1aE\xdf\xa3 not really webm" * 20), 422, "could not be decoded"),
                     (upload(b""), 422, "empty"),
                     (upload(tone_wav(0.2), language="de"), 422, "only knows English"),
                     (upload(tone_wav(0.2), language="x" * 30), 422, "not a language code"),
                     ({"data": {"language": "en"}}, 422, "field `file`"),
                     ({"json": {"file": "abc"}}, 422, "field `file`")]
            for kw, status, message in cases:
                r = await c.post(f"{API}/transcribe", **kw)
                assert r.status_code == status and message in r.json()["error"], (kw.get("data"), r.text)
            r = await c.post(f"{API}/transcribe", content=b"x" * 200_000,
                             headers={"Content-Type": "multipart/form-data; boundary=zzz"})
            assert r.status_code == 413 and "upload is 200,000 bytes" in r.json()["error"]
            for body, message in (({"text": ""}, "text"), ({"text": "hi", "voice": "--stdout"}, "voice"),
                                  ({"text": "hi", "speed": 3}, "speed"), ({"text": " \n "}, "no text")):
                r = await c.post(f"{API}/speak", json=body)
                assert r.status_code == 422 and message in r.json()["error"], r.text


async def test_no_backend_is_503_saying_how_to_enable(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, espeak_path=str(tmp_path / "no-espeak-ng"), stt_backend="off")
    async for app in running(settings):
        w = await people(app)
        async with client(app, w["token"]) as c:
            status = (await c.get(f"{API}/status")).json()
            assert status["tts"]["available"] is False and "apt-get install espeak-ng" in status["tts"]["how_to_enable"]
            assert status["stt"]["available"] is False and "HEARTH_STT_BASE_URL" in status["stt"]["how_to_enable"]
            r = await c.post(f"{API}/speak", json={"text": "hello"})
            assert r.status_code == 503
            assert "apt-get install espeak-ng" in r.json()["error"] and "HEARTH_TTS_BASE_URL" in r.json()["error"]
            r = await c.post(f"{API}/transcribe", **upload(tone_wav()))
            assert r.status_code == 503 and "HEARTH_STT_BASE_URL" in r.json()["error"]


async def test_http_backends_through_the_api(tmp_path: Path, fake_speech) -> None:
    need_av()
    settings = make_settings(tmp_path, stt_base_url=fake_speech.base_url, tts_base_url=fake_speech.base_url,
                             tts_format="wav", tts_max_chars=10, voice_connect_retries=0)
    async for app in running(settings):
        w = await people(app)
        async with client(app, w["token"]) as c:
            assert (await c.get(f"{API}/status")).json()["stt"]["backend"] == "http"
            fake_speech.queue_transcript("what is new today")
            r = await c.post(f"{API}/transcribe", **upload(tone_wav(0.5)))
            assert r.json()["text"] == "what is new today" and r.json()["backend"] == "http"
            assert r.json()["seconds_audio"] == pytest.approx(0.5, abs=0.01)
            r = await c.post(f"{API}/speak", json={"text": "read this long answer aloud", "voice": "nova"})
            assert r.status_code == 200 and r.headers["content-type"] == "audio/wav"
            assert r.headers["x-hearth-speech-truncated"] == "true" and r.headers["x-hearth-voice-backend"] == "http"
            assert fake_speech.speeches[-1]["body"] == {"model": "tts-1", "input": "read this", "voice": "nova",
                                                        "response_format": "wav"}
            fake_speech.queue_audio_error("transcriptions", 500, "GPU fell over")
            r = await c.post(f"{API}/transcribe", **upload(tone_wav()))
            assert r.status_code == 502 and "GPU fell over" in r.json()["error"]


async def test_per_user_rate_limit(tmp_path: Path) -> None:
    need_espeak()
    async for app in running(make_settings(tmp_path, voice_requests_per_user="2/minute")):
        w = await people(app)
        async with client(app, w["token"]) as c:
            for _ in range(2):
                assert (await c.post(f"{API}/speak", json={"text": "hi"})).status_code == 200
            r = await c.post(f"{API}/speak", json={"text": "hi"})
            assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
            assert "too many voice requests" in r.json()["error"]
            assert (await c.post(f"{API}/transcribe", **upload(tone_wav()))).status_code == 429
