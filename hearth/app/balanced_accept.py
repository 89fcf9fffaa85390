"""Spread a client's few keep-alive connections evenly over the worker processes.

Several workers accept from one listening socket. A burst of new connections (a client or a
proxy opening its keep-alive pool) wakes them all, and the first to run accepts every waiting
one; a keep-alive connection then stays with the worker that accepted it. With 4 connections and
2 workers a 4:0 split was about as common as 2:2, and it halves what the server can do: one
worker has all the work, the other core idles.

uvicorn builds a connection's protocol inside the worker's accept loop (libuv accepts, then
calls back for each connection before it accepts the next). So a worker that already holds
connections pauses there for a moment when a burst arrives, longer the more it holds, and a
worker with fewer, woken by the same burst, accepts the next ones meanwhile (nginx's accept mutex
does the same job). The pause applies only within a burst (a connection accepted within BURST_S
of the worker's previous one: a lone new connection never waits) and only while a worker holds
few connections (with many, chance spreads them evenly), and never exceeds MAX_PAUSE_S. `hearth
serve` uses this protocol only with several workers."""

from __future__ import annotations

import time
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

PAUSE_PER_CONNECTION_S = 0.003  # per connection this worker already holds
MAX_PAUSE_S = 0.01
FEW_CONNECTIONS = 16  # holding this many or more, a worker does not pause
BURST_S = 0.05  # a connection accepted this soon after the worker's previous one is part of a burst


class BalancedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, counting this worker's open connections (see the module)."""

    open_connections = 0  # in this worker process
    last_accepted = 0.0  # time.monotonic() of this worker's latest new connection

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        cls = BalancedHttpToolsProtocol
        held, now = cls.open_connections, time.monotonic()
        in_burst = now - cls.last_accepted < BURST_S
        cls.open_connections += 1
        cls.last_accepted = now
        self._counted = True
        if in_burst and 0 < held < FEW_CONNECTIONS:
            time.sleep(min(MAX_PAUSE_S, PAUSE_PER_CONNECTION_S * held))  # the other worker accepts meanwhile

    def connection_lost(self, exc: Exception | None) -> None:
        if self._counted:
            self._counted = False
            BalancedHttpToolsProtocol.open_connections -= 1
        super().connection_lost(exc)
