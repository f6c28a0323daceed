"""Rollup-journal rows that failed to fold, kept aside; a one-row table /readyz writes.

Revision ID: 0006
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rollup_journal_quarantine",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("quarantined_at", sa.Float, nullable=False),
        sa.Column("events", sa.Integer, nullable=False),
        sa.Column("min_ts", sa.Float, nullable=False),
        sa.Column("delta", sa.LargeBinary, nullable=False),
        sa.Column("error", sa.String(128), nullable=False),
    )
    op.create_table(
        "readiness_probe",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("checked_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("readiness_probe")
    op.drop_table("rollup_journal_quarantine")
