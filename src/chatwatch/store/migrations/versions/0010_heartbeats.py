"""Heartbeats and per-user usage: a partial index over the SDK's heartbeat events (the
app's processes), and LLM calls, tokens and cost per user and hour (per-user limits).

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
    op.create_table(
        "user_usage",
        sa.Column("hour", sa.BigInteger, primary_key=True),
        sa.Column("service", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.String(128), primary_key=True),
        sa.Column("calls", sa.BigInteger, nullable=False),
        sa.Column("tokens", sa.BigInteger, nullable=False),
        sa.Column("cost_usd", sa.Float, nullable=False),
    )
    op.create_index(
        "ix_events_heartbeat",
        "events",
        ["ts"],
        sqlite_where=_HEARTBEAT,
        postgresql_where=_HEARTBEAT,
    )


def downgrade() -> None:
    op.drop_index("ix_events_heartbeat", table_name="events")
    op.drop_table("user_usage")
