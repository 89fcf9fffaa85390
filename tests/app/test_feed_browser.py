""""For you" in a real browser (Debian's Chromium, Playwright, uvicorn over SQLite): a newcomer
follows a quiet account whose posts are days old, outside the candidate window, among busy
popular ones, and sees that account's posts in "For you"; paging on ends with "You're all caught up"."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from hearth.app.main import create_app
from hearth.services import accounts, graph, posts
from hearth.settings import Settings
from hearth.storage.db import make_engine, make_sessionmaker, migrate
from hearth.storage.models import Post, utcnow
from tests.browser import launch_chromium
from tests.live_server import NO_RATE_LIMITS, serve_app

pytestmark = pytest.mark.slow

TIMEOUT_MS = 15_000
OTTO_POSTS = ["Otto's notes from the lighthouse", "Otto: the fog came in early", "Otto: quiet week at sea"]


async def seed(url: str) -> int:
    """Otto posted 10 days ago (followed by leo and ivy, so suggested); 25 fresh liked posts compete."""
    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as db:
            otto = await accounts.register(db, "otto", "otto password", display_name="Otto Quiet")
            for i, text in enumerate(OTTO_POSTS):
                post = await posts.create_post(db, otto, text)
                await db.execute(update(Post).where(Post.id == post.id)
                                 .values(created_at=utcnow() - timedelta(days=10, hours=len(OTTO_POSTS) - i)))
            await db.commit()
            leo = await accounts.register(db, "leo", "leo password", display_name="Leo")
            ivy = await accounts.register(db, "ivy", "ivy password", display_name="Ivy")
            for follower in (leo, ivy):
                await graph.follow(db, follower, otto.id)
            busy = [await accounts.register(db, f"busy{i}", "busy password") for i in range(5)]
            for i in range(25):
                post = await posts.create_post(db, busy[i % 5], f"Busy post number {i}")
                await posts.favourite(db, leo if i % 2 else ivy, post.id)
            return otto.id
    finally:
        await engine.dispose()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, int]]:
    url = f"sqlite:///{tmp_path / 'hearth.db'}"
    migrate(url)
    otto_id = asyncio.run(seed(url))
    settings = Settings(database_url=url, snapshot_dir=tmp_path / "snapshots", **NO_RATE_LIMITS)
    with serve_app(create_app(settings)) as base:
        yield base, otto_id


def test_newcomer_follows_a_quiet_account_and_sees_it_in_for_you(server: tuple[str, int], chromium_path: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    base, otto_id = server
    errors: list[str] = []
    with sync_playwright() as p:
        browser = launch_chromium(p, chromium_path)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.set_default_timeout(TIMEOUT_MS)
            expect.set_options(timeout=TIMEOUT_MS)
            page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))

            page.goto(base + "/signup")
            page.get_by_label("Username").fill("nina")
            page.get_by_label("Password").fill("nina password")
            page.get_by_role("button", name="Sign up").click()
            page.wait_for_url(base + "/home")
            expect(page.locator("#timeline")).not_to_contain_text("Otto")

            page.goto(base + "/people")
            follow = page.locator(f"#followbtn-{otto_id}")
            follow.click()
            expect(follow).to_have_attribute("aria-pressed", "true")

            page.goto(base + "/home")
            timeline = page.locator("#timeline")
            for text in OTTO_POSTS[-2:]:  # the page's per-author cap is 2: the newest two, 10 days old
                expect(timeline.locator("article", has_text=text)).to_contain_text("From @otto, whom you follow")

            # Load more until the feed says it is done; the third post arrives on the way.
            for _ in range(5):
                more = page.locator("[data-load-more]")
                if not more.count():
                    break
                href = more.get_attribute("href")
                with page.expect_response(lambda r: "/home?cursor=" in r.url):
                    more.click()
                expect(page.locator(f'[data-load-more][href="{href}"]')).to_have_count(0)
            expect(timeline).to_contain_text(OTTO_POSTS[0])
            caught_up = page.locator(".caught-up")
            expect(caught_up).to_contain_text("You're all caught up")
            expect(caught_up.get_by_role("link", name="Following")).to_have_attribute("href", "/following")
            expect(caught_up.locator('a[href="/people"]')).to_be_visible()
            assert not errors, errors
        finally:
            browser.close()
