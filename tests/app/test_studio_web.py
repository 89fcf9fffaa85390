"""AI Studio in the web UI.

Over HTTP (httpx on the ASGI app, on SQLite and PostgreSQL), with plain form posts as a browser
without JavaScript sends them: the Studio needs a log-in; an AI is created, edited (avatar too),
exported as a Character Card V2 and deleted through the forms; an imported card keeps an unknown
extension when exported back; someone else's AI is a 404; the knowledge tab lists posts and notes
(typed and uploaded) and deletes notes; a note's page escapes it; the DM tab takes a conversation
over, replies as the AI and hands it back; the AI's profile and chat page show the disclosure,
the creator, the greeting and the suggested questions, and stored answers with their citations and
the excerpts label; audiences decide who sees the chat and the notes; AI accounts are labelled in
people lists and notifications.

In a real browser (Debian's Chromium through Playwright, uvicorn on loopback, the scripted model
server of tests/fake_openai.py): a creator makes an AI of themselves with a topic to avoid and
posts; a fan opens the AI's chat from its profile, asks, sees the streamed answer citing the post
as a link, then asks about the avoided topic and gets the polite refusal without any model call."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from hearth.app.main import create_app
from hearth.app.web.studio import links_text, parse_links
from hearth.services import accounts, graph, posts
from hearth.services.assistant import conversations
from hearth.services.studio import ais, direct
from hearth.settings import Settings
from hearth.storage.models import AIDirectThread, CreatorAI, Post
from tests.app.test_web import browser, form_token, running, sign_up
from tests.browser import launch_chromium
from tests.live_server import NO_RATE_LIMITS, serve_app

SCRIPT = "<script>alert(1)</script>"
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d49444154789c6360000000000200015e2d34a40000000049454e44ae426082")


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    async with running(settings.model_copy(update={"studio_dm_poll_seconds": 3600})) as app:
        yield app


def new_ai_form(token: str, **values: str | list[str]) -> dict:
    form = {"csrf_token": token, "name": "Cora", "handle": "cora_ai", "tagline": "Cora's music, answered",
            "greeting": "Hi! Ask me about the album.", "question": ["What gear do you use?", "When is the tour?", ""],
            "personality": "Warm and brief.", "instructions": "Point people to the shop.",
            "example_dialogues": "Q: hi\nA: hello!", "avoid_topics": "politics\r\nmy family",
            "links": "Shop | https://example.com/shop\r\nhttps://example.com/tour", "audience": "public",
            "runtime": "", "model": "", "of_creator": "1", "auto_reply": "1"}
    form.update(values)
    return form


async def make_ai(c: httpx.AsyncClient, token: str, **values: str | list[str]) -> int:
    r = await c.post("/studio/new", data=new_ai_form(token, **values))
    assert r.status_code == 303, r.text
    match = re.fullmatch(r"/studio/(\d+)\?created=1", r.headers["location"])
    assert match, r.headers["location"]
    return int(match.group(1))


async def load_ai(app: FastAPI, ai_id: int) -> CreatorAI:
    async with app.state.sessionmaker() as db:
        return await ais.get(db, ai_id)


def test_links_are_written_and_read_one_a_line() -> None:
    links = parse_links("Shop | https://example.com/shop\n\n  https://example.com/tour  \nA | b | https://x.org")
    assert links == [{"title": "Shop", "url": "https://example.com/shop"},
                     {"title": "https://example.com/tour", "url": "https://example.com/tour"},
                     {"title": "A | b", "url": "https://x.org"}]
    assert parse_links(links_text(links)) == links


async def test_studio_create_edit_import_export_and_delete(app: FastAPI) -> None:
    async with browser(app) as c, browser(app) as other:
        for path in ("/studio", "/studio/new", "/studio/1", "/studio/1/knowledge", "/studio/1/conversations",
                     "/@cora_ai/chat"):
            r = await c.get(path)
            assert r.status_code == 303 and r.headers["location"].startswith("/login?next="), path
        token = await sign_up(c, "cora")
        studio = await c.get("/studio")
        assert studio.status_code == 200 and 'href="/studio" aria-current="page">Studio</a>' in studio.text
        assert "You have no AIs yet" in studio.text and 'action="/studio/import"' in studio.text
        new = await c.get("/studio/new")
        for name in ("name", "handle", "avatar", "tagline", "greeting", "question", "personality", "instructions",
                     "example_dialogues", "avoid_topics", "links", "audience", "runtime", "model", "of_creator",
                     "auto_reply"):
            assert f'name="{name}"' in new.text, name
        assert new.text.count('name="question"') == 6 and 'enctype="multipart/form-data"' in new.text
        assert "Empty uses the server's assistant model" in new.text

        # Without the form token nothing is made; a refused form keeps what was typed.
        assert (await c.post("/studio/new", data=new_ai_form("wrong"))).status_code == 403
        bad = await c.post("/studio/new", data=new_ai_form(token, links=f"not a link {SCRIPT}"))
        assert bad.status_code == 422 and "is not an http(s) URL" in bad.text
        assert SCRIPT not in bad.text and "Cora&#39;s music, answered" in bad.text and "my family" in bad.text
        async with app.state.sessionmaker() as db:
            assert await db.scalar(select(CreatorAI.id)) is None

        ai_id = await make_ai(c, token)
        ai = await load_ai(app, ai_id)
        assert (ai.account.username, ai.account.display_name, ai.account.is_ai) == ("cora_ai", "Cora · AI", True)
        assert ai.suggested_questions == ["What gear do you use?", "When is the tour?"]
        assert ai.avoid_topics == ["politics", "my family"] and ai.of_creator and ai.auto_reply
        assert ai.links == [{"title": "Shop", "url": "https://example.com/shop"},
                            {"title": "https://example.com/tour", "url": "https://example.com/tour"}]
        taken = await c.post("/studio/new", data=new_ai_form(token, name="Other"))
        assert taken.status_code == 409 and "is taken" in taken.text

        edit = await c.get(f"/studio/{ai_id}?created=1")
        assert edit.status_code == 200 and "Created." in edit.text and "@cora_ai" in edit.text
        assert 'value="When is the tour?"' in edit.text and "Shop | https://example.com/shop" in edit.text
        assert f'href="/studio/{ai_id}/knowledge"' in edit.text and f'href="/studio/{ai_id}/card"' in edit.text
        # Edit: the other fields, an avatar, the audience, the switches (an unticked box is off).
        form = new_ai_form(form_token(edit.text), name="Cora Bot", audience="followers", model="tiny-model",
                           question=["Only this one?"], avoid_topics="politics")
        del form["handle"], form["auto_reply"], form["of_creator"]
        r = await c.post(f"/studio/{ai_id}", data=form, files={"avatar": ("me.png", PNG, "image/png")})
        assert (r.status_code, r.headers["location"]) == (303, f"/studio/{ai_id}?saved=1")
        ai = await load_ai(app, ai_id)
        assert (ai.account.display_name, ai.audience, ai.model, ai.auto_reply, ai.of_creator) == \
            ("Cora Bot · AI", "followers", "tiny-model", False, False)
        assert ai.suggested_questions == ["Only this one?"] and ai.avatar == PNG and ai.avatar_type == "image/png"
        page = (await c.get(f"/studio/{ai_id}")).text
        assert 'src="/api/hearth/v1/ais/cora_ai/avatar?v=' in page and "Remove the avatar" in page
        not_image = await c.post(f"/studio/{ai_id}", data=form,
                                 files={"avatar": ("x.png", b"GIF but not", "image/png")})
        assert not_image.status_code == 422 and "must be a PNG, JPEG, GIF or WebP" in not_image.text
        listing = (await c.get("/studio")).text
        assert "Cora Bot" in listing and "Audience: Followers" in listing and "Auto-reply to DMs: off" in listing

        # Someone else's AI is not found, on every page and form.
        other_token = await sign_up(other, "mallory")
        for path in (f"/studio/{ai_id}", f"/studio/{ai_id}/knowledge", f"/studio/{ai_id}/conversations",
                     f"/studio/{ai_id}/card", "/studio/999999", "/studio/nope"):
            assert (await other.get(path)).status_code == 404, path
        stolen = await other.post(f"/studio/{ai_id}", data=new_ai_form(other_token, name="Hacked"))
        assert stolen.status_code == 404
        assert (await other.post(f"/studio/{ai_id}/delete", data={"csrf_token": other_token,
                                                                  "confirm": "yes"})).status_code == 404
        assert (await load_ai(app, ai_id)).account.display_name == "Cora Bot · AI"

        # Export, then import that card back (as a new handle) with a key no app knows added.
        exported = await c.get(f"/studio/{ai_id}/card")
        assert exported.status_code == 200
        assert exported.headers["content-disposition"] == 'attachment; filename="cora_ai.card.json"'
        card = exported.json()
        assert card["spec"] == "chara_card_v2" and card["data"]["first_mes"] == "Hi! Ask me about the album."
        card["data"]["extensions"]["someone_elses_app"] = {"keep": [1, {"nested": True}]}
        card["data"]["character_book"] = {"entries": [{"keys": ["tour"], "content": "dates"}]}
        r = await c.post("/studio/import", data={"csrf_token": token, "handle": "cora_copy"},
                         files={"file": ("cora.card.json", json.dumps(card).encode(), "application/json")})
        assert r.status_code == 303, r.text
        copy_id = int(re.fullmatch(r"/studio/(\d+)\?imported=1", r.headers["location"]).group(1))
        assert "Imported." in (await c.get(r.headers["location"])).text
        again = (await c.get(f"/studio/{copy_id}/card")).json()
        assert again["data"]["extensions"]["someone_elses_app"] == {"keep": [1, {"nested": True}]}
        assert again["data"]["character_book"] == card["data"]["character_book"]
        assert again["data"]["extensions"]["hearth"]["handle"] == "cora_copy"
        assert again["data"]["name"] == "Cora Bot" and again["data"]["extensions"]["hearth"]["audience"] == "followers"
        broken = await c.post("/studio/import", data={"csrf_token": token},
                              files={"file": ("x.json", b"{not json", "application/json")})
        assert broken.status_code == 422 and "not a JSON file" in broken.text and 'id="import-error"' in broken.text

        # Delete: only with the box ticked.
        kept = await c.post(f"/studio/{copy_id}/delete", data={"csrf_token": token})
        assert kept.status_code == 422 and (await load_ai(app, copy_id)).id == copy_id
        gone = await c.post(f"/studio/{copy_id}/delete", data={"csrf_token": token, "confirm": "yes"})
        assert (gone.status_code, gone.headers["location"]) == (303, "/studio?deleted=cora_copy")
        assert "@cora_copy was deleted" in (await c.get(gone.headers["location"])).text
        assert (await c.get(f"/studio/{copy_id}")).status_code == 404
        assert (await c.get("/@cora_copy")).status_code == 404


async def test_knowledge_tab_notes_and_the_note_page(app: FastAPI) -> None:
    async with browser(app) as c, browser(app) as fan:
        token = await sign_up(c, "cora")
        ai_id = await make_ai(c, token)
        cora = await accounts_lookup(app, "cora")
        async with app.state.sessionmaker() as db:
            await posts.create_post(db, cora, "My new album uses a modular synthesizer and tape loops.")
            await posts.create_post(db, cora, "secret diary entry", visibility="private")
        tab = await c.get(f"/studio/{ai_id}/knowledge")
        assert tab.status_code == 200 and 'aria-current="page">Knowledge</a>' in tab.text
        assert "modular synthesizer" in tab.text and "secret diary" not in tab.text
        assert "Embeddings o" in tab.text and "No notes yet." in tab.text

        typed = await c.post(f"/studio/{ai_id}/notes", data={"csrf_token": token, "title": f"FAQ {SCRIPT}",
                                                            "text": f"Q: gear?\nA: a Moog.\n\n{SCRIPT} **bold**"})
        assert (typed.status_code, typed.headers["location"]) == (303, f"/studio/{ai_id}/knowledge?added=1")
        uploaded = await c.post(f"/studio/{ai_id}/notes", data={"csrf_token": token},
                                files={"file": ("tour-notes.md", b"# Tour\n\nBerlin and Lisbon.", "text/markdown")})
        assert uploaded.status_code == 303
        wrong = await c.post(f"/studio/{ai_id}/notes", data={"csrf_token": token},
                             files={"file": ("photo.png", PNG, "image/png")})
        assert wrong.status_code == 422 and "text or Markdown files" in wrong.text
        empty = await c.post(f"/studio/{ai_id}/notes", data={"csrf_token": token, "title": "Kept title"})
        assert empty.status_code == 422 and 'value="Kept title"' in empty.text

        tab = (await c.get(f"/studio/{ai_id}/knowledge?added=1")).text
        assert "Note added." in tab and "Notes (2)" in tab and SCRIPT not in tab
        assert "FAQ &lt;script&gt;" in tab and ">tour-notes</a>" in tab
        note_ids = [int(n) for n in re.findall(r'href="/@cora_ai/notes/(\d+)"', tab)]
        assert len(note_ids) == 2

        # The note page: escaped text, no HTML from the note, for anyone who may talk to the AI.
        faq = min(note_ids)
        page = await c.get(f"/@cora_ai/notes/{faq}")
        assert page.status_code == 200 and "<h1 id=\"note-title\">FAQ &lt;script&gt;" in page.text
        assert SCRIPT not in page.text and "&lt;script&gt;alert(1)&lt;/script&gt; **bold**" in page.text
        assert "<p>Q: gear?\nA: a Moog.</p>" in page.text
        await sign_up(fan, "fan")
        assert (await fan.get(f"/@cora_ai/notes/{faq}")).status_code == 200
        for path in ("/@cora_ai/notes/999999", "/@cora_ai/notes/x", "/@cora/notes/1"):
            assert (await fan.get(path)).status_code == 404, path
        post_ids = [s.id for s in await app.state.knowledge.list_sources(ai_id) if s.kind == "post"]
        assert (await fan.get(f"/@cora_ai/notes/{post_ids[0]}")).status_code == 404  # posts have their own page
        r = await c.post(f"/studio/{ai_id}", data=new_ai_form(token, audience="only_me"))
        assert r.status_code == 303
        assert (await fan.get(f"/@cora_ai/notes/{faq}")).status_code == 404

        deleted = await c.post(f"/studio/{ai_id}/notes/{faq}/delete", data={"csrf_token": token})
        assert (deleted.status_code, deleted.headers["location"]) == (303, f"/studio/{ai_id}/knowledge?deleted=1")
        tab = (await c.get(f"/studio/{ai_id}/knowledge?deleted=1")).text
        assert "Note deleted." in tab and "Notes (1)" in tab and "FAQ" not in tab
        assert (await c.get(f"/@cora_ai/notes/{faq}")).status_code == 404


async def accounts_lookup(app: FastAPI, username: str):  # noqa: ANN201 - an Account
    async with app.state.sessionmaker() as db:
        return await accounts.lookup(db, username)


async def test_profile_chat_page_audiences_and_labels(app: FastAPI) -> None:
    async with browser(app) as c, browser(app) as fan, browser(app) as anon:
        token = await sign_up(c, "cora")
        ai_id = await make_ai(c, token, tagline=f"Music {SCRIPT}")
        fan_token = await sign_up(fan, "fan")

        profile = await fan.get("/@cora_ai")
        assert profile.status_code == 200 and '<span class="pill pill-ai">AI</span>' in profile.text
        assert 'AI by <a href="/@cora">@cora</a>' in profile.text
        assert "an AI made by @cora. Replies are AI-generated and may be wrong" in profile.text
        assert 'href="/@cora_ai/chat">Talk to it</a>' in profile.text and SCRIPT not in profile.text
        assert "Edit in Studio" not in profile.text and "Edit in Studio" in (await c.get("/@cora_ai")).text
        assert "Log in to talk to it" in (await anon.get("/@cora_ai")).text
        assert "Talk to it" not in (await fan.get("/@cora")).text  # a person's profile

        chat = await fan.get("/@cora_ai/chat")
        assert chat.status_code == 200
        text = chat.text
        assert 'id="ai-disclosure"' in text and "You&#39;re talking with Cora, an AI made by @cora." in text
        assert "Hi! Ask me about the album." in text and SCRIPT not in text
        assert 'data-question="What gear do you use?"' in text and 'data-question="When is the tour?"' in text
        assert 'data-new-conversation="/api/hearth/v1/ais/cora_ai/conversations"' in text
        assert 'data-base-url="/@cora_ai/chat"' in text and "answers are excerpts from @cora" in text
        assert re.search(r'<script src="/static/assistant\.js\?v=\w+" defer></script>', text)
        assert "<script>" not in text and "No conversations with Cora yet." in text

        # A stored conversation: the opening greeting, an answer with citations and the excerpts label,
        # a refusal; only in its own AI's page.
        fan_account = await accounts_lookup(app, "fan")
        async with app.state.sessionmaker() as db:
            ai = await ais.get(db, ai_id)
            conv = await conversations.create(db, fan_account, ai_id=ai_id)
            await conversations.append(db, fan_account, conv.id, "assistant",
                                       (await chat_disclosure(app, ai_id)) + "\n\nHi! Ask me about the album.",
                                       meta={"disclosure": True})
            await conversations.append(db, fan_account, conv.id, "user", "tour dates?")
            await conversations.append(db, fan_account, conv.id, "assistant", "“Berlin and Lisbon” — [post](/@cora/7)",
                                       meta={"excerpts": True, "citations": [
                                           {"n": 1, "kind": "post", "title": f"Tour {SCRIPT}", "text": "",
                                            "url": "/@cora/7"},
                                           {"n": 2, "kind": "note", "title": "Elsewhere", "text": "",
                                            "url": "https://example.com/x"}]})
            await conversations.append(db, fan_account, conv.id, "user", "and politics?")
            await conversations.append(db, fan_account, conv.id, "assistant", "I'd rather not talk about politics",
                                       meta={"declined": "avoided topic “politics” (in the question)"})
            await conversations.set_auto_title(db, fan_account, conv.id, "Tour talk")
            assistant_conv = await conversations.create(db, fan_account, "Mine")
            assert ai.owner_id != fan_account.id
        r = await fan.get(f"/@cora_ai/chat?c={conv.id}")
        assert r.status_code == 200
        text = r.text
        assert f'href="/@cora_ai/chat?c={conv.id}" aria-current="page">Tour talk</a>' in text
        assert text.count("You&#39;re talking with Cora") == 1  # at the top; the opening shows the greeting
        assert "Excerpts — no model connected" in text and 'Sources: <a href="/@cora/7">[1] Tour &lt;script&gt;' in text
        assert "<span>[2] Elsewhere</span>" in text and "https://example.com/x" not in text
        assert 'data-declined' in text and ">Declined<" in text and 'id="ai-questions"' not in text
        for c_ in (str(assistant_conv.id), "999999", "x"):
            assert (await fan.get(f"/@cora_ai/chat?c={c_}")).status_code == 404
        assert (await c.get(f"/@cora_ai/chat?c={conv.id}")).status_code == 404  # the creator's not either
        assert (await fan.get("/@cora/chat")).status_code == 404  # not an AI

        # Audiences: followers only (a page saying whom to follow), then only the creator.
        form = new_ai_form(token, audience="followers")
        del form["handle"]
        assert (await c.post(f"/studio/{ai_id}", data=form)).status_code == 303
        denied = await fan.get("/@cora_ai/chat")
        assert denied.status_code == 403 and "talks only with people who follow @cora" in denied.text
        assert "talks only with people who follow @cora" in (await fan.get("/@cora_ai")).text
        assert (await fan.post("/@cora/follow", data={"csrf_token": fan_token})).status_code == 303
        assert (await fan.get("/@cora_ai/chat")).status_code == 200
        form["audience"] = "only_me"
        assert (await c.post(f"/studio/{ai_id}", data=form)).status_code == 303
        hidden = await fan.get("/@cora_ai/chat")
        assert hidden.status_code == 404 and "AI @cora_ai not found" in hidden.text
        assert "Only @cora can talk to @cora_ai" in (await fan.get("/@cora_ai")).text
        assert (await c.get("/@cora_ai/chat")).status_code == 200

        # The AI label in people lists and notifications.
        async with app.state.sessionmaker() as db:
            ai_account = (await ais.get(db, ai_id)).account
            await graph.follow(db, ai_account, fan_account.id)
        followers = (await fan.get("/@fan/followers")).text
        assert re.search(r'Cora · AI</span> <span class="pill pill-ai"[^>]*>AI</span> <span class="handle">@cora_ai',
                         followers)
        notes = (await fan.get("/notifications")).text
        assert re.search(r'\(@cora_ai\)</a> <span class="pill pill-ai"[^>]*>AI</span> followed you', notes)


async def chat_disclosure(app: FastAPI, ai_id: int) -> str:
    from hearth.studio.persona import disclosure
    return disclosure(await load_ai(app, ai_id))


async def test_direct_message_threads_take_over_reply_and_hand_back(app: FastAPI) -> None:
    async with browser(app) as c:
        token = await sign_up(c, "cora")
        ai_id = await make_ai(c, token)
        assert "No direct messages yet" in (await c.get(f"/studio/{ai_id}/conversations")).text
        async with app.state.sessionmaker() as db:
            fan = await accounts.create_profile(db, "fan")
            await db.commit()
            root = await posts.create_post(db, fan, f"@cora_ai hello {SCRIPT}", visibility="direct")
            ai = await ais.get(db, ai_id)
            t = await direct.thread(db, ai, root.id, fan.id)
            thread_id, fan_id, ai_account_id = t.id, fan.id, ai.account_id
        page = (await c.get(f"/studio/{ai_id}/conversations")).text
        assert f'id="thread-{thread_id}"' in page and "The AI answers" in page and SCRIPT not in page
        assert "hello &lt;script&gt;" in page and ">Take over<" in page

        r = await c.post(f"/studio/{ai_id}/threads/{thread_id}/takeover", data={"csrf_token": token})
        assert (r.status_code, r.headers["location"]) == \
            (303, f"/studio/{ai_id}/conversations?done=takeover#thread-{thread_id}")
        page = (await c.get(f"/studio/{ai_id}/conversations?done=takeover")).text
        assert "You took the conversation over" in page and "You answer (taken over)" in page
        assert ">Hand back to the AI<" in page
        empty = await c.post(f"/studio/{ai_id}/threads/{thread_id}/reply", data={"csrf_token": token, "text": " "})
        assert empty.status_code == 422 and "write the reply first" in empty.text.lower()
        r = await c.post(f"/studio/{ai_id}/threads/{thread_id}/reply", data={"csrf_token": token,
                                                                              "text": "Hi, it's Cora herself"})
        assert r.status_code == 303
        async with app.state.sessionmaker() as db:
            reply = await db.scalar(select(Post).where(Post.account_id == ai_account_id))
            assert reply.text == "@fan Hi, it's Cora herself" and reply.visibility == "direct"
            assert reply.in_reply_to_id == root.id
        page = (await c.get(f"/studio/{ai_id}/conversations")).text
        assert "@fan Hi, it&#39;s Cora herself" in page.replace('<a class="mention" href="/@fan">@fan</a>', "@fan")
        r = await c.post(f"/studio/{ai_id}/threads/{thread_id}/handback", data={"csrf_token": token})
        assert r.status_code == 303
        async with app.state.sessionmaker() as db:
            assert (await db.get(AIDirectThread, thread_id)).mode == "ai"
        assert (await c.post(f"/studio/{ai_id}/threads/{thread_id}/explode",
                             data={"csrf_token": token})).status_code == 404
        assert (await c.post(f"/studio/{ai_id}/threads/999999/takeover",
                             data={"csrf_token": token})).status_code == 404
        assert fan_id


# ---- in a real browser -------------------------------------------------------------------------
TIMEOUT_MS = 15_000


@pytest.fixture
def served(tmp_path: Path, fake_llm) -> Iterator[str]:  # noqa: ANN001 - tests/fake_openai.FakeOpenAI
    """The app on 127.0.0.1:<free port> (uvicorn in a thread), its model the scripted fake server."""

    from hearth.storage.db import migrate

    url = f"sqlite:///{tmp_path / 'hearth.db'}"
    migrate(url)
    settings = Settings(database_url=url, snapshot_dir=tmp_path / "snapshots", **NO_RATE_LIMITS,
                        llm_base_url=fake_llm.base_url, llm_model="test-model", llm_connect_retries=0,
                        studio_dm_poll_seconds=3600)
    with serve_app(create_app(settings)) as base:
        yield base


@pytest.mark.slow
def test_browser_an_ai_of_me_cites_my_post_and_refuses_an_avoided_topic(served: str, fake_llm,  # noqa: ANN001
                                                                         chromium_path: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    base = served
    errors: list[str] = []
    with sync_playwright() as p:
        chromium = launch_chromium(p, chromium_path)
        try:
            def new_page():  # noqa: ANN202 - a Playwright page, with its own cookies
                context = chromium.new_context(viewport={"width": 1280, "height": 900})
                page = context.new_page()
                page.set_default_timeout(TIMEOUT_MS)
                expect.set_options(timeout=TIMEOUT_MS)
                page.on("console", lambda m: m.type == "error" and errors.append(f"console: {m.text} {m.location}"))
                page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
                return page

            def sign_up_in(page, username: str) -> None:  # noqa: ANN001
                page.goto(base + "/signup")
                page.get_by_label("Username").fill(username)
                page.get_by_label("Password").fill(username + " password")
                page.get_by_role("button", name="Sign up").click()
                page.wait_for_url(base + "/home")

            # The creator makes an AI of themselves, with a topic to avoid, then posts.
            creator = new_page()
            sign_up_in(creator, "cora")
            creator.get_by_role("link", name="Studio", exact=True).click()
            creator.get_by_role("link", name="Create an AI").click()
            creator.get_by_label("Name").fill("Cora")
            creator.get_by_label("Handle").fill("cora_ai")
            creator.get_by_label("Tagline").fill("Cora's music, answered")
            creator.get_by_label("Greeting").fill("Hi! Ask me about the album.")
            creator.get_by_label("Question 1").fill("What instruments are on the new album?")
            creator.get_by_label("Topics to avoid").fill("politics")
            creator.get_by_label("An AI of me").check()
            creator.get_by_role("button", name="Create AI").click()
            creator.wait_for_url(re.compile(r"/studio/\d+\?created=1$"))
            expect(creator.locator("h1")).to_contain_text("Cora")
            creator.goto(base + "/home")
            creator.get_by_label("What's on your mind?").fill("My new album uses a modular synthesizer and tape loops.")
            creator.get_by_role("button", name="Post", exact=True).click()
            posted = creator.locator("#timeline article").first
            expect(posted).to_contain_text("modular synthesizer")
            post_id = posted.get_attribute("id").removeprefix("post-")

            # A fan finds it on its profile and talks to it.
            fake_llm.queue_text("The album is built on a modular synthesizer and tape loops [1].", n=5)
            fake_llm.queue_text("Album instruments")  # the conversation's title
            fan = new_page()
            sign_up_in(fan, "fan")
            fan.goto(base + "/@cora_ai")
            expect(fan.locator("#ai-profile")).to_contain_text("AI by @cora")
            fan.get_by_role("link", name="Talk to it").click()
            fan.wait_for_url(base + "/@cora_ai/chat")
            expect(fan.locator("#ai-disclosure")).to_contain_text("an AI made by @cora")
            log = fan.locator("#assistant-log")
            expect(log.locator(".ai-opening")).to_contain_text("Hi! Ask me about the album.")
            fan.get_by_role("button", name="What instruments are on the new album?").click()
            expect(log.locator(".assistant-msg--user")).to_have_text("You said:What instruments are on the new album?")
            answer = log.locator('.assistant-msg--assistant[data-role="assistant"]').first
            expect(answer.locator(".assistant-bubble")).to_have_text(
                "The album is built on a modular synthesizer and tape loops [1].")
            source = log.locator(".ai-sources a")
            expect(source).to_have_count(1)
            expect(source).to_have_attribute("href", f"/@cora/{post_id}")
            expect(source).to_contain_text("[1]")
            expect(fan.locator("#assistant-title")).to_have_text("Album instruments")
            expect(fan.locator("#ai-questions")).to_be_hidden()
            fan.wait_for_url(re.compile(r"/@cora_ai/chat\?c=\d+$"))
            system = fake_llm.requests[0]["messages"][0]["content"]
            assert "modular synthesizer" in system and "politics" in system
            asked = len(fake_llm.requests)

            # The avoided topic: refused politely, by the app, without asking the model.
            box = fan.get_by_label("Message Cora")
            box.fill("What do you think about politics?")
            box.press("Enter")
            refusal = log.locator(".assistant-msg--assistant").last
            expect(refusal).to_contain_text("I'd rather not talk about politics")
            expect(refusal.locator(".ai-declined")).to_have_text("Declined")
            expect(fan.locator("#assistant-regenerate")).to_be_visible()
            assert len(fake_llm.requests) == asked

            # The source link leads to the creator's post; a reload shows the stored conversation.
            source.click()
            fan.wait_for_url(base + f"/posts/{post_id}")
            fan.go_back()
            expect(log.locator(".assistant-msg--user")).to_have_count(2)
            expect(log.locator(".ai-sources a")).to_have_attribute("href", f"/@cora/{post_id}")
            expect(fan.locator("#ai-disclosure")).to_be_visible()
            assert fake_llm.pending == 0
            assert not errors, errors
        finally:
            chromium.close()
