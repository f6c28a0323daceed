"""Absolute links for notifications: an e-mail, a page or a chat message is read far from
the server, so every URL in it starts with ``public_url`` (else ``base_url``)."""

from __future__ import annotations

from urllib.parse import urlencode, urljoin

from chatwatch.config import Settings

__all__ = ["absolute", "dashboard_link", "public_base"]

_FILTERS = ("service", "model")


def public_base(settings: Settings) -> str:
    """Where users reach chatwatch, without a trailing slash."""
    return (settings.public_url or settings.base_url).rstrip("/")


def absolute(url: str, settings: Settings) -> str:
    """``url`` as is when it has a scheme, else resolved against the public URL."""
    if not url or "://" in url:
        return url
    return urljoin(public_base(settings) + "/", url.lstrip("/"))


def dashboard_link(labels: dict[str, str], settings: Settings, window: str | None = None) -> str:
    """The dashboard filtered to the alert's service and model, over the rule's window."""
    query = {k: labels[k] for k in _FILTERS if labels.get(k)}
    if window:
        query["window"] = window
    return f"{public_base(settings)}/analytics/" + (f"?{urlencode(query)}" if query else "")
