"""Settings, read from ``CHATWATCH_*`` environment variables (and a ``.env`` file)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

__all__ = ["Settings"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CHATWATCH_", env_file=".env", extra="ignore")

    database_url: str = "sqlite:///chatwatch.db"
    store_text: bool = False
    service_name: str = "chatwatch-monitoring"

    max_concurrent_sessions: int = Field(100, gt=0)
    max_websocket_connections: int = Field(100, gt=0)
    session_idle_timeout_s: int = Field(1800, gt=0)
    monthly_budget_usd: float | None = Field(None, gt=0)
    monthly_token_budget: int | None = Field(None, gt=0)
    model_aliases: dict[str, str] = Field(default_factory=dict)

    max_batch_bytes: int = 5 * 1024 * 1024
    max_batch_events: int = 10_000
    # worker processes validating ingest batches (0, the default: in the server's own
    # threads; msgspec made validation cheaper than the hand-off to a worker, bench/ingest.py)
    ingest_processes: int = Field(0, ge=0, le=64)
    # --- access (chatwatch.server.auth, docs/deployment.md) ---------------------------
    # Development only: keyless GET reads from a loopback client (never writes, never
    # through a proxy). `chatwatch demo` turns it on; off everywhere else.
    dev_open_reads: bool = False
    # Proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (IPs or CIDRs,
    # comma-separated); none by default. The right-most untrusted address is the client.
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Host header values served (a foreign Host gets 400: no DNS rebinding); empty: the
    # bind address, localhost, 127.0.0.1, ::1 and the host of public_url. "*": any.
    allowed_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Origins whose pages may call the read routes from a browser (CORS, GET only, no
    # cookies), comma-separated, e.g. https://panel.example.com; none by default.
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # The URL users reach chatwatch at (behind a proxy); https here makes cookies Secure.
    # None: base_url.
    public_url: str | None = None
    # OTLP traces (docs/opentelemetry.md): a trace is mapped this long after its root span
    # came, or after its first span when no root comes; spans are kept this long to map
    # later spans of their trace
    otlp_trace_settle_s: float = Field(10.0, ge=0)
    otlp_trace_wait_s: float = Field(60.0, ge=0)
    otlp_span_keep_s: float = Field(3600.0, gt=0)
    # OTLP/gRPC on its own port (4317 is the convention); None: not served. Needs grpcio.
    otlp_grpc_port: int | None = Field(None, gt=0, le=65535)
    otlp_grpc_host: str = "127.0.0.1"

    # SQLite durability: "normal" (WAL) keeps every acknowledged batch through a crash of
    # the process, "full" through a power cut too, at the cost of an fsync per commit
    # (README, Performance; docs/events.md)
    sqlite_synchronous: Literal["normal", "full"] = "normal"
    minute_retention_days: int = Field(7, gt=0)
    event_retention_days: int = Field(30, gt=0)
    # --- maintenance and /metrics (docs/metrics.md) ---------------------------------
    maintenance_interval_s: int = Field(3600, ge=0)  # 0: no background maintenance
    maintenance_batch_rows: int = Field(20_000, gt=0)
    prometheus_window: str = Field("1h", pattern=r"^(\d{1,6}[mhd]|all)$")
    metrics_public: bool = False  # True: /metrics needs no key from anywhere

    # --- bounded cardinality (docs/cardinality.md): distinct values per label kept in
    # the rollups; later values are counted under "other" ---------------------------
    max_services: int = Field(200, gt=0)
    max_models: int = Field(200, gt=0)
    max_topics: int = Field(1000, gt=0)
    max_error_types: int = Field(200, gt=0)
    max_user_types: int = Field(50, gt=0)
    max_channels: int = Field(20, gt=0)
    max_sender_types: int = Field(20, gt=0)
    max_cache_kinds: int = Field(50, gt=0)
    # seconds `chatwatch serve` lets requests finish after SIGTERM; reads still running
    # then are cancelled (docs/cardinality.md, "Bounded reads")
    shutdown_grace_s: int = Field(5, ge=0)

    secret_key: SecretStr | None = None
    base_url: str = "http://127.0.0.1:8000"

    # --- alerts (chatwatch.alerts, docs/alerts.md) -----------------------------------
    # Lists read from the environment are comma-separated. The SMTP password is only
    # ever read from CHATWATCH_SMTP_PASSWORD and never logged.
    rules_file: Path | None = None  # None: the rules shipped in chatwatch/alerts
    alerts_enabled: bool = True  # evaluate the rules inside `chatwatch serve`
    alert_evaluation_interval_s: float = Field(60.0, gt=0)
    alert_repeat_interval_s: float = Field(4 * 3600.0, gt=0)
    alert_max_attempts: int = Field(8, gt=0)  # deliveries tried before giving up
    alert_receiver: str = "chatwatch"
    alert_emails: Annotated[list[str], NoDecode] = Field(default_factory=list)
    alert_email_from: str = "chatwatch@localhost"
    smtp_host: str | None = None
    smtp_port: int = Field(587, gt=0, le=65535)
    smtp_security: Literal["starttls", "tls", "none"] = "starttls"
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_timeout_s: float = Field(10.0, gt=0)
    # CHATWATCH_SMTP_SECURITY=none with a user: refused unless this is true (the password
    # would cross the network in clear text).
    smtp_allow_plaintext_auth: bool = False
    alert_webhook_urls: Annotated[list[str], NoDecode] = Field(default_factory=list)
    alert_slack_webhook_urls: Annotated[list[str], NoDecode] = Field(default_factory=list)
    alert_webhook_timeout_s: float = Field(10.0, gt=0)
    # PagerDuty Events API v2: the integration's routing key (a secret, never logged)
    pagerduty_routing_key: SecretStr | None = None
    pagerduty_url: str = "https://events.pagerduty.com/v2/enqueue"
    # Alertmanagers to push firing alerts to every evaluation (base URLs, comma-separated)
    alertmanager_urls: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # rules reloaded when the rules file changes (checked every evaluation) or on SIGHUP
    rules_reload: bool = True

    @field_validator(
        "alert_emails",
        "alert_webhook_urls",
        "alert_slack_webhook_urls",
        "trusted_proxies",
        "allowed_hosts",
        "cors_origins",
        mode="before",
    )
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    def label_caps(self) -> dict[str, int]:
        """The ``max_*`` caps keyed by the label they bound (store/labels.py)."""
        return {
            "service": self.max_services,
            "model": self.max_models,
            "topic": self.max_topics,
            "error_type": self.max_error_types,
            "user_type": self.max_user_types,
            "channel": self.max_channels,
            "sender_type": self.max_sender_types,
            "cache_kind": self.max_cache_kinds,
        }
