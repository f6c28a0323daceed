"""OTLP spans kept to assemble traces that arrive over several exports.

Revision ID: 0009
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "otlp_spans",
        sa.Column("trace_id", sa.String(32), primary_key=True),
        sa.Column("span_id", sa.String(16), primary_key=True),
        sa.Column("parent_id", sa.String(16)),
        sa.Column("root", sa.Boolean, nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("model", sa.String(128)),
        sa.Column("start_ns", sa.BigInteger, nullable=False),
        sa.Column("end_ns", sa.BigInteger, nullable=False),
        sa.Column("session_id", sa.String(128)),
        sa.Column("user_id", sa.String(128)),
        sa.Column("event", sa.Text),
        sa.Column("root_info", sa.Text),
        sa.Column("emitted", sa.Boolean, nullable=False),
        sa.Column("turn_emitted", sa.Boolean, nullable=False),
        sa.Column("seen_at", sa.Float, nullable=False),
    )
    op.create_index("ix_otlp_spans_seen_at", "otlp_spans", ["seen_at"])
    op.create_index("ix_otlp_spans_emitted", "otlp_spans", ["emitted", "seen_at"])
    op.create_index("ix_otlp_spans_turn_emitted", "otlp_spans", ["turn_emitted", "seen_at"])


def downgrade() -> None:
    for name in ("ix_otlp_spans_turn_emitted", "ix_otlp_spans_emitted", "ix_otlp_spans_seen_at"):
        op.drop_index(name, "otlp_spans")
    op.drop_table("otlp_spans")
