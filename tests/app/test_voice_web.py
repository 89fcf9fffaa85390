"""Talking to the AIs by voice in the web UI (static/voice.js, on the Assistant page and every creator
AI's chat page).

Over HTTP (httpx on the ASGI app, on SQLite and PostgreSQL): both chat pages carry the Talk button,
the voice panel (state, Read answers aloud, Hands-free, the player, the help) and voice.js, with no
inline script, and a policy that lets the page play the spoken answer it fetched (media-src blob:).

In a real browser (Debian's Chromium through Playwright, uvicorn on loopback, the scripted model
server of tests/fake_openai.py; Chromium's fake microphone plays a WAV espeak-ng said): holding Talk
records, the server's offline recogniser (pocketsphinx) transcribes, the words show as the person's
message and reach the model; the scripted answer streams; it is read aloud (its Markdown link and
citation marker left out) by espeak-ng through /voice/speak and the page's <audio> player gets it.
Hands-free mode listens at once, sends at the pause, reads the answer and listens again until Escape.
Alt+Shift+V starts and stops; a 429 from the voice API is said plainly and typing still works; where
the server has no voice backends the controls are off and say how to enable them. Nothing else is
logged as an error. Without espeak-ng, pocketsphinx or Chromium this skips, and fails on CI."""

from __future__ import annotations

import asyncio
import io
import json
import re
import time
import wave
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from voice import need_espeak, need_pocketsphinx  # tests/voice

from hearth.app.main import create_app
from hearth.settings import Settings
from hearth.storage.db import migrate
from hearth.voice.tts import EspeakSpeaker
from tests.app.test_studio_web import make_ai
from tests.app.test_web import browser, running, sign_up
from tests.browser import CHROMIUM_ARGS
from tests.live_server import NO_RATE_LIMITS, serve_app

VOICE_SCRIPT = re.compile(r'<script src="/static/voice\.js\?v=\w+" defer></script>')
# What the fake microphone says: words the offline recogniser gets right from espeak-ng (tests/voice).
SAID = "what is the weather like today"
ANSWER = "The weather today is sunny and warm, see [the forecast](/@bob) [1]."
SPOKEN = "The weather today is sunny and warm, see the forecast."


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    async with running(settings) as app:
        yield app


def assert_voice_controls(html: str) -> None:
    assert VOICE_SCRIPT.search(html) and "<script>" not in html
    assert html.index("/static/assistant.js") < html.index("/static/voice.js")  # voice.js uses its events
    talk = re.search(r'<button type="button" class="button voice-talk" id="voice-talk"[^>]*>Talk</button>', html)
    assert talk and 'aria-keyshortcuts="Alt+Shift+V"' in talk.group(0) and 'aria-pressed="false"' in talk.group(0)
    assert " hidden" in talk.group(0)  # shown by voice.js: without JavaScript nothing is recorded
    start = html.index('id="voice-panel"')
    panel = html[start:html.index("</form>", start)]
    assert 'role="status" aria-live="polite"' in panel and 'id="voice-state-text"' in panel
    assert re.search(r'<input type="checkbox" id="voice-read-aloud" disabled> Read answers aloud</label>', panel)
    assert re.search(r'<input type="checkbox" id="voice-hands-free" disabled> Hands-free conversation</label>', panel)
    assert '<audio id="voice-audio" class="voice-audio" controls' in panel and 'aria-label="Spoken answer"' in panel
    assert 'id="voice-note"' in panel and 'id="voice-error" class="voice-error" role="alert"' in panel
    assert "Alt+Shift+V" in panel and "Escape ends it" in panel


async def test_both_chat_pages_have_the_voice_controls(app: FastAPI) -> None:
    async with browser(app) as c, browser(app) as fan:
        token = await sign_up(c, "cora")
        r = await c.get("/assistant")
        assert r.status_code == 200
        assert_voice_controls(r.text)
        # The spoken answer is fetched, then played from a blob: URL, which the policy must allow.
        csp = r.headers["content-security-policy"]
        assert re.search(r"media-src 'self' blob:", csp), f"the page could not play spoken answers: {csp}"
        assert "script-src 'self';" in csp

        await make_ai(c, token)
        await sign_up(fan, "fan")
        chat = await fan.get("/@cora_ai/chat")
        assert chat.status_code == 200 and 'data-base-url="/@cora_ai/chat"' in chat.text
        assert_voice_controls(chat.text)

        js = await c.get("/static/voice.js")
        assert js.status_code == 200 and "javascript" in js.headers["content-type"]
        for needed in ("/api/hearth/v1/voice", "MediaRecorder", "audio/webm;codecs=opus", "hearth:ask",
                       "hearth:answer", "how_to_enable", "localStorage"):
            assert needed in js.text, needed
        assistant_js = (await c.get("/static/assistant.js")).text
        assert 'addEventListener("hearth:ask"' in assistant_js and '"hearth:answer"' in assistant_js


