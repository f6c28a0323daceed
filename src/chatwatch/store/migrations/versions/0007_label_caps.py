"""Bounded cardinality: label values admitted to the rollups, and the overflow counts.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "label_values",
        sa.Column("label", sa.String(32), primary_key=True),
        sa.Column("value", sa.String(128), primary_key=True),
        sa.Column("first_seen", sa.Float, nullable=False),
    )
    op.create_table(
        "label_overflow",
        sa.Column("label", sa.String(32), primary_key=True),
        sa.Column("folded", sa.BigInteger, nullable=False),
        sa.Column("first_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("label_overflow")
    op.drop_table("label_values")
