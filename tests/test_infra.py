"""The real services the suite relies on: a PostgreSQL server and Chromium driven by Playwright."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.browser import launch_chromium

PAGE = b"""<!doctype html>
<html><head><meta charset="utf-8"><title>hearth infra</title></head>
<body>
<p id="out">not clicked</p>
<button id="go" onclick="document.getElementById('out').textContent = 'clicked'">Go</button>
</body></html>
"""


class _PageHandler(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)

    def log_message(self, format, *args):  # keep test output quiet
        pass


def test_postgres_select_version(postgres_url):
    import psycopg

    with psycopg.connect(postgres_url, connect_timeout=10) as conn:
        version = conn.execute("select version()").fetchone()[0]
        database = conn.execute("select current_database()").fetchone()[0]
    assert "PostgreSQL" in version
    assert database == "hearth_test"


def test_chromium_clicks_a_button(chromium_path):
    from playwright.sync_api import sync_playwright

    server = ThreadingHTTPServer(("127.0.0.1", 0), _PageHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        with sync_playwright() as p:
            browser = launch_chromium(p, chromium_path)
            try:
                page = browser.new_page()
                page.goto(url)
                assert page.text_content("#out") == "not clicked"
                page.click("#go")
                page.wait_for_function("document.getElementById('out').textContent === 'clicked'", timeout=5000)
                assert page.text_content("#out") == "clicked"
            finally:
                browser.close()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
