"""A session's events found through ``event_sessions`` (filled by the journal fold)
instead of an index on ``events`` that every ingest commit had to update.

Revision ID: 0012
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "event_sessions",
        sa.Column("service", sa.String(64), primary_key=True),
        sa.Column("session_id", sa.String(128), primary_key=True),
        sa.Column("ts", sa.Float, primary_key=True),
        sa.Column("id", sa.String(64), primary_key=True),
        sqlite_with_rowid=False,
    )
    op.execute(
        "INSERT INTO event_sessions (service, session_id, ts, id)"
        " SELECT service, session_id, ts, id FROM events WHERE session_id IS NOT NULL"
    )
    op.drop_index("ix_events_session", table_name="events")


def downgrade() -> None:
    op.create_index("ix_events_session", "events", ["service", "session_id"])
    op.drop_table("event_sessions")
