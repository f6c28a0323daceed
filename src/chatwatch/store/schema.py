"""Tables. Alembic migrations under ``migrations/`` create exactly these (a test compares)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    text,
)

metadata = MetaData()
HEARTBEAT = text("type = 'heartbeat'")  # the partial index's predicate, as queries spell it

events = Table(
    "events",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("ts", Float, nullable=False),
    Column("type", String(32), nullable=False),
    Column("service", String(64), nullable=False),
    Column("session_id", String(128)),
    Column("run_id", String(64)),
    Column("user_id", String(128)),
    Column("data", Text, nullable=False),
    Index("ix_events_ts", "ts"),
    Index("ix_events_run", "run_id"),
    # heartbeats only (a few per app process a minute): the app's latest process figures
    Index("ix_events_heartbeat", "ts", sqlite_where=HEARTBEAT, postgresql_where=HEARTBEAT),
)

# A session's events, by (service, session_id, ts, id): the index a session's page and
# the per-session reads walk. Kept apart from ``events`` and filled by the journal fold,
# many batches at a time in key order: as an index on ``events`` it took a page per open
# session at every ingest commit (4.2 -> 13.8 µs per row at 300 000 rows,
# bench/events_table.py). Reads fold the journal first, so they see every event.
event_sessions = Table(
    "event_sessions",
    metadata,
    Column("service", String(64), primary_key=True),
    Column("session_id", String(128), primary_key=True),
    Column("ts", Float, primary_key=True),
    Column("id", String(64), primary_key=True),
    sqlite_with_rowid=False,
)

ROLLUP_KEY = ("res", "bucket", "service", "series", "model", "dim", "user_type", "channel")

rollups = Table(
    "rollups",
    metadata,
    Column("res", Integer, primary_key=True),
    Column("bucket", BigInteger, primary_key=True),
    Column("service", String(64), primary_key=True),
    Column("series", String(32), primary_key=True),
    Column("model", String(128), primary_key=True),
    Column("dim", String(128), primary_key=True),
    Column("user_type", String(64), primary_key=True),
    Column("channel", String(64), primary_key=True),
    Column("n", BigInteger, nullable=False),
    Column("total", Float, nullable=False),
)

HIST_KEY = ("res", "bucket", "service", "series", "model", "user_type", "channel", "bin")

rollup_hist = Table(
    "rollup_hist",
    metadata,
    Column("res", Integer, primary_key=True),
    Column("bucket", BigInteger, primary_key=True),
    Column("service", String(64), primary_key=True),
    Column("series", String(32), primary_key=True),
    Column("model", String(128), primary_key=True),
    Column("user_type", String(64), primary_key=True),
    Column("channel", String(64), primary_key=True),
    Column("bin", Integer, primary_key=True),
    Column("n", BigInteger, nullable=False),
)

sessions = Table(
    "sessions",
    metadata,
    Column("service", String(64), primary_key=True),
    Column("session_id", String(128), primary_key=True),
    Column("user_id", String(128)),
    Column("user_type", String(64)),
    Column("channel", String(64)),
    Column("started_at", Float),
    Column("ended_at", Float),
    Column("last_seen", Float, nullable=False),
    Column("turns", Integer, nullable=False),
    Column("errors", Integer, nullable=False),
    Column("messages", Integer, nullable=False),
    Column("reconnects", Integer, nullable=False),
    Column("open_connections", Integer, nullable=False),
    Column("escalated_at", Float),
    Column("rating_sum", Integer, nullable=False),
    Column("rating_n", Integer, nullable=False),
    # set when the row is made and never updated: the read API pages by it (0011)
    Column("first_seen", Float),
    Column("first_connect_at", Float),  # the connect counted as the first (later: reconnects)
    Index("ix_sessions_last_seen", "last_seen"),
    Index("ix_sessions_first_seen", "first_seen"),
    Index("ix_sessions_service_first_seen", "service", "first_seen"),
    Index("ix_sessions_user", "user_id"),
    Index("ix_sessions_sid", "session_id"),
)

user_activity = Table(
    "user_activity",
    metadata,
    Column("day", BigInteger, primary_key=True),
    Column("service", String(64), primary_key=True),
    Column("user_id", String(128), primary_key=True),
    Column("messages", BigInteger, nullable=False),
)

user_usage = Table(
    "user_usage",
    metadata,
    Column("hour", BigInteger, primary_key=True),
    Column("service", String(64), primary_key=True),
    Column("user_id", String(128), primary_key=True),
    Column("calls", BigInteger, nullable=False),
    Column("tokens", BigInteger, nullable=False),
    Column("cost_usd", Float, nullable=False),
)

rollup_journal = Table(
    "rollup_journal",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created_at", Float, nullable=False),
    Column("events", Integer, nullable=False),
    Column("min_ts", Float, nullable=False),
    Column("delta", LargeBinary, nullable=False),
)

# Journal rows that failed to fold, moved aside so reads go on (store/journal.py); the
# row's id, its events and delta as they were, and the error's class (no user data).
rollup_journal_quarantine = Table(
    "rollup_journal_quarantine",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("created_at", Float, nullable=False),
    Column("quarantined_at", Float, nullable=False),
    Column("events", Integer, nullable=False),
    Column("min_ts", Float, nullable=False),
    Column("delta", LargeBinary, nullable=False),
    Column("error", String(128), nullable=False),
)

# One row that /readyz updates: a write the database must take for the server to be ready.
readiness_probe = Table(
    "readiness_probe",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("checked_at", Float, nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(128), nullable=False),
    Column("scope", String(16), nullable=False),
    Column("prefix", String(32), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("created_at", Float, nullable=False),
    Column("revoked", Boolean, nullable=False, default=False),
    Column("expires_at", Float),  # None: never
    Column("last_used_at", Float),  # recorded at most once a minute per key per process
)

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("password_hash", String(255), nullable=False),
    Column("created_at", Float, nullable=False),
    # in every session cookie; logout and a new password raise it, ending every session
    Column("session_generation", Integer, nullable=False, server_default="0"),
)

# Attempt counters shared by every replica (login throttle, feedback rate limits): one row
# per key (a hashed name or an address), counted atomically before the work they guard.
auth_attempts = Table(
    "auth_attempts",
    metadata,
    Column("key", String(96), primary_key=True),
    Column("count", Integer, nullable=False),
    Column("window_end", Float, nullable=False),
    Column("window_s", Float, nullable=False),  # doubles while a key keeps exceeding its limit
)

# Generated once on first use and shared by every replica (e.g. the dashboard cookie key).
secrets = Table(
    "secrets",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", String(255), nullable=False),
    Column("created_at", Float, nullable=False),
)

# Alerts (chatwatch.alerts): one row per rule and label set, every transition, silences,
# and the outbox of notifications still to deliver (retried until sent or given up).
alert_states = Table(
    "alert_states",
    metadata,
    Column("rule", String(128), primary_key=True),
    Column("fingerprint", String(32), primary_key=True),
    Column("labels", Text, nullable=False),
    Column("annotations", Text, nullable=False),
    Column("state", String(16), nullable=False),
    Column("level", String(16)),
    Column("value", Float),
    Column("threshold", Float),
    Column("unit", String(16)),
    Column("active_since", Float),
    Column("fired_at", Float),
    Column("resolved_at", Float),
    Column("evaluated_at", Float, nullable=False),
    Column("last_active_at", Float),
    Column("last_critical_at", Float),
    Column("notified_at", Float),
    Column("notified_level", String(16)),
    Index("ix_alert_states_state", "state"),
)

alert_history = Table(
    "alert_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ts", Float, nullable=False),
    Column("rule", String(128), nullable=False),
    Column("fingerprint", String(32), nullable=False),
    Column("labels", Text, nullable=False),
    Column("from_state", String(16), nullable=False),
    Column("to_state", String(16), nullable=False),
    Column("from_level", String(16)),
    Column("level", String(16)),
    Column("value", Float),
    Column("threshold", Float),
    Index("ix_alert_history_ts", "ts"),
    Index("ix_alert_history_rule_ts", "rule", "ts"),
)

alert_silences = Table(
    "alert_silences",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("matchers", Text, nullable=False),
    Column("starts_at", Float, nullable=False),
    Column("ends_at", Float, nullable=False),
    Column("created_by", String(128), nullable=False),
    Column("comment", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Index("ix_alert_silences_ends_at", "ends_at"),
)

alert_outbox = Table(
    "alert_outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created_at", Float, nullable=False),
    Column("channel", String(64), nullable=False),
    Column("rule", String(128), nullable=False),
    Column("status", String(16), nullable=False),
    Column("payload", Text, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", Float, nullable=False),
    Column("sent_at", Float),
    Column("failed_at", Float),
    Column("last_error", Text),
    Index("ix_alert_outbox_due", "sent_at", "failed_at", "next_attempt_at"),
)

# Bounded cardinality (store/labels.py): the label values admitted to the rollups, per
# label, and how many rollup increments were counted under "other" past each cap.
label_values = Table(
    "label_values",
    metadata,
    Column("label", String(32), primary_key=True),
    Column("value", String(128), primary_key=True),
    Column("first_seen", Float, nullable=False),
)

label_overflow = Table(
    "label_overflow",
    metadata,
    Column("label", String(32), primary_key=True),
    Column("folded", BigInteger, nullable=False),
    Column("first_at", Float, nullable=False),
)

# Spans of OTLP traces still needed to map later ones (integrations/otlp/traces.py): the
# roots, model calls, retrievals and spans carrying a session or user; kept a while, then pruned.
otlp_spans = Table(
    "otlp_spans",
    metadata,
    Column("trace_id", String(32), primary_key=True),
    Column("span_id", String(16), primary_key=True),
    Column("parent_id", String(16)),
    Column("root", Boolean, nullable=False),
    Column("role", String(16), nullable=False),  # llm, embedding, rag, context
    Column("model", String(128)),
    Column("start_ns", BigInteger, nullable=False),
    Column("end_ns", BigInteger, nullable=False),
    Column("session_id", String(128)),
    Column("user_id", String(128)),
    Column("event", Text),  # the span's own event (JSON), without session and user
    Column("root_info", Text),  # a root's service, status and error type (JSON)
    Column("emitted", Boolean, nullable=False),  # its event stored or dropped as a duplicate
    Column("turn_emitted", Boolean, nullable=False),  # a root: its trace assembled
    Column("seen_at", Float, nullable=False),
    Index("ix_otlp_spans_seen_at", "seen_at"),
    Index("ix_otlp_spans_emitted", "emitted", "seen_at"),
    Index("ix_otlp_spans_turn_emitted", "turn_emitted", "seen_at"),
)
