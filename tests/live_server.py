"""A real uvicorn server on a free loopback port in a background thread, for tests that need
real HTTP (streaming, disconnects, command-line clients)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

import uvicorn
from fastapi import FastAPI

# Tests make many requests from one address: the app's rate limits (tested on their own) are off.
NO_RATE_LIMITS = {"rate_limit_writes_per_user": "", "rate_limit_writes_per_ip": "", "rate_limit_logins_per_ip": "",
                  "rate_limit_logins_per_account": ""}


@contextlib.contextmanager
def serve_app(app: FastAPI, timeout: float = 60) -> Iterator[str]:
    """Yield the server's base URL (http://127.0.0.1:PORT); stop it on exit."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, name="hearth-live-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=timeout)
