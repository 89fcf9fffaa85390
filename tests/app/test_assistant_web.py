"""The Assistant pages of the web UI.

Over HTTP (httpx on the ASGI app, on SQLite and PostgreSQL): both pages need a log-in; with no model
connected the page says so and how to connect one; the conversation list, messages, tool cards and
proposals are rendered on the server (escaped, links only to local paths); someone else's conversation
is a 404; the memory page lists facts with their source.

In a real browser (Debian's Chromium through Playwright, uvicorn on loopback, the scripted
OpenAI-compatible server of tests/fake_openai.py as the model): a new user asks who to follow and
sees the streamed answer and the tool card, asks to follow @bob and approves the proposal, and the
follow exists; a reload shows the stored conversation; Enter sends; nothing is logged as an error."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from hearth.app.main import create_app
from hearth.app.web.assistant import answer_html
from hearth.services import accounts, graph
from hearth.services.assistant import conversations, memory, proposals
from hearth.settings import Settings
from hearth.storage.db import make_engine, make_sessionmaker, make_sync_engine, migrate
from hearth.storage.models import Account, AssistantProposal, Follow, Post
from tests.app.test_web import browser, running, sign_up
from tests.browser import launch_chromium
from tests.live_server import NO_RATE_LIMITS, serve_app

SCRIPT = "<script>alert(1)</script>"


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    async with running(settings) as app:
        yield app


async def viewer(app: FastAPI, username: str) -> Account:
    async with app.state.sessionmaker() as db:
        return await accounts.lookup(db, username)


def test_answer_html_links_only_local_paths() -> None:
    html = str(answer_html("See [Maya](/@maya) and [a post](/@maya/12).\n[evil](javascript:alert(1)) "
                           "[away](https://example.com/x) [proto](//example.com) <b>bold</b>"))
    assert '<a href="/@maya">Maya</a>' in html and '<a href="/@maya/12">a post</a>' in html
    assert "javascript" not in html.split("[evil]")[0] and "[evil](javascript:alert(1))" in html
    assert "[away](https://example.com/x)" in html and "[proto](//example.com)" in html
    assert "&lt;b&gt;bold&lt;/b&gt;" in html and html.count("<a ") == 2


async def test_pages_need_a_login(app: FastAPI) -> None:
    async with browser(app) as c:
        for path, target in [("/assistant", "/login?next=%2Fassistant"),
                             ("/assistant?c=5", "/login?next=%2Fassistant%3Fc%3D5"),
                             ("/assistant/memory", "/login?next=%2Fassistant%2Fmemory")]:
            r = await c.get(path)
            assert (r.status_code, r.headers["location"]) == (303, target)


async def test_no_model_connected_says_how_to_connect(app: FastAPI) -> None:
    async with browser(app) as c:
        await sign_up(c, "ann")
        r = await c.get("/assistant")
        assert r.status_code == 200
        assert "No model connected" in r.text and "HEARTH_LLM_BASE_URL" in r.text
        assert 'href="/assistant" aria-current="page">Assistant</a>' in r.text  # the nav link
        assert "No conversations yet" in r.text and 'id="assistant-input"' in r.text
        assert "script-src 'self'" in r.headers["content-security-policy"]
        assert re.search(r'<script src="/static/assistant\.js\?v=\w+" defer></script>', r.text)
        assert "<script>" not in r.text  # no inline scripts (the CSP would block them)
        js = await c.get("/static/assistant.js")
        assert js.status_code == 200 and "text/event-stream" in js.text
        # Sending, as the page's script does, is refused with how to connect, and nothing is kept.
        token = re.search(r'<meta name="csrf-token" content="([^"]+)"', r.text).group(1)
        conv = (await c.post("/api/hearth/v1/assistant/conversations", json={},
                             headers={"X-CSRF-Token": token})).json()
        sent = await c.post(f"/api/hearth/v1/assistant/conversations/{conv['id']}/messages",
                            json={"content": "hello"}, headers={"X-CSRF-Token": token})
        assert sent.status_code == 503 and "HEARTH_LLM_BASE_URL" in sent.json()["error"]
        page = await c.get(f"/assistant?c={conv['id']}")
        assert page.status_code == 200 and "hello" not in page.text


async def test_conversation_renders_escaped_with_cards_and_proposals(app: FastAPI) -> None:
    async with browser(app) as c:
        await sign_up(c, "ann")
        ann = await viewer(app, "ann")
        async with app.state.sessionmaker() as db:
            await accounts.register(db, "bob", "bob password 123", display_name="Bob <b>B</b>")
            other = await conversations.create(db, ann, "Older chat")
            conv = await conversations.create(db, ann, f"Plans {SCRIPT}")
            await conversations.append(db, ann, conv.id, "user", f"who should I follow? {SCRIPT}")
            await conversations.append(db, ann, conv.id, "assistant", "", tool_calls=[
                {"id": "call_0", "name": "search_people", "arguments": {"query": "bob"}}], commit=False)
            await conversations.append(db, ann, conv.id, "tool", "[quoted]", tool_call_id="call_0",
                                       tool_name="search_people", meta={"ok": True, "card": {
                                           "title": "Searched people for “bob”", "summary": "1 found",
                                           "items": [{"kind": "account", "id": "2", "title": "Bob <b>B</b> (@bob)",
                                                      "text": SCRIPT, "url": "/@bob", "note": ""},
                                                     {"kind": "post", "id": "3", "title": "Elsewhere",
                                                      "text": "", "url": "javascript:alert(1)", "note": ""}]}})
            await db.commit()
            p = await proposals.create(db, ann, conv.id, "call_1", "follow", {"username": "@bob"}, "Follow @bob",
                                       {"request": "follow @bob", "read_app_content": True,
                                        "after_reading": [{"kind": "account", "id": "2", "author": "@bob",
                                                           "url": "/@bob"}],
                                        "card": {"items": []}})
            await conversations.append(db, ann, conv.id, "assistant", "", tool_calls=[
                {"id": "call_1", "name": "follow", "arguments": {"username": "@bob"}}], commit=False)
            await conversations.append(db, ann, conv.id, "tool", "[quoted]", tool_call_id="call_1", tool_name="follow",
                                       meta={"ok": True, "card": {"title": "Waiting for your approval",
                                                                  "summary": "Follow @bob",
                                                                  "proposal_id": str(p.id)}})
            draft = await proposals.create(db, ann, conv.id, "call_2", "draft_post", {"text": f"Hi {SCRIPT}"},
                                           "Publish (draft) a public post: “Hi”",
                                           {"request": "draft a post", "after_reading": [],
                                            "card": {"text": f"Hi {SCRIPT}", "draft": True}})
            await conversations.append(db, ann, conv.id, "assistant", "", tool_calls=[
                {"id": "call_2", "name": "draft_post", "arguments": {"text": "Hi"}}], commit=False)
            await conversations.append(db, ann, conv.id, "tool", "[quoted]", tool_call_id="call_2",
                                       tool_name="draft_post", meta={"ok": True, "card": {
                                           "title": "Waiting for your approval", "proposal_id": str(draft.id)}})
            await conversations.append(db, ann, conv.id, "assistant",
                                       f"Try [Bob](/@bob), not [this](javascript:alert(1)) {SCRIPT}")
            await conversations.append(db, ann, conv.id, "note", "The person approved: Follow @bob")
            await conversations.append(db, ann, conv.id, "assistant", "cut sh", status="stopped")
            conv_id, other_id, proposal_id = conv.id, other.id, p.id

        r = await c.get(f"/assistant?c={conv_id}")
        assert r.status_code == 200
        text = r.text
        assert SCRIPT not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
        assert "<b>B</b>" not in text and "Bob &lt;b&gt;B&lt;/b&gt; (@bob)" in text
        # The list: both conversations, the open one marked.
        assert f'href="/assistant?c={conv_id}" aria-current="page">Plans &lt;script&gt;' in text
        assert f'href="/assistant?c={other_id}">Older chat</a>' in text
        # The messages in order: question, tool card, proposal, answer with one local link, stopped answer.
        order = [text.index(s) for s in ("who should I follow?", "Searched people for “bob”",
                                         f'id="proposal-{proposal_id}"', 'Try <a href="/@bob">Bob</a>', "cut sh")]
        assert order == sorted(order)
        assert "[this](javascript:alert(1))" in text and 'href="javascript' not in text
        assert '<a href="/@bob">Bob &lt;b&gt;B&lt;/b&gt; (@bob)</a>' in text and "<span>Elsewhere</span>" in text
        assert "The person approved" not in text  # notes are for the model
        assert "Stopped" in text
        # The pending proposal: its status, provenance and (script-enabled) buttons.
        card = text[text.index(f'id="proposal-{proposal_id}"'):]
        card = card[:card.index("</article>")]
        assert "Waiting for your approval" in card and "Follow @bob" in card
        assert "You asked: “follow @bob”" in card
        assert 'Proposed after reading content by <a href="/@bob">@bob</a>' in card
        assert 'data-action="approve"' in card and 'data-action="reject"' in card and 'data-action="edit"' in card
        assert "data-arguments='{\"username\": \"@bob\"}'" in card
        assert 'id="assistant-regenerate"' in text
        draft_card = text[text.index(f'id="proposal-{draft.id}"'):]
        draft_card = draft_card[:draft_card.index("</article>")]
        assert "Hi &lt;script&gt;" in draft_card and "Proposed after reading" not in draft_card
        assert "data-arguments='{\"text\": \"Hi \\u003cscript\\u003e" in draft_card  # JSON safe in an attribute

        # Approved through the API (as the page's script does), the reload shows it done.
        token = re.search(r'<meta name="csrf-token" content="([^"]+)"', text).group(1)
        done = await c.post(f"/api/hearth/v1/assistant/proposals/{proposal_id}/approve", json={},
                            headers={"X-CSRF-Token": token})
        assert done.status_code == 200 and done.json()["status"] == "approved"
        again = (await c.get(f"/assistant?c={conv_id}")).text
        card = again[again.index(f'id="proposal-{proposal_id}"'):]
        card = card[:card.index("</article>")]
        assert 'data-status="approved"' in card and ">Approved<" in card and "Done: Follow @bob." in card
        assert 'data-action="approve"' not in card
        async with app.state.sessionmaker() as db:
            bob = await accounts.lookup(db, "bob")
            assert await db.scalar(select(Follow).where(Follow.account_id == ann.id,
                                                        Follow.target_account_id == bob.id)) is not None


async def test_someone_elses_conversation_is_not_found(app: FastAPI) -> None:
    async with browser(app) as ann_c, browser(app) as bob_c:
        await sign_up(ann_c, "ann")
        await sign_up(bob_c, "bob")
        ann = await viewer(app, "ann")
        async with app.state.sessionmaker() as db:
            conv = await conversations.create(db, ann, "Ann's secret plans")
            await conversations.append(db, ann, conv.id, "user", "a private question")
        assert (await ann_c.get(f"/assistant?c={conv.id}")).status_code == 200
        for c in (f"{conv.id}", "999999", "not-a-number"):
            r = await bob_c.get(f"/assistant?c={c}")
            assert r.status_code == 404, c
            assert "secret plans" not in r.text and "private question" not in r.text
        listing = await bob_c.get("/assistant")
        assert "secret plans" not in listing.text


async def test_memory_page_lists_facts_with_their_source(app: FastAPI) -> None:
    async with browser(app) as c:
        await sign_up(c, "ann")
        r = await c.get("/assistant/memory")
        assert r.status_code == 200 and "The assistant remembers nothing about you" in r.text
        assert 'id="memory-switch"' in r.text and "checked" in r.text.split('id="memory-switch"')[1].split(">")[0]
        ann = await viewer(app, "ann")
        async with app.state.sessionmaker() as db:
            await memory.add(db, ann, f"Likes jazz {SCRIPT}", "Added by you")
            await memory.add(db, ann, "Lives in Lyon", "Saved by the assistant in conversation 1")
            await memory.set_enabled(db, ann, False)
        r = await c.get("/assistant/memory")
        assert SCRIPT not in r.text and "Likes jazz &lt;script&gt;" in r.text
        assert "Lives in Lyon" in r.text and "Saved by the assistant in conversation 1" in r.text
        assert "Added by you" in r.text and 'id="memory-count">2<' in r.text
        assert "Memory is off" in r.text
        assert "checked" not in r.text.split('id="memory-switch"')[1].split(">")[0]


# ---- in a real browser -------------------------------------------------------------------------
TIMEOUT_MS = 15_000


@dataclass
class Served:
    base: str
    db_url: str
    bob_id: int


async def _seed(url: str) -> int:
    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as db:
            bob = await accounts.register(db, "bob", "bob password 123", display_name="Bob Builder",
                                          note="Builds things. #diy")
            eve = await accounts.register(db, "eve", "eve password 123", display_name="Eve")
            await graph.follow(db, eve, bob.id)
            return bob.id
    finally:
        await engine.dispose()


@pytest.fixture
def served(tmp_path: Path, fake_llm) -> Iterator[Served]:  # noqa: ANN001 - tests/fake_openai.FakeOpenAI
    """The app on 127.0.0.1:<free port> (uvicorn in a thread), its model the scripted fake server."""
    url = f"sqlite:///{tmp_path / 'hearth.db'}"
    migrate(url)
    bob_id = asyncio.run(_seed(url))
    settings = Settings(database_url=url, snapshot_dir=tmp_path / "snapshots", **NO_RATE_LIMITS,
                        llm_base_url=fake_llm.base_url, llm_model="test-model", llm_connect_retries=0)
    with serve_app(create_app(settings)) as base:
        yield Served(base, url, bob_id)


def follows(url: str, username: str, target_id: int) -> bool:
    engine = make_sync_engine(url)
    try:
        with engine.connect() as conn:
            me = conn.execute(select(Account.id).where(Account.username == username)).scalar_one()
            return conn.execute(select(Follow.id).where(Follow.account_id == me,
                                                        Follow.target_account_id == target_id)).first() is not None
    finally:
        engine.dispose()


def proposal_statuses(url: str) -> list[str]:
    engine = make_sync_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(select(AssistantProposal.status).order_by(AssistantProposal.id)).scalars())
    finally:
        engine.dispose()


def new_page(chromium, errors: list[str]):  # noqa: ANN001, ANN201 - Playwright objects
    from playwright.sync_api import expect

    page = chromium.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(TIMEOUT_MS)
    expect.set_options(timeout=TIMEOUT_MS)
    page.on("console", lambda m: m.type == "error" and errors.append(f"console: {m.text} {m.location}"))
    page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
    return page


def sign_up_in(page, base: str, username: str) -> None:  # noqa: ANN001 - a Playwright page
    page.goto(base + "/signup")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(username + " password")
    page.get_by_role("button", name="Sign up").click()
    page.wait_for_url(base + "/home")


@pytest.mark.slow
def test_browser_conversation_with_a_tool_card_and_an_approved_follow(served: Served, fake_llm,  # noqa: ANN001
                                                                       chromium_path: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    base = served.base
    errors: list[str] = []
    # Turn 1: look people up, then answer (streamed in pieces); then the small model's title.
    fake_llm.queue_tool_calls([("people_i_may_know", {"limit": 5})])
    fake_llm.queue_text("You could follow [Bob Builder](/@bob): he builds things.", n=6)
    fake_llm.queue_text("Who to follow")
    # Turn 2: propose a follow, then say so.
    fake_llm.queue_tool_calls([("follow", {"username": "@bob"})])
    fake_llm.queue_text("I proposed following @bob")
    with sync_playwright() as p:
        chromium = launch_chromium(p, chromium_path)
        try:
            page = new_page(chromium, errors)
            sign_up_in(page, base, "tess")
            page.get_by_role("link", name="Assistant", exact=True).click()
            page.wait_for_url(base + "/assistant")
            expect(page.locator("#assistant-status")).to_contain_text("test-model")

            # Keyboard: Tab reaches the message box, Enter sends.
            box = page.get_by_label("Message the assistant")
            page.locator("#assistant-new").focus()
            for _ in range(40):
                page.keyboard.press("Tab")
                if page.evaluate("document.activeElement.id") == "assistant-input":
                    break
            expect(box).to_be_focused()
            page.keyboard.type("who should I follow?")
            page.keyboard.press("Enter")

            log = page.locator("#assistant-log")
            expect(log.locator(".assistant-msg--user").first).to_have_text("You said:who should I follow?")
            tool = log.locator(".assistant-tool").first
            expect(tool).to_contain_text("Looked up people you may know")
            expect(tool.get_by_role("link", name="Bob Builder (@bob)")).to_have_attribute("href", "/@bob")
            answer = log.locator(".assistant-msg--assistant").first
            expect(answer).to_contain_text("You could follow Bob Builder: he builds things.")
            expect(answer.get_by_role("link", name="Bob Builder")).to_have_attribute("href", "/@bob")
            expect(page.locator("#assistant-title")).to_have_text("Who to follow")
            page.wait_for_url(re.compile(r"/assistant\?c=\d+$"))
            conv_url = page.url
            expect(page.locator("#assistant-conversations a[aria-current=page]")).to_have_text("Who to follow")
            expect(page.locator("#assistant-regenerate")).to_be_visible()
            expect(page.locator("#assistant-stop")).to_be_hidden()
            expect(box).to_be_focused()
            expect(box).to_have_value("")

            # Turn 2: the follow is only proposed until approved.
            box.fill("follow @bob")
            page.get_by_role("button", name="Send").click()
            card = log.locator(".assistant-proposal")
            expect(card).to_contain_text("Follow @bob")
            expect(card).to_contain_text("Waiting for your approval")
            expect(card).to_contain_text("You asked: “follow @bob”")
            expect(log.locator(".assistant-msg--assistant").last).to_have_text(
                "Assistant said:I proposed following @bob")
            assert not follows(served.db_url, "tess", served.bob_id)
            card.get_by_role("button", name="Approve").click()
            expect(card).to_contain_text("Approved")
            expect(card).to_contain_text("Done: Follow @bob.")
            expect(card.get_by_role("button", name="Approve")).to_have_count(0)
            assert follows(served.db_url, "tess", served.bob_id)
            assert proposal_statuses(served.db_url) == ["approved"]

            # A reload shows the stored conversation: list, messages, the tool card, the decided proposal.
            page.reload()
            assert page.url == conv_url
            expect(page.locator("#assistant-conversations a[aria-current=page]")).to_have_text("Who to follow")
            expect(log.locator(".assistant-msg--user")).to_have_count(2)
            expect(log).to_contain_text("You could follow Bob Builder: he builds things.")
            expect(log.locator(".assistant-tool").first).to_contain_text("Looked up people you may know")
            expect(log.locator(".assistant-proposal")).to_contain_text("Approved")
            expect(log.locator(".assistant-proposal").get_by_role("button")).to_have_count(0)
            assert fake_llm.pending == 0
            assert not errors, errors
        finally:
            chromium.close()


def posts_by(url: str, username: str) -> list[str]:
    engine = make_sync_engine(url)
    try:
        with engine.connect() as conn:
            me = conn.execute(select(Account.id).where(Account.username == username)).scalar_one()
            return list(conn.execute(select(Post.text).where(Post.account_id == me)).scalars())
    finally:
        engine.dispose()


@pytest.mark.slow
def test_browser_stop_regenerate_edit_rename_delete_and_memory(served: Served, fake_llm,  # noqa: ANN001
                                                                chromium_path: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    base = served.base
    errors: list[str] = []
    story = "Once upon a time there was a very long story. " * 4
    fake_llm.queue_error(503, "Loading model")  # the model server is not ready
    fake_llm.queue_text(story, n=24, delay=0.25)  # slow: stopped with Escape after the first words
    fake_llm.queue_text("A short story.")  # regenerated
    fake_llm.queue_tool_calls([("draft_post", {"text": "Hello from the asistant"})])
    fake_llm.queue_text("Here is a draft.")
    fake_llm.queue_text("Drafts")  # the conversation's title
    with sync_playwright() as p:
        chromium = launch_chromium(p, chromium_path)
        try:
            page = new_page(chromium, errors)
            sign_up_in(page, base, "tess")
            page.goto(base + "/assistant")
            log = page.locator("#assistant-log")
            box = page.get_by_label("Message the assistant")

            # A model server that is not ready: said plainly, and the question is back in the box.
            box.fill("hello?")
            box.press("Enter")
            expect(page.locator("#assistant-error")).to_contain_text("Loading model")
            expect(page.locator("#assistant-status")).to_contain_text("No model available")
            expect(log.locator("li")).to_have_count(0)
            expect(box).to_have_value("hello?")
            page.get_by_role("button", name="Dismiss").click()
            expect(page.locator("#assistant-error")).to_be_empty()
            assert len(errors) == 1 and "status of 503" in errors[0]  # Chromium logs the refused request
            errors.clear()

            # Escape stops a streaming answer; what was said is kept, marked as stopped.
            box.fill("tell me a story")
            box.press("Enter")
            answer = log.locator(".assistant-msg--assistant")
            expect(page.locator("#assistant-stop")).to_be_visible()
            expect(answer).to_contain_text("Once upon")
            page.keyboard.press("Escape")
            expect(answer.locator(".pill")).to_have_text("Stopped")
            expect(page.locator("#assistant-stop")).to_be_hidden()
            assert len(answer.inner_text()) < len(story)

            # Regenerate answers the last question again in its place.
            page.get_by_role("button", name="Regenerate answer").click()
            expect(answer).to_have_count(1)
            expect(answer).to_have_text("Assistant said:A short story.")

            # A draft, edited before approving: the edited text is published.
            box.fill("draft a hello post")
            box.press("Enter")
            card = log.locator(".assistant-proposal")
            expect(card).to_contain_text("Waiting for your approval")
            card.get_by_role("button", name="Edit").click()
            editor = card.get_by_label("Edit the text before approving")
            expect(editor).to_be_focused()
            expect(editor).to_have_value("Hello from the asistant")
            editor.fill("Hello from the assistant, edited")
            card.get_by_role("button", name="Approve with changes").click()
            expect(card).to_contain_text("Approved")
            assert posts_by(served.db_url, "tess") == ["Hello from the assistant, edited"]
            expect(page.locator("#assistant-title")).to_have_text("Drafts")

            # Rename inline (Enter saves), then delete with a confirmation.
            item = page.locator("#assistant-conversations li").first
            item.get_by_role("button", name=re.compile("^Rename")).click()
            title_box = item.get_by_label("New title for this conversation")
            expect(title_box).to_be_focused()
            title_box.fill("Story time")
            title_box.press("Enter")
            expect(item.locator(".assistant-conv-link")).to_have_text("Story time")
            expect(page.locator("#assistant-title")).to_have_text("Story time")
            page.reload()
            expect(page.locator("#assistant-title")).to_have_text("Story time")
            page.once("dialog", lambda d: d.accept())
            page.locator("#assistant-conversations li").first.get_by_role("button", name=re.compile("^Delete")).click()
            page.wait_for_url(base + "/assistant")
            expect(page.locator("#assistant-conversations li")).to_have_count(0)

            # Memory: add, edit, delete, switch off and on, forget everything.
            page.goto(base + "/assistant/memory")
            add = page.get_by_label("Add a fact")
            add.fill("Likes jazz")
            add.press("Enter")
            facts = page.locator("#memory-facts li")
            expect(facts).to_have_count(1)
            expect(facts.first).to_contain_text("Added by you")
            add.fill("Lives in Lyon")
            page.get_by_role("button", name="Add", exact=True).click()
            expect(facts).to_have_count(2)
            facts.first.get_by_role("button", name=re.compile("^Edit")).click()
            edit_box = facts.first.get_by_label("Edit this fact")
            edit_box.fill("Likes jazz and soul")
            edit_box.press("Enter")
            expect(facts.first.locator(".memory-text")).to_have_text("Likes jazz and soul")
            expect(facts.first).to_contain_text("(edited by you)")
            facts.nth(1).get_by_role("button", name=re.compile("^Delete")).click()
            expect(facts).to_have_count(1)
            switch = page.get_by_role("switch", name="Let the assistant remember things about me")
            expect(switch).to_be_checked()
            switch.click()
            expect(page.locator("#memory-switch-help")).to_contain_text("Memory is off")
            expect(add).to_be_disabled()
            page.reload()
            expect(switch).not_to_be_checked()
            expect(page.locator(".memory-text")).to_have_text(["Likes jazz and soul"])
            switch.click()
            expect(add).to_be_enabled()
            page.once("dialog", lambda d: d.accept())
            page.get_by_role("button", name="Forget everything").click()
            expect(facts).to_have_count(0)
            expect(page.locator("#memory-empty")).to_be_visible()
            assert fake_llm.pending == 0
            assert not errors, errors
        finally:
            chromium.close()
