"""Engines, sessions and migrations. SQLite (the default) runs in WAL mode with foreign keys
on; PostgreSQL is used when the URL says so. Alembic owns the schema.

SQLite and concurrent writers: a transaction that has read and then writes cannot take the
write lock if another connection committed since its read began (SQLITE_BUSY at once; waiting
cannot help), so a request that is going to write calls `begin_write` first: its read-only
transaction ends and the next begins with BEGIN IMMEDIATE, which waits its turn for the lock
(in short steps, without blocking the event loop: sqlite_inline.begin_immediate) instead of failing."""

from __future__ import annotations

from contextvars import ContextVar
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Executable, create_engine, event
from sqlalchemy.engine import Engine, Result, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.util import await_only

from hearth.settings import async_database_url, sync_database_url
from hearth.storage import sqlite_inline

MIGRATIONS = Path(__file__).parent / "migrations"
BUSY_TIMEOUT_S = 10.0  # how long a SQLite writer waits for the write lock before "database is locked"
AUTOCHECKPOINT_PAGES = 10_000  # a commit checkpoints the WAL itself only past this (~40 MB): wal_checkpoint.py


def _sqlite_pragmas(synchronous: str):  # noqa: ANN202 - an event listener
    def on_connect(dbapi_conn, _record) -> None:  # noqa: ANN001 - DB-API connection
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        # FULL (the default): a commit is on disk when it returns, an acknowledged post is durable;
        # NORMAL survives a crash of the process but may lose the last commits on power loss.
        cur.execute(f"PRAGMA synchronous={'NORMAL' if synchronous == 'normal' else 'FULL'}")
        cur.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
        cur.execute(f"PRAGMA wal_autocheckpoint={AUTOCHECKPOINT_PAGES}")
        cur.close()
    return on_connect


_WRITE_INTENT: ContextVar[bool] = ContextVar("hearth_sqlite_write_intent", default=False)


def _sqlite_begin(conn) -> None:  # noqa: ANN001 - a Connection
    """The first transaction after `begin_write` takes the write lock up front; later ones (the
    reads that render the answer) do not hold it. The isolation level is set only when it changes
    (the driver sets it in the connection's thread: a hand-over per transaction otherwise)."""
    dbapi_conn = conn.connection.dbapi_connection
    if _WRITE_INTENT.get():
        _WRITE_INTENT.set(False)
        if dbapi_conn.isolation_level is not None:
            dbapi_conn.isolation_level = None  # the driver's implicit BEGIN off for this one: ours instead
        driver: sqlite_inline.InlineReadsConnection = conn.connection.driver_connection
        await_only(driver.begin_immediate(BUSY_TIMEOUT_S))  # the event loop serves on while it waits
    elif dbapi_conn.isolation_level != "":
        dbapi_conn.isolation_level = ""  # the driver's own: BEGIN before the first write; reads see the newest commits


async def begin_write(db: AsyncSession) -> None:
    """Say that this request (this asyncio task) is about to write. On SQLite: end the session's
    read-only transaction and begin the next one IMMEDIATE. Nothing to do on PostgreSQL."""
    if db.bind is None or db.bind.dialect.name != "sqlite":
        return
    if db.in_transaction():
        await db.commit()
    _WRITE_INTENT.set(True)


async def core_execute(db: AsyncSession, statement: Executable, params: dict | None = None) -> Result:
    """A Core statement (plain columns, no ORM entities) on the session's connection, past the
    ORM's execution layer: about 0.1 ms less a statement, which the hot reads run several of.
    The session's pending changes are flushed first, as `db.execute` would."""
    if db.new or db.dirty or db.deleted:
        await db.flush()
    return await (await db.connection()).execute(statement, params)


def sqlite_file(url: str) -> str | None:
    """The database file of a SQLite URL; None for another database or an in-memory one."""
    u = make_url(url)
    if u.get_backend_name() == "sqlite" and u.database and u.database != ":memory:":
        return u.database
    return None


def _ensure_sqlite_folder(url: str) -> None:
    path = sqlite_file(url)
    if path is not None:
        Path(path).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)


def make_engine(url: str, sqlite_synchronous: str = "full") -> AsyncEngine:
    url = async_database_url(url)
    _ensure_sqlite_folder(url)
    sqlite = make_url(url).get_backend_name() == "sqlite"
    # on SQLite, quick reads skip aiosqlite's thread hand-over
    kwargs = {"module": sqlite_inline.dbapi()} if sqlite else {"pool_pre_ping": True}
    engine = create_async_engine(url, **kwargs)
    if sqlite:
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas(sqlite_synchronous))
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
    return engine


def make_sync_engine(url: str) -> Engine:
    url = sync_database_url(url)
    _ensure_sqlite_folder(url)
    engine = create_engine(url)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas("full"))
    return engine


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", sync_database_url(url).replace("%", "%%"))
    return cfg


def migrate(url: str) -> None:
    """Create the database if it is missing and bring its schema to the newest revision."""
    _ensure_sqlite_folder(sync_database_url(url))
    command.upgrade(alembic_config(url), "head")
