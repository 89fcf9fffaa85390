"""Quick SQLite reads, and writes under a held write lock, run on the event loop's thread; a
transaction's first write, unseen and slow statements still run in aiosqlite's connection thread
(hearth/storage/sqlite_inline.py). A SQL function that answers with the thread it ran in shows
where each statement ran. And the thread that checkpoints the WAL in their place."""

from __future__ import annotations

import threading
import time

from sqlalchemy import event, text

from hearth.storage import sqlite_inline
from hearth.storage.db import make_engine


def _engine(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'inline.db'}")

    @event.listens_for(engine.sync_engine, "connect")
    def _functions(dbapi_conn, _record) -> None:  # noqa: ANN001 - DB-API connection
        dbapi_conn.create_function("tid", 0, threading.get_ident)
        dbapi_conn.create_function("nap", 1, lambda ms: time.sleep(ms / 1000) or ms)
    return engine


async def test_a_select_runs_inline_once_it_was_seen_to_be_quick(tmp_path):
    engine = _engine(tmp_path)
    here = threading.get_ident()
    try:
        async with engine.connect() as conn:
            first = await conn.scalar(text("SELECT tid() AS quick_one"))
            second = await conn.scalar(text("SELECT tid() AS quick_one"))
            assert first != here  # not seen yet: the connection's thread measures it
            assert second == here
    finally:
        await engine.dispose()


async def test_a_first_write_and_slow_reads_stay_in_the_connection_thread(tmp_path):
    engine = _engine(tmp_path)
    here = threading.get_ident()
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (n INTEGER, tid INTEGER)"))
        for txn in range(2):
            async with engine.begin() as conn:
                for n in range(3):
                    await conn.execute(text("INSERT INTO t VALUES (:n, tid())"), {"n": 10 * txn + n})
        async with engine.connect() as conn:
            ran = [tid == here for tid in await conn.scalars(text("SELECT tid FROM t ORDER BY n"))]
            # a transaction's first write may wait for the lock: in the thread; then it holds the lock
            assert ran == [False, True, True] * 2
            slow = [await conn.scalar(text("SELECT tid() AS slow_one WHERE nap(:ms) > 0"), {"ms": 5})
                    for _ in range(3)]
            assert here not in slow  # 5 ms > QUICK_S: kept off the loop
            assert sqlite_inline.QUICK_S < 0.005
    finally:
        await engine.dispose()


async def test_a_statement_seen_slow_again_goes_back_to_the_thread(tmp_path):
    engine = _engine(tmp_path)
    here = threading.get_ident()
    sql = text("SELECT tid() AS sometimes_slow WHERE nap(:ms) >= 0")
    try:
        async with engine.connect() as conn:
            assert await conn.scalar(sql, {"ms": 0}) != here
            assert await conn.scalar(sql, {"ms": 0}) == here
            assert await conn.scalar(sql, {"ms": 20}) == here  # ran inline, measured slow...
            assert await conn.scalar(sql, {"ms": 0}) != here  # ...so the next run is in the thread
    finally:
        await engine.dispose()


async def test_after_begin_write_the_lock_is_taken_inline_and_the_process_writers_take_turns(tmp_path):
    """begin_write's BEGIN IMMEDIATE and every statement after it, slow reads too, run on the
    loop's thread (the lock is never held across event-loop turns); a second writer of the
    process waits its turn, and gets it when the first commits, rolls back or gives up."""
    import asyncio

    from sqlalchemy import select, update

    from hearth.services import accounts
    from hearth.storage.db import begin_write, make_sessionmaker, migrate
    from hearth.storage.models import Account
    url = f"sqlite:///{tmp_path / 'turns.db'}"
    migrate(url)
    engine = make_engine(url)

    traced: list[str] = []

    @event.listens_for(engine.sync_engine, "connect")
    def _functions(dbapi_conn, _record) -> None:  # noqa: ANN001 - DB-API connection
        dbapi_conn.create_function("tid", 0, threading.get_ident)
        dbapi_conn.create_function("nap", 1, lambda ms: time.sleep(ms / 1000) or ms)
        dbapi_conn.driver_connection._conn.set_trace_callback(traced.append)
    maker = make_sessionmaker(engine)
    here = threading.get_ident()
    try:
        async with maker() as db:
            ann = (await accounts.create_profile(db, "ann")).id
            await db.commit()
        async with maker() as first, maker() as second:
            await begin_write(first)
            slow = await first.scalar(text("SELECT tid() AS under_lock WHERE nap(5) > 0"))
            assert slow == here  # 5 ms, yet inline: the transaction holds the write lock
            await first.execute(update(Account).where(Account.id == ann).values(note="first"))
            await begin_write(second)
            tries = traced.count("BEGIN IMMEDIATE")
            waiting = asyncio.ensure_future(second.execute(update(Account).where(Account.id == ann)
                                                           .values(note="second")))
            await asyncio.sleep(0.1)
            assert not waiting.done()  # its turn comes after the first writer's: no polling meanwhile
            assert traced.count("BEGIN IMMEDIATE") == tries
            await first.commit()
            await waiting
            await second.rollback()  # giving up ends the turn too
            await begin_write(first)
            await first.execute(update(Account).where(Account.id == ann).values(note="third"))
            await first.commit()
            assert await second.scalar(select(Account.note).where(Account.id == ann)) == "third"
    finally:
        await engine.dispose()


async def test_a_bulk_insert_under_the_lock_runs_in_the_thread_and_a_small_one_inline(tmp_path):
    """The impressions' flush (thousands of rows) must not hold up the loop; a request's few rows
    under the write lock run inline."""
    engine = _engine(tmp_path)
    here = threading.get_ident()
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (n INTEGER, tid INTEGER)"))
            await conn.execute(text("INSERT INTO t VALUES (-1, tid())"))  # the first write: now it holds the lock
            await conn.execute(text("INSERT INTO t VALUES (:n, tid())"), [{"n": n} for n in range(5)])
            many = sqlite_inline.INLINE_ROWS_MAX + 1
            await conn.execute(text("INSERT INTO t VALUES (:n, tid())"), [{"n": 100 + n} for n in range(many)])
        async with engine.connect() as conn:
            small = set(await conn.scalars(text("SELECT tid FROM t WHERE n BETWEEN 0 AND 4")))
            bulk = set(await conn.scalars(text("SELECT tid FROM t WHERE n >= 100")))
            assert small == {here} and here not in bulk
    finally:
        await engine.dispose()


def test_the_checkpointer_copies_the_wal_into_the_database_file(tmp_path):
    """With the app's commits no longer checkpointing (until AUTOCHECKPOINT_PAGES), the
    checkpointer thread moves what they logged into the database file itself."""
    import shutil
    import sqlite3

    from hearth.storage.wal_checkpoint import WalCheckpointer

    path = tmp_path / "c.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA wal_autocheckpoint=0")
    conn.execute("CREATE TABLE t (n INTEGER)")
    conn.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(100)])
    checkpointer = WalCheckpointer.for_url(f"sqlite+aiosqlite:///{path}", interval=0.05)
    checkpointer.start()
    deadline = time.monotonic() + 10
    while checkpointer.rounds < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    checkpointer.stop()
    shutil.copy(path, tmp_path / "alone.db")  # the database file without its -wal
    assert sqlite3.connect(tmp_path / "alone.db").execute("SELECT count(*) FROM t").fetchone() == (100,)
    conn.close()
    assert WalCheckpointer.for_url("postgresql://u@127.0.0.1/db") is None
    assert WalCheckpointer.for_url("sqlite:///:memory:") is None
