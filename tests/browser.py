"""Driving Debian's Chromium (/usr/bin/chromium) with Playwright's sync API, for the web UI tests.

The python `playwright` wheel bundles its driver; we never run `playwright install` (no downloads on CI).
Use with the `chromium_path` fixture:

    with sync_playwright() as p:
        browser = launch_chromium(p, chromium_path)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Playwright

# Root on CI needs --no-sandbox; the rest keep a headless test browser off the network and the GPU,
# and out of /dev/shm (small in containers).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def launch_chromium(playwright: Playwright, executable_path: str, *, headless: bool = True) -> Browser:
    """Launch the given Chromium binary headless with CHROMIUM_ARGS; the caller closes it."""
    return playwright.chromium.launch(executable_path=executable_path, headless=headless, args=CHROMIUM_ARGS)
