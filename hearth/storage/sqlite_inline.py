"""aiosqlite, with quick statements run on the event loop's own thread.

aiosqlite runs every call of a connection in that connection's thread and waits for the answer:
about 0.1 ms of hand-over per call, and SQLAlchemy makes four calls per query (cursor, execute,
fetch, close). A hot request's reads take 0.02-0.2 ms each in SQLite itself, so most of their cost
was the hand-over; and a writer holds SQLite's one write lock across every hand-over of its
transaction, so they also capped how many writes a second the database takes.

Run at once on the calling thread:
- a SELECT whose SQL text has been quick before (under `QUICK_S` for execute + fetch, measured in
  either place). Reads never wait for a lock in WAL mode, so this cannot stall the loop on another
  connection's writes;
- BEGIN IMMEDIATE after `db.begin_write` (`begin_immediate`: tried without waiting, the loop
  serving on between tries), and every statement of a transaction that holds the write lock
  (after that, or after its first write): it cannot wait for the lock, it does not fsync, and
  the lock is then held for CPU time only, never across event-loop turns;
- cursor bookkeeping, and a commit or rollback with nothing to write.
Everything else still goes to the thread: a transaction's first write (it may wait for the lock),
a commit that writes (fsync), statements not seen yet or seen to be slow (a search's scan keeps the
loop free for other requests). A connection is used by one coroutine at a time (SQLAlchemy holds a
mutex per connection), so a call here never overlaps one in the thread."""

from __future__ import annotations

import asyncio
import re
import sqlite3
import time
import types
import weakref
from typing import Any

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import AsyncAdapt_aiosqlite_dbapi

QUICK_S = 0.001  # a SELECT that took less than this (execute + fetch) runs inline next time
INLINE_ROWS_MAX = 50  # an executemany of more rows runs in the thread, even under the write lock
MAX_STATEMENTS = 10_000  # SQL texts remembered (IN lists of each length are their own text)
_cost: dict[str, float] = {}  # SQL text -> seconds, shared by the process's connections
_writers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()
_FETCH = frozenset({"fetchall", "fetchone", "fetchmany"})
_TAKES_LOCK = re.compile(r"\s*(INSERT|UPDATE|DELETE|REPLACE|BEGIN\s+(IMMEDIATE|EXCLUSIVE))\b", re.IGNORECASE)


def _is_select(sql: Any) -> bool:
    return isinstance(sql, str) and sql.lstrip()[:6].upper() == "SELECT"


def _remember(sql: str, seconds: float) -> None:
    """Slow news wins at once; a quick run halves the remembered cost."""
    if len(_cost) >= MAX_STATEMENTS:
        _cost.clear()
    old = _cost.get(sql)
    _cost[sql] = seconds if old is None or seconds > old else (old + seconds) / 2


