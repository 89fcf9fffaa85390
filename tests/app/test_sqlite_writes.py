"""SQLite with concurrent writers: plain reads keep no snapshot (a later write in the same session
is not refused), and after `begin_write` (the write routes call it, mastodon/common.writer) one
transaction takes the write lock up front and waits its turn; the reads after it do not hold it."""

from __future__ import annotations

from sqlalchemy import select, update

from hearth.services import accounts
from hearth.storage.db import begin_write, make_engine, make_sessionmaker, migrate
from hearth.storage.models import Account


async def _two_sessions(tmp_path):
    url = f"sqlite:///{tmp_path / 'w.db'}"
    migrate(url)
    engine = make_engine(url)
    maker = make_sessionmaker(engine)
    async with maker() as db:
        ann = await accounts.create_profile(db, "ann")
        await db.commit()
    return engine, maker, ann.id


async def test_reads_keep_no_snapshot_so_a_later_write_is_not_refused(tmp_path):
    engine, maker, ann = await _two_sessions(tmp_path)
    try:
        async with maker() as reader, maker() as other:
            await reader.scalar(select(Account.id))  # a read transaction begins
            await other.execute(update(Account).where(Account.id == ann).values(note="from the other"))
            await other.commit()
            # the driver begins at the first write, not at the read: sees the other's commit, takes the lock
            assert await reader.scalar(select(Account.note).where(Account.id == ann)) == "from the other"
            await reader.execute(update(Account).where(Account.id == ann).values(note="mine"))
            await reader.commit()
    finally:
        await engine.dispose()


async def test_begin_write_waits_its_turn_instead(tmp_path):
    engine, maker, ann = await _two_sessions(tmp_path)
    try:
        async with maker() as reader, maker() as other:
            await reader.scalar(select(Account.id))
            await other.execute(update(Account).where(Account.id == ann).values(note="from the other"))
            await other.commit()
            await begin_write(reader)
            await reader.execute(update(Account).where(Account.id == ann).values(note="mine"))
            await reader.commit()
            assert await other.scalar(select(Account.note).where(Account.id == ann)) == "mine"
            # only that one transaction held the write lock: reading on does not keep others waiting
            await reader.scalar(select(Account.id))
            await other.rollback()
            await other.execute(update(Account).where(Account.id == ann).values(note="no wait"))
            await other.commit()
    finally:
        await engine.dispose()


async def test_a_commit_is_durable_when_it_returns(tmp_path):
    """WAL with synchronous=FULL: an acknowledged write survives power loss, not only a crash."""
    from sqlalchemy import text
    url = f"sqlite:///{tmp_path / 'h.db'}"
    migrate(url)
    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as db:
            assert (await db.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
            assert (await db.execute(text("PRAGMA synchronous"))).scalar() == 2  # FULL
    finally:
        await engine.dispose()
    lighter = make_engine(url, "normal")  # HEARTH_SQLITE_SYNCHRONOUS=normal: the operator's choice
    try:
        async with make_sessionmaker(lighter)() as db:
            assert (await db.execute(text("PRAGMA synchronous"))).scalar() == 1
    finally:
        await lighter.dispose()


async def test_a_writer_waits_for_a_held_lock_then_writes_or_gives_up_at_the_timeout(tmp_path, monkeypatch):
    """begin_write's BEGIN IMMEDIATE polls for the lock without blocking the event loop: it waits
    while another connection writes, goes on once that commits, restores the busy timeout, and
    says "database is locked" only after BUSY_TIMEOUT_S."""
    import asyncio
    import sqlite3
    import threading
    import time

    from sqlalchemy import text
    from sqlalchemy.exc import OperationalError

    from hearth.storage import db as storage_db
    engine, maker, ann = await _two_sessions(tmp_path)
    try:
        async with maker() as holder, maker() as writer:
            await holder.execute(update(Account).where(Account.id == ann).values(note="holder"))  # holds the lock
            await begin_write(writer)
            slept_on: list[int] = []
            real_sleep = time.sleep
            monkeypatch.setattr(time, "sleep", lambda s: slept_on.append(threading.get_ident()) or real_sleep(s))
            waiting = asyncio.ensure_future(writer.execute(update(Account).where(Account.id == ann).values(note="w")))
            await asyncio.sleep(0.3)
            assert not waiting.done()  # still waiting, not failed
            # ... without blocking the event loop's thread: it never slept meanwhile
            assert threading.get_ident() not in slept_on
            monkeypatch.setattr(time, "sleep", real_sleep)
            await holder.commit()
            await waiting
            await writer.commit()
            assert await holder.scalar(select(Account.note).where(Account.id == ann)) == "w"
            assert (await writer.execute(text("PRAGMA busy_timeout"))).scalar() == 10_000
            await writer.rollback()

            monkeypatch.setattr(storage_db, "BUSY_TIMEOUT_S", 0.2)
            await holder.rollback()
            await holder.execute(update(Account).where(Account.id == ann).values(note="again"))
            await begin_write(writer)
            try:
                await writer.execute(update(Account).where(Account.id == ann).values(note="late"))
                raise AssertionError("the write should have given up")
            except (OperationalError, sqlite3.OperationalError) as e:  # raised while beginning: the driver's own
                assert "locked" in str(e)
            await holder.commit()
    finally:
        await engine.dispose()
