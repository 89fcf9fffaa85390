"""SQLite with concurrent writers: a session that read and then writes fails at once with
"database is locked" when another connection committed in between (waiting cannot help); after
`begin_write` it waits its turn and succeeds. The write routes call it (mastodon/common.writer)."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError

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


async def test_a_read_then_write_after_someone_else_committed_is_refused_without_begin_write(tmp_path):
    engine, maker, ann = await _two_sessions(tmp_path)
    try:
        async with maker() as reader, maker() as other:
            await reader.scalar(select(Account.id))  # a read transaction begins
            await other.execute(update(Account).where(Account.id == ann).values(note="from the other"))
            await other.commit()
            with pytest.raises(OperationalError, match="locked"):
                await reader.execute(update(Account).where(Account.id == ann).values(note="mine"))
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
