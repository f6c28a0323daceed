"""How a catalogue value is written on a card, by its unit: one place, used by the cards
and by the tests that compare them with the JSON API."""

from __future__ import annotations

__all__ = ["format_value"]


def _grouped(value: float, decimals: int = 0) -> str:
    return f"{value:,.{decimals}f}"


def _compact(value: float) -> str:
    # 10 k and up shortened: 640501 is 640.5k (thousands), 2.5M, 1.2B
    for limit, divisor, suffix in ((1e9, 1e9, "B"), (1e6, 1e6, "M"), (1e4, 1e3, "k")):
        if abs(value) >= limit:
            return f"{value / divisor:.1f}".rstrip("0").rstrip(".") + suffix
    return _grouped(value)


def format_value(value: float | None, unit: str) -> str:
    """``None`` (nothing to measure) is an em dash, never a misleading 0."""
    if value is None:
        return "—"
    if unit == "percent":
        return f"{value:.1f}%"
    if unit == "ms":
        return f"{value:,.0f} ms" if abs(value) >= 100 else f"{value:.1f} ms"
    if unit == "usd":
        return f"${value:,.2f}"
    if unit == "ratio":
        return f"{value:.3f}"
    if unit == "rating":
        return f"{value:.2f} / 5"
    if unit == "tokens":
        return _compact(value)
    if unit == "mb":
        return f"{value:,.0f} MB"
    if unit == "seconds":
        return f"{value:,.0f} s"
    return _grouped(value) if float(value).is_integer() else _grouped(value, 2)
