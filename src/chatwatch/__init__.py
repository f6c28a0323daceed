"""chatwatch: monitoring, analytics and alerting for AI chat assistants."""

from __future__ import annotations

from chatwatch.sdk import (
    CaptureTransport,
    Client,
    FunctionTransport,
    HTTPTransport,
    StoreTransport,
    Transport,
    TurnScope,
    current_turn,
)

__all__ = [
    "CaptureTransport",
    "Client",
    "FunctionTransport",
    "HTTPTransport",
    "StoreTransport",
    "Transport",
    "TurnScope",
    "__version__",
    "current_turn",
]

__version__ = "0.1.0"
