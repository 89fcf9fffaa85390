"""SQLite's WAL checkpoints, moved off the request path.

By default the commit that grows the write-ahead log past 1000 pages runs the checkpoint itself:
it copies the logged pages into the database file and syncs it before the commit returns. Under
steady posting that was one write in ~100 waiting tens of milliseconds: the post endpoint's p99.
The app's connections raise that threshold to a fallback (`db.AUTOCHECKPOINT_PAGES`, for when no
checkpointer runs) and this thread checkpoints every `interval` seconds instead. PASSIVE mode
never waits for readers or writers; what they still use is copied on a later round."""

from __future__ import annotations

import logging
import sqlite3
import threading

from hearth.storage.db import sqlite_file

log = logging.getLogger(__name__)


class WalCheckpointer:
    def __init__(self, path: str, interval: float = 0.5):
        self.path, self.interval = path, interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.rounds = 0  # checkpoints run (tests read it)

    @classmethod
    def for_url(cls, url: str, interval: float = 0.5) -> WalCheckpointer | None:
        """One for a SQLite file database; None for PostgreSQL or an in-memory database."""
        path = sqlite_file(url)
        return cls(path, interval) if path is not None and "mode=memory" not in url else None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="hearth-wal-checkpoint", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        try:
            while not self._stop.wait(self.interval):
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    self.rounds += 1
                except sqlite3.Error as e:  # busy or gone: the next round tries again
                    log.warning("WAL checkpoint skipped: %s", e)
        finally:
            conn.close()
