"""Rollup journal: ingest's rollup increments, committed with their events, folded later.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rollup_journal",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("events", sa.Integer, nullable=False),
        sa.Column("min_ts", sa.Float, nullable=False),
        sa.Column("delta", sa.LargeBinary, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("rollup_journal")
