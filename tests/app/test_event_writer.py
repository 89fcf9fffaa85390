"""Buffered impressions written from the writer's own thread: none lost, none written twice,
rows kept when the database refuses them, the rest written on stop."""

from __future__ import annotations

import threading
import time

from sqlalchemy import func, select

from hearth.services import accounts
from hearth.services.event_writer import EventWriter
from hearth.services.events import EventBuffer
from hearth.storage.db import make_engine, make_sessionmaker, migrate
from hearth.storage.models import EventRow


async def _written(db_url: str) -> list[int]:
    engine = make_engine(db_url)
    try:
        async with make_sessionmaker(engine)() as db:
            return list((await db.scalars(select(EventRow.target_id).where(EventRow.verb == "impression"))).all())
    finally:
        await engine.dispose()


async def _viewer(db_url: str) -> int:
    """An account for the events to belong to (the log's rows point at their account)."""
    engine = make_engine(db_url)
    try:
        async with make_sessionmaker(engine)() as db:
            account = await accounts.create_profile(db, "viewer")
            await db.commit()
            return account.id
    finally:
        await engine.dispose()


def _add(buffer: EventBuffer, viewer: int, ids: range) -> None:
    for i in ids:
        buffer.add(viewer, "impression", "item", i, context={"surface": "for_you", "served": True})


async def test_rows_added_while_the_writer_flushes_are_each_written_once(db_url):
    viewer = await _viewer(db_url)
    engine = make_engine(db_url)
    buffer = EventBuffer(make_sessionmaker(engine))
    writer = EventWriter(buffer, db_url, every=0.02)  # flushes often, so adds and flushes overlap
    writer.start()
    adders = [threading.Thread(target=_add, args=(buffer, viewer, range(k * 1000, (k + 1) * 1000))) for k in range(3)]
    for t in adders:
        t.start()
    _add(buffer, viewer, range(3000, 4000))
    for t in adders:
        t.join()
    deadline = time.monotonic() + 10
    while buffer.rows and time.monotonic() < deadline:  # the writer takes them without being stopped
        time.sleep(0.02)
    assert not buffer.rows
    writer.stop()
    await engine.dispose()
    written = await _written(db_url)
    assert sorted(written) == list(range(4000))
    assert writer.failures == 0


async def test_stop_writes_what_is_left(db_url):
    viewer = await _viewer(db_url)
    engine = make_engine(db_url)
    buffer = EventBuffer(make_sessionmaker(engine))
    writer = EventWriter(buffer, db_url, every=3600)  # never on the clock: only the stop flushes
    writer.start()
    _add(buffer, viewer, range(5))
    writer.stop()
    await engine.dispose()
    assert sorted(await _written(db_url)) == list(range(5)) and not buffer.rows


async def test_rows_the_database_refuses_stay_buffered_until_it_takes_them(tmp_path):
    url = f"sqlite:///{tmp_path / 'later.db'}"  # no tables yet: every flush fails
    engine = make_engine(url)
    buffer = EventBuffer(make_sessionmaker(engine))
    writer = EventWriter(buffer, url, every=0.05)
    writer.start()
    _add(buffer, 1, range(10))  # the first account the database will hold
    deadline = time.monotonic() + 10
    while writer.failures < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert writer.failures >= 2 and sorted(r["target_id"] for r in buffer.rows) == list(range(10))
    migrate(url)  # the database comes back: the next flush writes them, and the writer is still running
    assert await _viewer(url) == 1
    _add(buffer, 1, range(10, 12))
    deadline = time.monotonic() + 10
    while buffer.rows and time.monotonic() < deadline:
        time.sleep(0.02)
    writer.stop()
    await engine.dispose()
    assert sorted(await _written(url)) == list(range(12))


async def test_the_served_app_writes_impressions_without_being_asked(db_url, tmp_path):
    """A file or server database: the app starts the writer with its lifespan."""
    from fastapi.testclient import TestClient

    from hearth.app.main import create_app
    from hearth.settings import Settings

    viewer = await _viewer(db_url)
    app = create_app(Settings(database_url=db_url, snapshot_dir=tmp_path / "snapshots"))
    with TestClient(app):
        _add(app.state.events, viewer, range(3))
        deadline = time.monotonic() + 10
        while app.state.events.rows and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not app.state.events.rows  # taken by the writer while the app serves
    engine = make_engine(db_url)
    async with make_sessionmaker(engine)() as db:
        assert await db.scalar(select(func.count()).select_from(EventRow).where(EventRow.verb == "impression")) == 3
    await engine.dispose()


async def test_buffered_rows_read_back_as_rows_written_through_the_orm(db_url):
    """The driver-level insert stores what the ORM would: the same time (to the microsecond, as
    UTC), value and context, in the same stored form."""
    from datetime import UTC, datetime, timedelta, timezone

    from sqlalchemy import text

    from hearth.services.events import record

    viewer = await _viewer(db_url)
    when = datetime(2026, 12, 7, 17, 30, 5, 120034, tzinfo=timezone(timedelta(hours=2)))  # not UTC on purpose
    on_the_second = datetime(2026, 12, 7, 18, 0, 0, tzinfo=UTC)  # no microseconds to drop
    context = {"surface": "for_you", "source": "following", "served": True, "note": "é \"quoted\""}
    engine = make_engine(db_url)
    sessionmaker = make_sessionmaker(engine)
    async with sessionmaker() as db:
        for target, ts in ((1, when), (2, on_the_second)):
            record(db, viewer, "impression", "item", target, value=0.5, context=context, ts=ts)
        await db.commit()
    buffer = EventBuffer(sessionmaker)
    for target, ts in ((11, when), (12, on_the_second)):
        buffer.add(viewer, "impression", "item", target, value=0.5, context=context)
        buffer.rows[-1]["ts"] = ts
    assert await buffer.flush() == 2
    async with sessionmaker() as db:
        got = {r.target_id: r for r in (await db.scalars(select(EventRow))).all()}
        stored = dict((await db.execute(text("SELECT target_id, CAST(ts AS TEXT) FROM events"))).all())
    await engine.dispose()
    for orm, fast in ((1, 11), (2, 12)):
        a, b = got[orm], got[fast]
        assert (a.account_id, a.verb, a.target_kind, a.value, a.context) == (
            b.account_id, b.verb, b.target_kind, b.value, b.context)
        assert a.ts == b.ts and a.ts.tzinfo is not None
        assert stored[orm] == stored[fast]
    assert got[11].ts == when and got[12].ts == on_the_second