class InlineReadsConnection(aiosqlite.Connection):
    """An aiosqlite connection that runs quick reads, writes under a held lock and cheap
    bookkeeping calls inline."""

    _sql: str | None = None  # the SELECT the connection's cursor last executed (None: not a SELECT)
    _inline = False  # whether it ran inline (its rows are fetched the same way)
    _spent = 0.0  # seconds it has taken so far (execute, then fetch)
    _locked = False  # this connection's transaction holds the write lock
    _turn: asyncio.Lock | None = None  # this process's writers' turn, while this connection has it

    async def _execute(self, fn, *args: Any, **kwargs: Any) -> Any:  # noqa: ANN001 - a bound method
        name = getattr(fn, "__name__", "")
        owner = getattr(fn, "__self__", None)
        conn = self._connection
        if not self._running or conn is None:
            return await super()._execute(fn, *args, **kwargs)  # aiosqlite's own error for a closed connection
        if self._locked and not conn.in_transaction:
            self._locked = False
        if isinstance(owner, sqlite3.Cursor) and name in ("execute", "executemany"):
            sql = args[0] if args else ""
            self._spent = 0.0
            self._sql = sql if name == "execute" and _is_select(sql) else None
            if self._sql is not None:  # under the write lock, inline however slow: the lock is not held across turns
                self._inline = self._locked or _cost.get(self._sql, QUICK_S) < QUICK_S
                return await self._measured(fn, *args, **kwargs)
            # A bulk insert (the impressions' flush) goes to the thread even under the lock: the
            # loop serves others while the thread works on it.
            rows = args[1] if name == "executemany" and len(args) > 1 else ()
            self._inline = self._locked and (not isinstance(rows, list | tuple) or len(rows) <= INLINE_ROWS_MAX)
            if self._inline:
                return fn(*args, **kwargs)
            result = await super()._execute(fn, *args, **kwargs)
            self._locked = _TAKES_LOCK.match(sql) is not None and conn.in_transaction
            return result
        if isinstance(owner, sqlite3.Cursor) and name in _FETCH:
            if self._sql is not None:
                return await self._measured(fn, *args, **kwargs)
            return fn(*args, **kwargs) if self._inline else await super()._execute(fn, *args, **kwargs)
        if (isinstance(owner, sqlite3.Cursor) and name == "close") or name == "cursor":
            return fn(*args, **kwargs)
        if name in ("commit", "rollback") and owner is conn:
            self._locked = False
            self._end_turn()
            if not conn.in_transaction:  # nothing to write: no lock, no fsync
                return fn(*args, **kwargs)
        return await super()._execute(fn, *args, **kwargs)

    async def begin_immediate(self, timeout: float) -> None:
        """BEGIN IMMEDIATE, run inline: the write lock is taken while this coroutine runs, and the
        statements after it run inline too, so the lock is held for their CPU time and the commit's
        fsync, never across event-loop turns (taken in the thread, it was held until the loop got
        back to the request, tens of ms on a busy worker). While another connection holds it, the
        loop serves on between tries (asyncio.sleep, steps of at most 2 ms: SQLite's own busy
        handler backs off to 100 ms sleeps, and blocks). The process's writers take turns first
        (an asyncio.Lock per loop), so one of them polls; "database is locked" after `timeout`."""
        conn = self._connection
        if conn is None:
            return await super()._execute(lambda: None)  # aiosqlite's own error for a closed connection
        deadline = time.monotonic() + timeout
        turn = _writers.setdefault(asyncio.get_running_loop(), asyncio.Lock())
        try:
            await asyncio.wait_for(turn.acquire(), timeout)
        except TimeoutError:
            raise sqlite3.OperationalError("database is locked") from None
        self._turn = turn
        busy = conn.execute("PRAGMA busy_timeout").fetchone()[0]
        conn.execute("PRAGMA busy_timeout=0")
        try:
            pause = 0.0002
            while True:
                try:
                    conn.execute("BEGIN IMMEDIATE")
                    self._locked = True
                    return
                except sqlite3.OperationalError as e:
                    if "locked" not in str(e) or time.monotonic() > deadline:
                        raise
                await asyncio.sleep(pause)
                pause = min(0.002, pause * 2)
        except BaseException:
            self._end_turn()
            raise
        finally:
            conn.execute(f"PRAGMA busy_timeout={int(busy)}")

    def _end_turn(self) -> None:
        """The next writer of this process may try for the lock (this one commits or gives up)."""
        turn, self._turn = self._turn, None
        if turn is not None and turn.locked():
            turn.release()

    async def close(self) -> None:
        self._end_turn()
        await super().close()

    async def _measured(self, fn, *args: Any, **kwargs: Any) -> Any:  # noqa: ANN001 - a bound method
        """A SELECT's execute or fetch, timed where it runs; its SQL text's cost is updated."""
        if self._inline:
            start = time.perf_counter()
            result = fn(*args, **kwargs)
            seconds = time.perf_counter() - start
        else:
            result, seconds = await super()._execute(_timed, fn, *args, **kwargs)
        self._spent += seconds
        _remember(self._sql, self._spent)  # type: ignore[arg-type] - only SELECTs are measured
        return result


def _timed(fn, *args: Any, **kwargs: Any) -> tuple[Any, float]:  # noqa: ANN001 - a bound method
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - start


def _connect(database: Any, *, iter_chunk_size: int = 64, **kwargs: Any) -> InlineReadsConnection:
    """aiosqlite.connect's twin; the connection may be used from the loop's thread too."""
    kwargs["check_same_thread"] = False

    def connector() -> sqlite3.Connection:
        return sqlite3.connect(database if isinstance(database, str) else str(database), **kwargs)

    return InlineReadsConnection(connector, iter_chunk_size)


def dbapi() -> AsyncAdapt_aiosqlite_dbapi:
    """The DB-API module for `create_async_engine(..., module=dbapi())` on sqlite+aiosqlite URLs."""
    shim = types.ModuleType("hearth_aiosqlite")
    shim.__dict__.update({k: v for k, v in vars(aiosqlite).items() if not k.startswith("__")})
    shim.connect = _connect
    shim.Connection = InlineReadsConnection
    return AsyncAdapt_aiosqlite_dbapi(shim, sqlite3)
