"""The migrations build exactly the schema the models declare, on SQLite and PostgreSQL
(indexes included: a partial index the hot queries rely on must exist after `migrate`)."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from hearth.storage.db import sync_database_url
from hearth.storage.models import Base


def test_migrated_schema_matches_the_models(db_url):
    engine = create_engine(sync_database_url(db_url))
    try:
        with engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
            indexes = {i["name"] for i in inspect(conn).get_indexes("events")}
            assert "ix_events_account_id_id_actions" in indexes
    finally:
        engine.dispose()
