"""A spoken conversation turn with an AI, end to end through the API: espeak-ng says a question,
the offline recogniser turns it into text, a creator's AI answers it (the scripted model server),
and the answer is spoken back and understood again. Prints the time each step added."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import jiwer
import pytest
from fastapi import FastAPI

from hearth.services import accounts, auth, posts
from hearth.services.studio import ais
from tests.app.test_assistant import parse_sse
from voice import need_espeak, need_pocketsphinx
from voice.test_voice_api import client, make_settings, running, upload

QUESTION = "show me the latest posts from my friends"
ANSWER = "here are the latest posts from your friends"


@pytest.fixture
async def app(tmp_path: Path, fake_llm) -> AsyncIterator[FastAPI]:
    settings = make_settings(tmp_path, llm_base_url=fake_llm.base_url, llm_model="m", llm_connect_retries=0,
                             studio_dm_poll_seconds=3600)
    async for a in running(settings):
        yield a


async def test_a_spoken_turn_with_an_ai(app, fake_llm) -> None:
    need_espeak()
    need_pocketsphinx()
    async with app.state.sessionmaker() as db:
        cora = await accounts.create_profile(db, "cora")
        fan = await accounts.create_profile(db, "fan")
        await db.commit()
        await posts.create_post(db, cora, "My friends posted photos from the show")
        await ais.create(db, cora, "Cora", "cora_ai", of_creator=True)
        token, _ = await auth.issue_token(db, None, fan.id, ["read", "write"])
    took: dict[str, float] = {}
    async with client(app, token) as c:
        t0 = time.perf_counter()
        question = (await c.post("/api/hearth/v1/voice/speak", json={"text": QUESTION})).content  # the fan speaks
        took["espeak question"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        heard = await c.post("/api/hearth/v1/voice/transcribe", **upload(question, "q.wav"))
        took["speech to text"] = time.perf_counter() - t0
        text = heard.json()["text"]
        assert jiwer.wer(QUESTION, text) < 0.5, text
        conv = (await c.post("/api/hearth/v1/ais/cora_ai/conversations")).json()["id"]
        fake_llm.queue_text(ANSWER.capitalize() + ".")
        t0 = time.perf_counter()
        r = await c.post(f"/api/hearth/v1/assistant/conversations/{conv}/messages", json={"content": text})
        took["the AI's answer (scripted model)"] = time.perf_counter() - t0
        answer = [d for e, d in parse_sse(r.text) if e == "message"][-1]["content"]
        assert fake_llm.requests[-1]["messages"][-1]["content"] == text  # the transcript is what the AI got
        t0 = time.perf_counter()
        spoken = await c.post("/api/hearth/v1/voice/speak", json={"text": answer})
        took["text to speech"] = time.perf_counter() - t0
        assert spoken.headers["content-type"] == "audio/wav"
        back = await c.post("/api/hearth/v1/voice/transcribe", **upload(spoken.content, "a.wav"))
        assert jiwer.wer(ANSWER, back.json()["text"]) < 0.5, back.json()["text"]
    print("\n" + "\n".join(f"{k}: {v * 1000:.0f} ms" for k, v in took.items()))
