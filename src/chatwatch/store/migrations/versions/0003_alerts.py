"""Alerts: states per rule and label set, transition history, silences, outbox.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alert_states",
        sa.Column("rule", sa.String(128), primary_key=True),
        sa.Column("fingerprint", sa.String(32), primary_key=True),
        sa.Column("labels", sa.Text, nullable=False),
        sa.Column("annotations", sa.Text, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("level", sa.String(16)),
        sa.Column("value", sa.Float),
        sa.Column("threshold", sa.Float),
        sa.Column("unit", sa.String(16)),
        sa.Column("active_since", sa.Float),
        sa.Column("fired_at", sa.Float),
        sa.Column("resolved_at", sa.Float),
        sa.Column("evaluated_at", sa.Float, nullable=False),
        sa.Column("last_active_at", sa.Float),
        sa.Column("last_critical_at", sa.Float),
        sa.Column("notified_at", sa.Float),
        sa.Column("notified_level", sa.String(16)),
    )
    op.create_index("ix_alert_states_state", "alert_states", ["state"])
    op.create_table(
        "alert_history",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("ts", sa.Float, nullable=False),
        sa.Column("rule", sa.String(128), nullable=False),
        sa.Column("fingerprint", sa.String(32), nullable=False),
        sa.Column("labels", sa.Text, nullable=False),
        sa.Column("from_state", sa.String(16), nullable=False),
        sa.Column("to_state", sa.String(16), nullable=False),
        sa.Column("from_level", sa.String(16)),
        sa.Column("level", sa.String(16)),
        sa.Column("value", sa.Float),
        sa.Column("threshold", sa.Float),
    )
    op.create_index("ix_alert_history_ts", "alert_history", ["ts"])
    op.create_index("ix_alert_history_rule_ts", "alert_history", ["rule", "ts"])
    op.create_table(
        "alert_silences",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("matchers", sa.Text, nullable=False),
        sa.Column("starts_at", sa.Float, nullable=False),
        sa.Column("ends_at", sa.Float, nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("comment", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("ix_alert_silences_ends_at", "alert_silences", ["ends_at"])
    op.create_table(
        "alert_outbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("rule", sa.String(128), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.Float, nullable=False),
        sa.Column("sent_at", sa.Float),
        sa.Column("failed_at", sa.Float),
        sa.Column("last_error", sa.Text),
    )
    op.create_index(
        "ix_alert_outbox_due", "alert_outbox", ["sent_at", "failed_at", "next_attempt_at"]
    )


def downgrade() -> None:
    op.drop_table("alert_outbox")
    op.drop_table("alert_silences")
    op.drop_table("alert_history")
    op.drop_table("alert_states")
