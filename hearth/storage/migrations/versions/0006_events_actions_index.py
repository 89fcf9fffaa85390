"""a partial index of the events that are actions (the viewer's latest action)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 13:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACTIONS = "verb NOT IN ('impression', 'dwell')"  # hearth.storage.models.ACTION_VERBS_SQL when written


def upgrade() -> None:
    op.create_index('ix_events_account_id_id_actions', 'events', ['account_id', 'id'], unique=False,
                    sqlite_where=sa.text(ACTIONS), postgresql_where=sa.text(ACTIONS))


def downgrade() -> None:
    op.drop_index('ix_events_account_id_id_actions', table_name='events')
