"""LLM prices, so a call recorded without ``cost_usd`` still has a cost.

Prices are USD per million tokens (input, output), matched by the longest model-name
prefix. The table is ours to keep current; operators override or extend it with
``CHATWATCH_PRICES`` (a JSON object ``{"model": [input, output]}``).
"""

from __future__ import annotations

import json
import os
from functools import lru_cache

__all__ = ["DEFAULT_PRICES", "cost_usd", "price_for", "price_table"]

DEFAULT_PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4-turbo": (10.00, 30.00),
    "gpt-3.5-turbo": (0.50, 1.50),
    "o3-mini": (1.10, 4.40),
    "claude-3-5-haiku": (0.80, 4.00),
    "claude-3-5-sonnet": (3.00, 15.00),
    "claude-3-7-sonnet": (3.00, 15.00),
    "claude-sonnet-4": (3.00, 15.00),
    "claude-3-opus": (15.00, 75.00),
    "llama-3.1-8b": (0.05, 0.08),
    "llama3-8b": (0.05, 0.08),
    "llama-3.3-70b": (0.59, 0.79),
    "llama-3.1-70b": (0.59, 0.79),
    "llama3-70b": (0.59, 0.79),
    "glm-4": (0.14, 0.14),
    "gemini-1.5-flash": (0.075, 0.30),
    "gemini-2.0-flash": (0.10, 0.40),
    "mistral-small": (0.20, 0.60),
    "mistral-large": (2.00, 6.00),
    "text-embedding-3-small": (0.02, 0.0),
    "text-embedding-3-large": (0.13, 0.0),
    "text-embedding-ada-002": (0.10, 0.0),
}


@lru_cache(maxsize=1)
def price_table() -> dict[str, tuple[float, float]]:
    table = dict(DEFAULT_PRICES)
    override = os.environ.get("CHATWATCH_PRICES")
    if override:
        for model, pair in json.loads(override).items():
            table[str(model)] = (float(pair[0]), float(pair[1]))
    return table


@lru_cache(maxsize=4096)
def price_for(model: str) -> tuple[float, float] | None:
    table = price_table()
    name = model.lower().split("/")[-1]
    best = max((key for key in table if name.startswith(key)), key=len, default=None)
    return table[best] if best else None


def cost_usd(model: str, input_tokens: int, output_tokens: int) -> float | None:
    """None when the model is not priced: unknown is not free."""
    price = price_for(model)
    if price is None:
        return None
    return (input_tokens * price[0] + output_tokens * price[1]) / 1_000_000
