"""Notifiers: the log (always), e-mail, Alertmanager-style and Slack-style webhooks,
delivered through a database outbox with retries."""

from __future__ import annotations

from chatwatch.alerts.notify.channels import Channel, channels, log_group
from chatwatch.alerts.notify.outbox import Delivery, backoff, deliver_due, enqueue

__all__ = ["Channel", "Delivery", "backoff", "channels", "deliver_due", "enqueue", "log_group"]
