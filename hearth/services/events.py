"""Appending to the event log. Actions add their event in their own transaction (the log
never disagrees with the tables); feed impressions, which are many, go through a buffer
that is flushed in batches (by `EventWriter`'s thread while serving)."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hearth.events import VERB_INDEX
from hearth.storage.db import begin_write
from hearth.storage.event_rows import insert_events
from hearth.storage.models import EventRow, utcnow


def record(db: AsyncSession, account_id: int, verb: str, target_kind: str, target_id: int,
           value: float = 1.0, context: Mapping[str, Any] | None = None, ts: datetime | None = None) -> None:
    """Add an event to the session's transaction (committed with the action it describes)."""
    if verb not in VERB_INDEX:
        raise ValueError(f"unknown verb {verb!r}")
    if target_kind not in ("item", "account"):
        raise ValueError(f"target kind must be item or account, not {target_kind!r}")
    db.add(EventRow(account_id=account_id, verb=verb, target_kind=target_kind, target_id=target_id,
                    value=value, context=dict(context or {}), ts=ts or utcnow()))


class EventBuffer:
    """Impressions and dwell times collected in memory and written in one INSERT per flush.
    Requests add on the event loop's thread and the writer flushes on its own, so rows change
    hands under a thread lock; two flushes never write the same row."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], max_rows: int = 2000):
        self.sessionmaker = sessionmaker
        self.max_rows = max_rows
        self.rows: list[dict[str, Any]] = []
        self._guard = threading.Lock()

    def add(self, account_id: int, verb: str, target_kind: str, target_id: int, value: float = 1.0,
            context: Mapping[str, Any] | None = None) -> None:
        if verb not in VERB_INDEX:
            raise ValueError(f"unknown verb {verb!r}")
        row = {"account_id": account_id, "verb": verb, "target_kind": target_kind, "target_id": target_id,
               "value": value, "context": dict(context or {}), "ts": utcnow()}
        with self._guard:
            self.rows.append(row)

    @property
    def full(self) -> bool:
        return len(self.rows) >= self.max_rows

    async def flush(self, sessionmaker: async_sessionmaker[AsyncSession] | None = None) -> int:
        """Write what is buffered now (through `sessionmaker`, on its loop, when given); on an
        error the rows go back to the front of the buffer for the next flush."""
        with self._guard:
            rows, self.rows = self.rows, []
        if not rows:
            return 0
        try:
            async with (sessionmaker or self.sessionmaker)() as db:
                await begin_write(db)  # takes its turn for SQLite's write lock like any writer
                await insert_events(db, rows)  # one driver call (SQLAlchemy's executemany: 4x the CPU)
                await db.commit()
        except Exception:
            with self._guard:
                self.rows[:0] = rows
            raise
        return len(rows)
