"""The in-app SDK: record what the assistant does; a background thread ships it."""

from __future__ import annotations

from chatwatch.sdk.client import Client
from chatwatch.sdk.transports import (
    CaptureTransport,
    EventSink,
    FunctionTransport,
    HTTPTransport,
    RejectedBatch,
    RetryAfter,
    StoreTransport,
    Transport,
)
from chatwatch.sdk.turn import TurnScope, current_turn

__all__ = [
    "CaptureTransport",
    "Client",
    "EventSink",
    "FunctionTransport",
    "HTTPTransport",
    "RejectedBatch",
    "RetryAfter",
    "StoreTransport",
    "Transport",
    "TurnScope",
    "current_turn",
]
