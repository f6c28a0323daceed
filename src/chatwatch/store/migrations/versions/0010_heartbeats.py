"""Heartbeats: a partial index over the SDK's heartbeat events (the app's processes).

Revision ID: 0010
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0008"
branch_labels = None
depends_on = None

_HEARTBEAT = sa.text("type = 'heartbeat'")


def upgrade() -> None:
    op.create_index(
        "ix_events_heartbeat",
        "events",
        ["ts"],
        sqlite_where=_HEARTBEAT,
        postgresql_where=_HEARTBEAT,
    )


def downgrade() -> None:
    op.drop_index("ix_events_heartbeat", table_name="events")
