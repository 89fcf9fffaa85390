"""The web UI over HTTP (httpx on the ASGI app, inside its lifespan), on SQLite and PostgreSQL:
sign-up / log-in / log-out and the session cookie, CSRF refusal with nothing written, forms
that keep what was typed, the pages, htmx fragments, and other users' posts."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from html import unescape

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from hearth.app import hydrate
from hearth.app.main import create_app
from hearth.services import accounts, graph, posts
from hearth.settings import Settings
from hearth.storage.models import Account, EventRow, Favourite, Follow, Notification, Post

PASSWORD = "correct horse battery"
HTMX = {"HX-Request": "true"}


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[FastAPI]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app


def browser(app: FastAPI, scheme: str = "http") -> httpx.AsyncClient:
    """A client with its own cookie jar: one per person."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"{scheme}://testserver")


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    async with running(settings) as app:
        yield app


def form_token(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "the page has no form token"
    return match.group(1)


def meta_token(html: str) -> str:
    match = re.search(r'<meta name="csrf-token" content="([^"]+)"', html)
    assert match, "the page has no csrf-token meta tag"
    return match.group(1)


async def sign_up(client: httpx.AsyncClient, username: str, email: str = "") -> str:
    """Sign up through the form; returns the session's CSRF token."""
    page = await client.get("/signup")
    r = await client.post("/signup", data={"username": username, "email": email, "password": PASSWORD,
                                           "csrf_token": form_token(page.text)})
    assert r.status_code == 303, r.text
    home = await client.get("/settings/profile")
    assert home.status_code == 200
    return meta_token(home.text)


async def count(app: FastAPI, model: type, *where) -> int:  # noqa: ANN001 - SQL clauses
    async with app.state.sessionmaker() as db:
        return int(await db.scalar(select(func.count()).select_from(model).where(*where)))


async def account(app: FastAPI, username: str) -> Account:
    async with app.state.sessionmaker() as db:
        return await accounts.lookup(db, username)


# ---- sessions -----------------------------------------------------------------------------------
async def test_landing_and_pages_that_need_a_user(app: FastAPI) -> None:
    async with browser(app) as c:
        landing = await c.get("/")
        assert landing.status_code == 200
        assert 'href="/signup"' in landing.text and 'href="/login"' in landing.text
        for path, target in [("/home", "/login?next=%2Fhome"),
                             ("/notifications?max_id=5", "/login?next=%2Fnotifications%3Fmax_id%3D5"),
                             ("/people", "/login?next=%2Fpeople")]:
            r = await c.get(path)
            assert (r.status_code, r.headers["location"]) == (303, target)
        r = await c.post("/posts", data={"text": "hi"}, headers=HTMX)
        assert r.status_code == 401 and r.headers["hx-redirect"].startswith("/login")
        await sign_up(c, "ann")
        assert (await c.get("/")).headers["location"] == "/home"


async def test_signup_cookie_and_logout(app: FastAPI, settings: Settings) -> None:
    async with browser(app) as c:
        page = await c.get("/signup")
        r = await c.post("/signup", data={"username": "ann", "password": PASSWORD, "next": "/people",
                                          "csrf_token": form_token(page.text)})
        assert (r.status_code, r.headers["location"]) == (303, "/people")
        cookie = r.headers["set-cookie"]
        assert cookie.startswith("hearth_session=")
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
        assert f"Max-Age={settings.session_days * 86400}" in cookie
        session_value = c.cookies["hearth_session"]
        home = await c.get("/home")
        assert home.status_code == 200 and "@ann" in home.text
        token = meta_token(home.text)

        assert (await c.post("/logout")).status_code == 403  # no CSRF token: still logged in
        assert (await c.get("/home")).status_code == 200
        r = await c.post("/logout", data={"csrf_token": token})
        assert (r.status_code, r.headers["location"]) == (303, "/")
        assert (await c.get("/home")).status_code == 303
    async with browser(app) as replay:  # the old cookie no longer opens a session
        replay.cookies.set("hearth_session", session_value)
        assert (await replay.get("/home")).status_code == 303

    secure = settings.model_copy(update={"secure_cookies": True})
    async with running(secure) as secure_app, browser(secure_app, "https") as c:
        page = await c.get("/login")
        r = await c.post("/login", data={"login": "ann", "password": PASSWORD, "csrf_token": form_token(page.text)})
        assert r.status_code == 303 and "Secure" in r.headers["set-cookie"]


async def test_signup_errors_keep_what_was_typed(app: FastAPI) -> None:
    async with browser(app) as c:
        await sign_up(c, "ann")
    async with browser(app) as c:
        page = await c.get("/signup")
        token = form_token(page.text)
        r = await c.post("/signup", data={"username": "ann", "email": "new@example.org", "password": PASSWORD,
                                          "csrf_token": token})
        assert r.status_code == 409
        assert "is taken" in r.text and 'value="ann"' in r.text and 'value="new@example.org"' in r.text
        assert PASSWORD not in r.text
        r = await c.post("/signup", data={"username": "bob", "password": "short", "csrf_token": token})
        assert r.status_code == 422 and "8 to 1024 characters" in r.text
        r = await c.post("/signup", data={"username": "bob", "password": PASSWORD})  # no form token
        assert r.status_code == 403 and "CSRF" in r.text
    assert await count(app, Account) == 1


async def test_login_errors_and_next(app: FastAPI) -> None:
    async with browser(app) as c:
        await sign_up(c, "ann", "ann@example.org")
    async with browser(app) as c:
        token = form_token((await c.get("/login?next=/@ann")).text)
        r = await c.post("/login", data={"login": "ann", "password": "wrong password", "next": "/@ann",
                                         "csrf_token": token})
        assert r.status_code == 401
        assert "wrong username or password" in r.text.lower() and 'value="ann"' in r.text
        assert 'name="next" value="/@ann"' in r.text
        r = await c.post("/login", data={"login": "ANN@example.org", "password": PASSWORD, "next": "/@ann",
                                         "csrf_token": token})
        assert (r.status_code, r.headers["location"]) == (303, "/@ann")
    for evil in ("//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"):
        async with browser(app) as c:
            token = form_token((await c.get("/login")).text)
            r = await c.post("/login", data={"login": "ann", "password": PASSWORD, "next": evil,
                                             "csrf_token": token})
            assert r.headers["location"] == "/home", evil


async def test_login_rate_limit(settings: Settings) -> None:
    limited = settings.model_copy(update={"rate_limit_logins_per_account": "3/minute"})
    async with running(limited) as app:
        async with browser(app) as c:
            await sign_up(c, "ann")
        async with browser(app) as c:
            token = form_token((await c.get("/login")).text)
            for _ in range(3):
                r = await c.post("/login", data={"login": "ann", "password": "nope nope", "csrf_token": token})
                assert r.status_code == 401
            r = await c.post("/login", data={"login": "ann", "password": PASSWORD, "csrf_token": token})
            assert r.status_code == 429
            assert "too many requests" in r.text.lower() and int(r.headers["retry-after"]) >= 1
            assert 'value="ann"' in r.text and "hearth_session" not in r.headers.get("set-cookie", "")


# ---- CSRF -------------------------------------------------------------------------------------
async def test_form_posts_without_the_csrf_token_are_refused(app: FastAPI) -> None:
    async with browser(app) as ann_client, browser(app) as bob_client:
        ann_token = await sign_up(ann_client, "ann")
        bob_token = await sign_up(bob_client, "bob")
        bob = await account(app, "bob")
        async with app.state.sessionmaker() as db:
            bob_post = await posts.create_post(db, bob, "bob's post")
        attempts = [("/posts", {"text": "sneaky"}), (f"/posts/{bob_post.id}/favourite", {}),
                    (f"/posts/{bob_post.id}/reblog", {}), ("/@bob/follow", {}),
                    ("/settings/profile", {"display_name": "pwned"})]
        for path, data in attempts:
            for headers, token in [({}, None), ({}, "wrong"), ({}, bob_token), (HTMX, None)]:
                form = {**data, **({"csrf_token": token} if token else {})}
                r = await ann_client.post(path, data=form, headers=headers)
                assert r.status_code == 403, (path, token)
                assert "CSRF" in r.text
        r = await ann_client.post("/posts", data={"text": "bad header"}, headers={**HTMX, "X-CSRF-Token": "nope"})
        assert r.status_code == 403 and r.headers["hx-retarget"] == "#flash"
        assert await count(app, Post) == 1
        assert await count(app, Favourite) == 0 and await count(app, Follow) == 0
        assert (await account(app, "ann")).display_name == "ann"
        # The same posts with the token (as a field, or as htmx's header) go through.
        r = await ann_client.post("/posts", data={"text": "with a token", "csrf_token": ann_token})
        assert r.status_code == 303
        r = await ann_client.post("/@bob/follow", data={}, headers={**HTMX, "X-CSRF-Token": ann_token})
        assert r.status_code == 200 and await count(app, Follow) == 1


# ---- composing --------------------------------------------------------------------------------
async def test_oversize_post_keeps_the_draft(settings: Settings) -> None:
    async with running(settings.model_copy(update={"max_post_chars": 20})) as app, browser(app) as c:
        token = await sign_up(c, "ann")
        draft = "<b>too long</b> for twenty"
        r = await c.post("/posts", data={"text": draft, "visibility": "private", "csrf_token": token})
        assert r.status_code == 422
        assert "the limit is 20" in r.text and "&lt;b&gt;too long&lt;/b&gt; for twenty</textarea>" in r.text
        assert '<option value="private" selected>' in r.text and "<html" in r.text
        r = await c.post("/posts", data={"text": draft, "insert": "timeline", "csrf_token": token}, headers=HTMX)
        assert r.status_code == 422 and "<html" not in r.text and "hx-retarget" not in r.headers
        assert "&lt;b&gt;too long" in r.text and 'name="insert" value="timeline"' in r.text
        assert await count(app, Post) == 0
        # A line break counts as one character although browsers send CRLF.
        r = await c.post("/posts", data={"text": "a" * 9 + "\r\n" + "b" * 10, "csrf_token": token})
        assert r.status_code == 303
        r = await c.post("/posts", data={"text": "hello #web", "insert": "timeline", "csrf_token": token},
                         headers=HTMX)
        assert r.status_code == 200 and 'hx-swap-oob="afterbegin:#timeline"' in r.text
        assert '<a class="hashtag" href="/tags/web">#web</a>' in r.text
        assert "</textarea>" in r.text and "Post published" in r.headers["hx-trigger"]
        r = await c.post("/posts", data={"text": "no insert", "insert": "#evil", "csrf_token": token}, headers=HTMX)
        assert r.status_code == 200 and "hx-swap-oob" not in r.text
        assert await count(app, Post) == 3


async def test_write_rate_limit_keeps_the_draft(settings: Settings) -> None:
    async with running(settings.model_copy(update={"rate_limit_writes_per_user": "2/minute"})) as app:
        async with browser(app) as c:
            token = await sign_up(c, "ann")
            for i in range(2):
                assert (await c.post("/posts", data={"text": f"post {i}", "csrf_token": token})).status_code == 303
            r = await c.post("/posts", data={"text": "one too many", "csrf_token": token})
            assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
            assert "too many requests" in r.text.lower() and "one too many</textarea>" in r.text
            r = await c.post("/@ann/mute", data={"csrf_token": token}, headers=HTMX)
            assert r.status_code == 429 and r.headers["hx-retarget"] == "#flash"
            assert await count(app, Post) == 2


# ---- pages ------------------------------------------------------------------------------------
async def test_profile_thread_search_and_notification_pages(app: FastAPI) -> None:
    async with browser(app) as c:
        token = await sign_up(c, "ann")
        async with app.state.sessionmaker() as db:
            bob = await accounts.register(db, "bob", PASSWORD, display_name="Bob Builder", note="I build #things")
            ann = await accounts.lookup(db, "ann")
            root = await posts.create_post(db, bob, "Hello @ann, want to talk about #gardening? https://example.org")
            await posts.favourite(db, bob, (await posts.create_post(db, ann, "ann's first")).id)
        assert '<span class="badge">2' in (await c.get("/home")).text  # a mention and a favourite

        r = await c.post("/posts", data={"text": "Yes please!", "in_reply_to_id": str(root.id), "csrf_token": token})
        assert r.status_code == 303 and r.headers["location"].startswith(f"/posts/{root.id}#post-")
        thread = await c.get(f"/posts/{root.id}")
        assert thread.status_code == 200
        assert "Yes please!" in thread.text and 'id="reply"' in thread.text and "Reply to @bob" in thread.text
        assert '<a href="https://example.org" rel="nofollow ugc noopener noreferrer">example.org</a>' in thread.text
        reply_id = int(re.search(r"#post-(\d+)", r.headers["location"]).group(1))
        reply_page = await c.get(f"/posts/{reply_id}")
        assert "Earlier in this conversation" in reply_page.text and "Replying to" in reply_page.text

        profile = await c.get("/@bob")
        assert profile.status_code == 200
        assert "Bob Builder" in profile.text and '<a class="hashtag" href="/tags/things">' in profile.text
        assert 'id="followbtn-' in profile.text and "want to talk about" in profile.text
        own = await c.get("/@ann?tab=replies")
        assert "Yes please!" in own.text and "Edit profile" in own.text
        assert "Yes please!" not in (await c.get("/@ann")).text  # the Posts tab leaves replies out

        found = await c.get("/search", params={"q": "gardening"})
        assert found.status_code == 200 and "want to talk about" in found.text and "/tags/gardening" in found.text
        people = await c.get("/search", params={"q": "bob"})
        assert 'href="/@bob"' in people.text and "Bob Builder" in people.text
        assert "want to talk about" in (await c.get("/tags/gardening")).text

        notes = await c.get("/notifications")
        assert notes.status_code == 200
        assert "mentioned you" in notes.text and "favourited your post" in notes.text and "New</span>" in notes.text
        assert await count(app, Notification, Notification.read.is_(False), Notification.account_id == ann.id) == 0
        again = await c.get("/notifications")
        assert "New</span>" not in again.text and 'class="badge"' not in again.text

        for path in ("/@bob/followers", "/@bob/following", "/compose", f"/compose?in_reply_to_id={root.id}"):
            assert (await c.get(path)).status_code == 200, path
        r = await c.get(f"/@bob/{root.id}")  # Mastodon's post URL
        assert (r.status_code, r.headers["location"]) == (303, f"/posts/{root.id}")
    async with browser(app) as visitor:  # logged out: public pages render, with no forms to act
        page = await visitor.get(f"/posts/{root.id}")
        assert page.status_code == 200 and "Log in</a> to reply" in page.text and "csrf" not in page.text


async def test_feed_pages_show_reasons_and_load_more(app: FastAPI) -> None:
    async with browser(app) as c:
        token = await sign_up(c, "ann")
        async with app.state.sessionmaker() as db:
            bob = await accounts.register(db, "bob", PASSWORD)
            for i in range(25):
                await posts.create_post(db, bob, f"bob says {i}")
            ann = await accounts.lookup(db, "ann")
            await graph.follow(db, ann, bob.id)
            feed = await app.state.serving.feed(db, ann, 20, None)
        home = await c.get("/home")
        assert home.status_code == 200 and 'data-surface="for_you"' in home.text
        assert ("Ranked by the Hearth model" in home.text) or ("until a model is trained" in home.text)
        assert feed.entries, "the feed serves the followed account's posts"
        for entry in feed.entries:
            assert f'data-post-id="{entry.post_id}"' in home.text
            assert unescape(entry.reason) in unescape(home.text)
        if feed.cursor:
            link = unescape(re.search(r'hx-get="(/home\?cursor=[^"]+)"', home.text).group(1))
            more = await c.get(link, headers=HTMX)
            assert more.status_code == 200 and "<html" not in more.text and "<article" in more.text

        following = await c.get("/following")
        assert following.text.count("<article") == 20 and "bob says 24" in following.text
        link = unescape(re.search(r'href="(/following\?max_id=\d+)"', following.text).group(1))
        older = await c.get(link, headers=HTMX)
        assert older.text.count("<article") == 5 and "bob says 0" in older.text and "<html" not in older.text
        assert "Load more" not in older.text
        assert (await c.get(link)).text.count("<html") == 1  # without htmx the link is a whole page
        assert token


async def test_people_page_and_relationship_actions(app: FastAPI) -> None:
    async with browser(app) as c:
        token = await sign_up(c, "ann")
        async with app.state.sessionmaker() as db:
            bob = await accounts.register(db, "bob", PASSWORD)
            cat = await accounts.register(db, "cat", PASSWORD)
            await graph.follow(db, cat, bob.id)
            ann = await accounts.lookup(db, "ann")
            suggestions = await hydrate.people(db, await app.state.serving.people(db, ann, 20))
        page = await c.get("/people")
        assert page.status_code == 200 and suggestions
        for s in suggestions:
            assert f'href="/@{s.account.username}"' in page.text and unescape(s.reason) in unescape(page.text)
        source = re.search(r'name="source" value="([a-z_:]*)"', page.text).group(1)

        r = await c.post("/@bob/follow", data={"csrf_token": token, "variant": "card", "source": source,
                                               "next": "/people"}, headers=HTMX)
        assert r.status_code == 200 and "<html" not in r.text
        assert 'aria-pressed="true"' in r.text and ">Following<" in r.text and "You follow @bob" in r.headers[
            "hx-trigger"]
        async with app.state.sessionmaker() as db:
            event = await db.scalar(select(EventRow).where(EventRow.verb == "follow", EventRow.account_id == ann.id))
        assert event.target_id == bob.id and event.context.get("source") == (source or None)
        r = await c.post("/@bob/unfollow", data={"csrf_token": token, "next": "/people"})
        assert (r.status_code, r.headers["location"]) == (303, "/people") and await count(app, Follow) == 1
        r = await c.post("/@cat/block", data={"csrf_token": token, "variant": "profile"}, headers=HTMX)
        assert "Unblock @cat" in r.text
        r = await c.post("/@cat/mute", data={"csrf_token": token, "variant": "post", "key": "7"}, headers=HTMX)
        assert 'id="post-7"' in r.text and "You muted @cat" in r.text
        r = await c.post("/@ann/follow", data={"csrf_token": token}, headers=HTMX)
        assert r.status_code == 422 and r.headers["hx-retarget"] == "#flash" and "your own account" in r.text
        r = await c.post("/@bob/befriend", data={"csrf_token": token})
        assert r.status_code == 404


async def test_post_actions_swap_in_place(app: FastAPI) -> None:
    async with browser(app) as c:
        token = await sign_up(c, "ann")
        async with app.state.sessionmaker() as db:
            bob = await accounts.register(db, "bob", PASSWORD)
            post = await posts.create_post(db, bob, "a post to like")
        form = {"csrf_token": token, "key": str(post.id), "next": "/following"}
        r = await c.post(f"/posts/{post.id}/favourite", data=form, headers=HTMX)
        assert r.status_code == 200 and f'id="actions-{post.id}"' in r.text and "<html" not in r.text
        fav = re.search(r'id="fav-\d+" [^>]*aria-pressed="(\w+)"[^>]*>.*?class="count">(\d+)<', r.text, re.S)
        assert fav.groups() == ("true", "1") and f'action="/posts/{post.id}/unfavourite"' in r.text
        r = await c.post(f"/posts/{post.id}/unfavourite", data=form, headers=HTMX)
        assert 'aria-pressed="false"' in r.text and await count(app, Favourite) == 0
        r = await c.post(f"/posts/{post.id}/reblog", data=form)
        assert (r.status_code, r.headers["location"]) == (303, f"/following#post-{post.id}")
        assert await count(app, Post, Post.reblog_of_id == post.id) == 1
        r = await c.post(f"/posts/{post.id}/hide", data=form, headers=HTMX)
        assert "Hidden" in r.text and f'id="post-{post.id}"' in r.text
        assert await count(app, EventRow, EventRow.verb == "hide", EventRow.target_id == post.id) == 1
        r = await c.post(f"/posts/{post.id}/sparkle", data=form)
        assert r.status_code == 404 and "no post action" in r.text


async def test_another_user_cannot_delete_your_post(app: FastAPI) -> None:
    async with browser(app) as ann_client, browser(app) as bob_client:
        ann_token = await sign_up(ann_client, "ann")
        bob_token = await sign_up(bob_client, "bob")
        r = await ann_client.post("/posts", data={"text": "mine", "csrf_token": ann_token})
        post_id = int(r.headers["location"].rsplit("/", 1)[1])
        r = await bob_client.post(f"/posts/{post_id}/delete", data={"csrf_token": bob_token, "next": "/home"})
        assert r.status_code == 403 and "only delete your own posts" in r.text and "Traceback" not in r.text
        r = await bob_client.post(f"/posts/{post_id}/delete", data={"csrf_token": bob_token}, headers=HTMX)
        assert r.status_code == 403 and r.headers["hx-retarget"] == "#flash" and "<html" not in r.text
        assert await count(app, Post, Post.id == post_id) == 1
        thread = await bob_client.get(f"/posts/{post_id}")
        assert "Delete post" not in thread.text and "Not interested" in thread.text
        r = await ann_client.post(f"/posts/{post_id}/delete", data={"csrf_token": ann_token,
                                                                    "next": f"/posts/{post_id}"})
        assert (r.status_code, r.headers["location"]) == (303, "/@ann")
        assert await count(app, Post, Post.id == post_id) == 0


async def test_errors_are_pages_not_tracebacks(app: FastAPI) -> None:
    async with browser(app) as c:
        for path in ("/posts/999999", "/posts/not-a-number", "/@nobody", "/nowhere", "/tags/no%20tag"):
            r = await c.get(path)
            assert r.status_code == 404, path
            assert r.headers["content-type"].startswith("text/html") and "<h1" in r.text
            assert "Traceback" not in r.text
        r = await c.get("/posts/999999", headers=HTMX)
        assert r.status_code == 404 and r.headers["hx-retarget"] == "#flash" and "<html" not in r.text
        token = await sign_up(c, "ann")
        r = await c.get("/home?cursor=%%%garbage")
        assert r.status_code in (200, 422) and "Traceback" not in r.text
        r = await c.get("/following?max_id=abc")
        assert r.status_code == 422 and "max_id must be an id" in r.text
        assert token


async def test_profile_settings_keep_input_on_error(app: FastAPI, settings: Settings) -> None:
    async with browser(app) as c:
        token = await sign_up(c, "ann")
        r = await c.post("/settings/profile", data={"display_name": "Ann A.", "note": "Hi, I garden.",
                                                    "csrf_token": token})
        assert (r.status_code, r.headers["location"]) == (303, "/settings/profile?saved=1")
        assert "Profile saved" in (await c.get(r.headers["location"])).text
        too_long = "x" * (settings.max_bio_chars + 1)
        r = await c.post("/settings/profile", data={"display_name": "Changed", "note": too_long,
                                                    "csrf_token": token})
        assert r.status_code == 422 and "Bio is longer" in r.text
        assert 'value="Changed"' in r.text and too_long in r.text
        ann = await account(app, "ann")
        assert (ann.display_name, ann.note) == ("Ann A.", "Hi, I garden.")


# ---- rendering helpers (no database) ---------------------------------------------------------------
def test_post_html_escapes_and_links() -> None:
    from hearth.app.web.render import post_html
    html = str(post_html("<script>alert(1)</script> hi @bob and @eve@elsewhere.social, #Tag!\n"
                         "see https://x.org/a?b=1&c=2). javascript:alert(1) mail ann@example.org\n\nbye"))
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert '<a class="mention" href="/@bob">@bob</a>' in html
    assert "@eve@elsewhere.social" in html and 'href="/@eve"' not in html
    assert '<a class="hashtag" href="/tags/tag">#Tag</a>!' in html
    link = '<a href="https://x.org/a?b=1&amp;c=2" rel="nofollow ugc noopener noreferrer">x.org/a?b=1&amp;c=2</a>'
    assert link + ")." in html
    assert 'href="javascript' not in html and 'href="/@example"' not in html
    assert html.count("<p>") == 2 and "<br>" in html


def test_relative_time_and_safe_next() -> None:
    from hearth.app.web.render import absolute_time, relative_time
    from hearth.app.web.session import safe_next
    now = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
    assert relative_time(now - timedelta(seconds=10), now) == "just now"
    assert relative_time(now - timedelta(minutes=1), now) == "1 minute ago"
    assert relative_time(now - timedelta(minutes=59, seconds=50), now) == "59 minutes ago"
    assert relative_time(now - timedelta(hours=3), now) == "3 hours ago"
    assert relative_time(now - timedelta(days=2), now) == "2 days ago"
    assert relative_time(datetime(2024, 3, 5, tzinfo=UTC), now) == "Mar 5"
    assert relative_time(datetime(2023, 3, 5, tzinfo=UTC), now) == "Mar 5, 2023"
    assert absolute_time(now) == "2024-06-01 12:00 UTC"
    assert safe_next("/@ann?tab=replies") == "/@ann?tab=replies"
    for bad in ("", "//evil.example", "https://evil.example", "/\\evil", "/x\r\nSet-Cookie: a=b", "evil"):
        assert safe_next(bad) == "/home", bad


async def test_locked_account_answers_follow_requests_on_the_web(app: FastAPI) -> None:
    async with browser(app) as bob_c, browser(app) as ann_c:
        bob_token = await sign_up(bob_c, "bob")
        r = await bob_c.post("/settings/profile", data={"display_name": "Bob", "note": "", "locked": "true",
                                                        "csrf_token": bob_token})
        assert r.status_code == 303 and "checked" in (await bob_c.get("/settings/profile")).text
        ann_token = await sign_up(ann_c, "ann")
        r = await ann_c.post("/@bob/follow", data={"csrf_token": ann_token, "variant": "profile"}, headers=HTMX)
        assert ">Requested<" in r.text and "asked to follow @bob" in r.headers["hx-trigger"]
        assert await count(app, Follow) == 0
        notes = (await bob_c.get("/notifications")).text
        assert "asked to follow you" in notes and 'action="/follow_requests/ann/authorize"' in notes
        r = await bob_c.post("/follow_requests/ann/authorize", data={"csrf_token": bob_token})
        assert r.status_code == 303 and await count(app, Follow) == 1
        assert ">Following<" in (await ann_c.get("/@bob")).text
        r = await bob_c.post("/follow_requests/ann/reject", data={"csrf_token": bob_token})
        assert r.status_code == 404  # answered already
        r = await bob_c.post("/follow_requests/ann/authorize", data={})
        assert r.status_code in (403, 422)  # no CSRF token: refused