# ---- in a real browser -------------------------------------------------------------------------
TIMEOUT_MS = 20_000


def microphone_wav(path: Path, espeak: str) -> Path:
    """SAID as espeak-ng says it, then 2 s of silence (Chromium's fake microphone plays the file in a loop)."""
    audio = asyncio.run(EspeakSpeaker(path=espeak).speak(SAID)).audio
    with wave.open(io.BytesIO(audio), "rb") as src:
        params, frames = src.getparams(), src.readframes(src.getnframes())
    with wave.open(str(path), "wb") as dst:
        dst.setnchannels(params.nchannels)
        dst.setsampwidth(params.sampwidth)
        dst.setframerate(params.framerate)
        dst.writeframes(frames + b"\0" * (params.framerate * params.sampwidth * params.nchannels * 2))
    return path


@pytest.fixture
def served(tmp_path: Path, fake_llm) -> Iterator[str]:  # noqa: ANN001 - tests/fake_openai.FakeOpenAI
    """The app on loopback with the offline voice backends (pocketsphinx, espeak-ng) and the scripted model."""
    url = f"sqlite:///{tmp_path / 'hearth.db'}"
    migrate(url)
    settings = Settings(database_url=url, snapshot_dir=tmp_path / "snapshots", **NO_RATE_LIMITS,
                        llm_base_url=fake_llm.base_url, llm_model="test-model", llm_connect_retries=0)
    with serve_app(create_app(settings)) as base:
        yield base


def wait_until(page, condition, timeout_s: float = TIMEOUT_MS / 1000) -> None:  # noqa: ANN001 - a Playwright page
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        page.wait_for_timeout(100)


