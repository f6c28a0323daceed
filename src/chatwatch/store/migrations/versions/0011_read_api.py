"""Read API: sessions keep the time chatwatch first recorded them (the key pages are cut
at, which never changes), events are found by run id, sessions by user.

Revision ID: 0011
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(sa.Column("first_seen", sa.Float))
    op.execute("UPDATE sessions SET first_seen = coalesce(started_at, last_seen)")
    op.create_index("ix_sessions_first_seen", "sessions", ["first_seen"])
    op.create_index("ix_sessions_service_first_seen", "sessions", ["service", "first_seen"])
    op.create_index("ix_sessions_user", "sessions", ["user_id"])
    op.create_index("ix_sessions_sid", "sessions", ["session_id"])
    op.create_index("ix_events_run", "events", ["run_id"])


def downgrade() -> None:
    op.drop_index("ix_events_run", "events")
    op.drop_index("ix_sessions_sid", "sessions")
    op.drop_index("ix_sessions_user", "sessions")
    op.drop_index("ix_sessions_service_first_seen", "sessions")
    op.drop_index("ix_sessions_first_seen", "sessions")
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("first_seen")
