"""Auth: key expiry and last use, wider key prefixes, session generations, attempt counters.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.alter_column("prefix", type_=sa.String(32), existing_nullable=False)
        batch.add_column(sa.Column("expires_at", sa.Float))
        batch.add_column(sa.Column("last_used_at", sa.Float))
    op.add_column(
        "users",
        sa.Column("session_generation", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_table(
        "auth_attempts",
        sa.Column("key", sa.String(96), primary_key=True),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("window_end", sa.Float, nullable=False),
        sa.Column("window_s", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("auth_attempts")
    op.drop_column("users", "session_generation")
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("last_used_at")
        batch.drop_column("expires_at")
        batch.alter_column("prefix", type_=sa.String(16), existing_nullable=False)
