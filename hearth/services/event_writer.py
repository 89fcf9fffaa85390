"""Writing buffered impressions off the request loop.

The ranked feed records an impression for every entry it serves: at 200 feeds a second a worker
buffers about 4,000 rows a second. Written by a task on the request loop, one flush held that loop
for 20-80 ms of SQLAlchemy's parameter processing once a second: the requests that arrived then
waited (the feed's p99). The writer flushes from its own thread, event loop and engine instead,
as the feed's refresher ranks: the interpreter then passes between it and the requests every few
milliseconds, and no request waits for a whole flush."""

from __future__ import annotations

import asyncio
import logging
import threading

from hearth.services.events import EventBuffer
from hearth.storage.db import make_engine, make_sessionmaker

log = logging.getLogger(__name__)


class EventWriter:
    """Flushes an `EventBuffer` every `every` seconds from a thread of its own, and once more on stop."""

    def __init__(self, buffer: EventBuffer, database_url: str, sqlite_synchronous: str = "full",
                 every: float = 1.0):
        self.buffer, self.database_url, self.sqlite_synchronous = buffer, database_url, sqlite_synchronous
        self.every = every
        self.failures = 0  # flushes that failed (their rows stayed buffered for the next one)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), name="hearth-event-writer",
                                            daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Flush what is left and end the thread (rows it could not write stay in the buffer)."""
        if self._thread is not None:
            self._stop.set()
            self._thread.join(timeout)
            self._thread = None

    async def _run(self) -> None:
        engine = make_engine(self.database_url, self.sqlite_synchronous)
        sessionmaker = make_sessionmaker(engine)
        try:
            while True:
                # Nothing else runs on this thread's loop, so waiting here blocks no one.
                stopping = self._stop.wait(self.every)
                try:
                    await self.buffer.flush(sessionmaker)
                except Exception:  # the database may be briefly unavailable; the rows stay buffered
                    self.failures += 1
                    log.exception("could not write buffered events; trying again in %.0f s", self.every)
                if stopping:
                    return
        finally:
            await engine.dispose()
