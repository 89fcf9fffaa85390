"""The web UI in a real browser: Debian's Chromium driven by Playwright against the real server
(uvicorn on 127.0.0.1, a free port, in a background thread) over a seeded SQLite database.
A new user signs up, posts, follows a suggested person, sees their posts arrive, favourites
one; the keyboard reaches everything; the page logs no errors; feed impressions are reported."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select

from hearth.app.main import create_app
from hearth.services import accounts, graph, posts
from hearth.settings import Settings
from hearth.storage.db import make_engine, make_sessionmaker, make_sync_engine, migrate
from hearth.storage.models import EventRow
from tests.browser import launch_chromium
from tests.live_server import NO_RATE_LIMITS, serve_app

pytestmark = pytest.mark.slow

EVENTS_URL = "/api/hearth/v1/events"
TIMEOUT_MS = 15_000
MAYA_POSTS = ["Tomatoes are finally ripe #gardening", "Compost tip: more browns than greens",
              "Seed swap on Saturday, who is in?"]


@dataclass
class Seeded:
    db_url: str
    maya_id: int


async def seed(url: str) -> Seeded:
    """Maya posts and is followed by two people, so she is the top suggestion for a newcomer."""
    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as db:
            maya = await accounts.register(db, "maya", "maya password", display_name="Maya Green",
                                           note="Gardener. #gardening")
            leo = await accounts.register(db, "leo", "leo password", display_name="Leo")
            ivy = await accounts.register(db, "ivy", "ivy password", display_name="Ivy")
            for follower in (leo, ivy):
                await graph.follow(db, follower, maya.id)
            await posts.create_post(db, leo, "Leo's first post on Hearth")
            for text in MAYA_POSTS:
                await posts.create_post(db, maya, text)
            return Seeded(url, maya.id)
    finally:
        await engine.dispose()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Seeded]]:
    """The app served by uvicorn on 127.0.0.1:<free port>; stopped through its own handle."""
    url = f"sqlite:///{tmp_path / 'hearth.db'}"
    migrate(url)
    seeded = asyncio.run(seed(url))
    settings = Settings(database_url=url, snapshot_dir=tmp_path / "snapshots", **NO_RATE_LIMITS)
    with serve_app(create_app(settings)) as base:
        yield base, seeded


def wait_for_rows(url: str, verb: str, timeout: float = TIMEOUT_MS / 1000) -> list[tuple[int, float]]:
    """(post id, value) of the `verb` events the server has written, once there are any
    (impressions reach the table through a buffer flushed every second)."""
    engine = make_sync_engine(url)
    deadline = time.monotonic() + timeout
    try:
        while True:
            with engine.connect() as conn:
                rows = conn.execute(select(EventRow.target_id, EventRow.value).where(EventRow.verb == verb)).all()
            if rows or time.monotonic() > deadline:
                return [tuple(r) for r in rows]
            time.sleep(0.1)
    finally:
        engine.dispose()


def active(page) -> dict:  # noqa: ANN001 - a Playwright page
    return page.evaluate("() => ({id: document.activeElement.id, cls: document.activeElement.className,"
                         " tag: document.activeElement.tagName})")


def test_new_user_signs_up_posts_follows_and_favourites(server: tuple[str, Seeded], chromium_path: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    base, seeded = server
    errors: list[str] = []
    with sync_playwright() as p:
        browser = launch_chromium(p, chromium_path)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.set_default_timeout(TIMEOUT_MS)
            expect.set_options(timeout=TIMEOUT_MS)

            page.on("console", lambda m: m.type == "error" and errors.append(f"console: {m.text} {m.location}"))
            page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))

            # Sign up from the landing page.
            page.goto(base + "/")
            page.get_by_role("link", name="Create an account").click()
            page.get_by_label("Username").fill("tess")
            page.get_by_label("Password").fill("tess password")
            page.get_by_role("button", name="Sign up").click()
            page.wait_for_url(base + "/home")
            expect(page.get_by_role("heading", name="For you")).to_be_visible()
            expect(page.locator(".ranker")).to_contain_text("Ranked by")

            # Keyboard: the first Tab reaches the skip link, which moves focus to the main column,
            # and from there Tab reaches the compose box.
            page.keyboard.press("Tab")
            assert "skip-link" in active(page)["cls"]
            page.keyboard.press("Enter")
            assert active(page)["id"] == "main"
            for _ in range(15):
                page.keyboard.press("Tab")
                if active(page)["id"] == "compose-text":
                    break
            assert active(page)["id"] == "compose-text"

            # Compose with the keyboard: the counter follows, the post appears at the top in place.
            text = "Hello from the browser #firstpost"
            page.keyboard.type(text)
            expect(page.locator("#compose-count [data-count]")).to_have_text(str(500 - len(text)))
            page.get_by_role("button", name="Post", exact=True).click()
            expect(page.locator("#timeline article").first).to_contain_text(text)
            expect(page.locator("#compose-text")).to_have_value("")
            expect(page.locator("#announce")).to_have_text("Post published")

            # "/" focuses search.
            page.locator("body").click(position={"x": 5, "y": 5})
            page.keyboard.press("/")
            assert active(page)["id"] == "search-box"

            # Before following, Maya's posts are not in Following.
            page.goto(base + "/following")
            expect(page.locator("#timeline")).to_contain_text(text)
            expect(page.locator("#timeline")).not_to_contain_text(MAYA_POSTS[0])

            # Follow Maya from People you may know: the button swaps in place.
            page.goto(base + "/people")
            card = page.locator(f"#person-{seeded.maya_id}")
            expect(card).to_contain_text("Maya Green")
            expect(card.locator(".person-reason")).not_to_be_empty()
            follow = page.locator(f"#followbtn-{seeded.maya_id}")
            expect(follow).to_have_attribute("aria-pressed", "false")
            follow.click()
            expect(follow).to_have_attribute("aria-pressed", "true")
            expect(follow).to_have_text("Following")
            assert active(page)["id"] == f"followbtn-{seeded.maya_id}"  # focus stays on the button

            # Her posts now arrive in Following and in For you.
            page.goto(base + "/following")
            for maya_text in MAYA_POSTS:
                expect(page.locator("#timeline")).to_contain_text(maya_text)
            with page.expect_request(lambda r: r.url.endswith(EVENTS_URL) and r.method == "POST",
                                     timeout=TIMEOUT_MS) as sent:
                page.goto(base + "/home")
                expect(page.locator("#timeline")).to_contain_text("Maya Green")
            request = sent.value
            body = json.loads(request.post_data or "{}")
            token = page.locator('meta[name="csrf-token"]').get_attribute("content")
            assert request.headers.get("x-csrf-token") == token
            impressions = [e for e in body["events"] if e["verb"] == "impression"]
            shown = page.locator("#timeline article[data-post-id]").evaluate_all(
                "els => els.map(e => e.dataset.postId)")
            assert impressions and all(e["surface"] == "for_you" and e["post_id"] in shown for e in impressions)
            assert request.response().status == 202  # Hearth's API accepted them
            # Leaving the page reports how long the seen entries were on screen (a keepalive request
            # Playwright does not list, so look for what the server recorded).
            page.goto(base + "/following")
            dwell = wait_for_rows(seeded.db_url, "dwell")
            assert dwell and all(value >= 1 and str(post_id) in shown for post_id, value in dwell)

            # Favourite Maya's post: state and count update in place, and stay after a reload.
            article = page.locator("#timeline article", has_text=MAYA_POSTS[0])
            fav = article.locator(".action--fav")
            expect(fav).to_have_attribute("aria-pressed", "false")
            expect(fav.locator(".count")).to_have_text("0")
            fav.click()
            expect(fav).to_have_attribute("aria-pressed", "true")
            expect(fav.locator(".count")).to_have_text("1")
            page.reload()
            expect(page.locator("#timeline article", has_text=MAYA_POSTS[0]).locator(".action--fav")
                   ).to_have_attribute("aria-pressed", "true")

            # j moves to the next post, f favourites the focused one.
            page.locator("body").click(position={"x": 5, "y": 5})
            page.keyboard.press("j")
            first = page.locator("#timeline article").first
            expect(first).to_be_focused()
            page.keyboard.press("j")
            second = page.locator("#timeline article").nth(1)
            expect(second).to_be_focused()
            second_fav = second.locator(".action--fav")
            before = second_fav.get_attribute("aria-pressed")
            page.keyboard.press("f")
            expect(second_fav).to_have_attribute("aria-pressed", "false" if before == "true" else "true")

            assert not errors, errors
        finally:
            browser.close()