@pytest.mark.slow
def test_browser_push_to_talk_then_the_answer_is_read_aloud(served: str, fake_llm, chromium_path: str,  # noqa: ANN001
                                                           tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    espeak = need_espeak()
    need_pocketsphinx()
    wav = microphone_wav(tmp_path / "microphone.wav", espeak)
    fake_llm.queue_text(ANSWER, n=5)
    fake_llm.queue_text("Weather")  # the conversation's title
    errors: list[str] = []
    speak_requests: list[dict] = []
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=chromium_path, headless=True, args=[
            *CHROMIUM_ARGS, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={wav}"])
        try:
            page = chromium.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(TIMEOUT_MS)
            expect.set_options(timeout=TIMEOUT_MS)
            page.on("console", lambda m: m.type == "error" and errors.append(f"console: {m.text} {m.location}"))
            page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
            page.on("request", lambda r: r.url.endswith("/voice/speak") and speak_requests.append(
                {"body": json.loads(r.post_data or "{}"), "csrf": r.headers.get("x-csrf-token")}))

            page.goto(served + "/signup")
            page.get_by_label("Username").fill("tess")
            page.get_by_label("Password").fill("tess password")
            page.get_by_role("button", name="Sign up").click()
            page.wait_for_url(served + "/home")
            csp = page.goto(served + "/assistant").headers["content-security-policy"]
            assert "media-src 'self' blob:" in csp, f"the page could not play spoken answers: {csp}"
            talk = page.get_by_role("button", name="Talk", exact=True)
            expect(talk).to_be_enabled()  # the server has both backends, the browser records
            expect(page.locator("#voice-note")).to_be_hidden()
            read_aloud = page.get_by_label("Read answers aloud")
            expect(read_aloud).to_be_enabled()
            read_aloud.check()
            expect(page.get_by_label("Hands-free conversation")).to_be_enabled()

            # Hold Talk while the microphone speaks, then let go: transcribed, shown, sent.
            state = page.locator("#voice-state-text")
            talk.hover()
            page.mouse.down()
            expect(talk).to_have_attribute("aria-pressed", "true")
            expect(state).to_contain_text("let go to send")
            page.wait_for_timeout(3200)
            page.mouse.up()
            expect(talk).to_have_attribute("aria-pressed", "false")
            log = page.locator("#assistant-log")
            mine = log.locator(".assistant-msg--user")
            expect(mine).to_have_count(1)
            expect(mine).to_contain_text(re.compile(r"\bwhat\b.*\bweather\b"))  # the loop may add words
            expect(page.get_by_label(re.compile("^Message the assistant"))).to_have_value("")

            # The answer streams as text, then is read aloud: the page asks for speech and plays it.
            answer = log.locator(".assistant-msg--assistant")
            expect(answer).to_contain_text("The weather today is sunny and warm, see the forecast [1].")
            heard = mine.locator(".assistant-bubble").inner_text()
            assert fake_llm.requests[0]["messages"][-1] == {"role": "user", "content": heard}  # what the model got
            expect(state).to_contain_text("Speaking the answer")
            player = page.locator("#voice-audio")
            expect(player).to_be_visible()
            page.wait_for_function("() => { const a = document.getElementById('voice-audio');"
                                   " return a.src.startsWith('blob:') && a.duration > 0; }")
            assert speak_requests == [{"body": {"text": SPOKEN}, "csrf": speak_requests[0]["csrf"]}]
            assert speak_requests[0]["csrf"]
            assert page.evaluate("localStorage.getItem('hearth.voice.readAloud')") == "true"

            # Hands-free: listening starts at once and ends by itself at the pause after the words; the
            # answer is read aloud, then it listens again, until Escape.
            fake_llm.queue_text("Take an umbrella, just in case.")
            hands_free = page.get_by_label("Hands-free conversation")
            hands_free.check()
            expect(talk).to_have_attribute("aria-pressed", "true")
            expect(state).to_contain_text("hands-free")
            expect(mine).to_have_count(2)
            expect(answer.nth(1)).to_have_text("Assistant said:Take an umbrella, just in case.")
            wait_until(page, lambda: len(speak_requests) == 2)
            assert speak_requests[1]["body"] == {"text": "Take an umbrella, just in case."}
            expect(state).to_contain_text("hands-free")  # listening again once the answer was spoken
            expect(talk).to_have_attribute("aria-pressed", "true")
            page.keyboard.press("Escape")
            expect(hands_free).not_to_be_checked()
            expect(talk).to_have_attribute("aria-pressed", "false")
            expect(state).to_have_text("Cancelled; hands-free mode is off.")
            assert len(fake_llm.requests) == 3 and mine.count() == 2  # two questions and a title; nothing more sent

            # The keyboard shortcut starts and stops; a refusal from the voice API is said plainly, and
            # typing still works.
            page.route("**/api/hearth/v1/voice/transcribe", lambda route: route.fulfill(
                status=429, headers={"Retry-After": "7"}, json={"error": "too many voice requests (60 per 1 minute)"}))
            page.keyboard.press("Alt+Shift+V")
            expect(talk).to_have_attribute("aria-pressed", "true")
            expect(state).to_contain_text("press Talk again")
            page.wait_for_timeout(500)
            page.keyboard.press("Alt+Shift+V")
            expect(page.locator("#voice-error")).to_have_text(
                "Your words could not be transcribed: too many voice requests (60 per 1 minute) (try again in about "
                "7 s). Dismiss")
            expect(talk).to_have_attribute("aria-pressed", "false")
            assert len(errors) == 1 and "status of 429" in errors[0], errors  # Chromium logs the refused request
            errors.clear()
            fake_llm.queue_text("You are welcome.")
            box = page.get_by_label(re.compile("^Message the assistant"))
            box.fill("thanks")
            box.press("Enter")
            expect(answer.nth(2)).to_have_text("Assistant said:You are welcome.")
            wait_until(page, lambda: len(speak_requests) == 3)  # still read aloud

            # Where the server cannot do voice, the controls are off and say how to enable them.
            page.route("**/api/hearth/v1/voice/status", lambda route: route.fulfill(json={
                "stt": {"direction": "stt", "backend": None, "available": False,
                        "detail": "pocketsphinx is not installed", "how_to_enable": "pip install 'hearth[voice]'"},
                "tts": {"direction": "tts", "backend": None, "available": False, "detail": "espeak-ng not found",
                        "how_to_enable": "apt-get install espeak-ng"},
                "limits": {"max_audio_seconds": 60, "max_audio_bytes": 10_000_000}}))
            page.reload()
            note = page.locator("#voice-note")
            expect(note.locator("summary")).to_have_text([
                "Talking (speech to text) is not available on this server.",
                "Reading answers aloud (text to speech) is not available on this server."])
            note.locator("summary").first.click()  # how to enable it, folded
            expect(note.locator("details p").first).to_have_text(
                "Pocketsphinx is not installed. Whoever runs this server can enable it: pip install 'hearth[voice]'.")
            expect(note.locator("details p").last).to_contain_text("apt-get install espeak-ng")
            expect(page.locator("#voice-help")).to_be_hidden()
            expect(talk).to_be_disabled()
            expect(read_aloud).to_be_disabled()
            expect(read_aloud).not_to_be_checked()
            expect(hands_free).to_be_disabled()
            assert fake_llm.pending == 0
            assert not errors, errors
        finally:
            chromium.close()
