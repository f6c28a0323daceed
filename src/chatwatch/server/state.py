"""What the app shares between requests, kept on ``app.state`` (no module globals)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import Request

from chatwatch.config import Settings
from chatwatch.metrics import Catalogue
from chatwatch.store import Store

__all__ = ["AppState", "state"]


@dataclass
class AppState:
    settings: Settings
    store: Store
    catalogue: Catalogue
    extras: dict[str, Any] = field(default_factory=dict)


def state(request: Request) -> AppState:
    result: AppState = request.app.state.chatwatch
    return result
