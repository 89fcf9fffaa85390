"""App fixtures: every database test runs on SQLite and on a real PostgreSQL (a fresh
database per test, dropped afterwards)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from hearth.settings import Settings
from hearth.storage.db import make_engine, make_sessionmaker, migrate
from tests.live_server import NO_RATE_LIMITS


def _fresh_postgres(base_url: str) -> Iterator[str]:
    import psycopg
    url = make_url(base_url)
    name = f"hearth_{uuid.uuid4().hex[:12]}"
    admin = url.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:  # noqa: ANN001
    """A migrated, empty database of each backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'hearth.db'}"
        migrate(url)
        yield url
        return
    gen = _fresh_postgres(request.getfixturevalue("postgres_url"))
    url = next(gen)
    migrate(url)
    yield url
    next(gen, None)


@pytest.fixture
def settings(db_url: str, tmp_path) -> Settings:  # noqa: ANN001
    return Settings(database_url=db_url, snapshot_dir=tmp_path / "snapshots", **NO_RATE_LIMITS)


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[AsyncSession]:
    engine = make_engine(db_url)
    async with make_sessionmaker(engine)() as session:
        yield session
    await engine.dispose()
