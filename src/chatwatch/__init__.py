"""chatwatch: monitoring, analytics and alerting for AI chat assistants."""

from __future__ import annotations

from chatwatch.sdk import (
    CaptureTransport,
    Client,
    FunctionTransport,
    HTTPTransport,
    StoreTransport,
    Transport,
)

__all__ = [
    "CaptureTransport",
    "Client",
    "FunctionTransport",
    "HTTPTransport",
    "StoreTransport",
    "Transport",
    "__version__",
]

__version__ = "0.1.0"
