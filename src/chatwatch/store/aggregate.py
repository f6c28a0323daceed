"""What a read of the rollups returns: summed counts per (series, model, dim)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = ["Aggregate", "Filters"]


@dataclass(frozen=True)
class Filters:
    """Narrowing a read: exact matches on the rollup columns (``None``: any)."""

    service: str | None = None
    model: str | None = None
    user_type: str | None = None
    channel: str | None = None


@dataclass
class Aggregate:
    cells: dict[tuple[str, str, str], list[float]] = field(default_factory=dict)

    def add(self, series: str, model: str, dim: str, n: float, total: float) -> None:
        cell = self.cells.get((series, model, dim))
        if cell is None:
            self.cells[(series, model, dim)] = [n, total]
        else:
            cell[0] += n
            cell[1] += total

    def merge(self, other: Aggregate) -> None:
        for (series, model, dim), (n, total) in other.cells.items():
            self.add(series, model, dim, n, total)

    def _match(self, series: str, model: str | None, dim: str | None) -> Iterable[list[float]]:
        for (s, m, d), cell in self.cells.items():
            if s == series and (model is None or m == model) and (dim is None or d == dim):
                yield cell

    def n(self, series: str, *, model: str | None = None, dim: str | None = None) -> int:
        return int(sum(cell[0] for cell in self._match(series, model, dim)))

    def total(self, series: str, *, model: str | None = None, dim: str | None = None) -> float:
        return float(sum(cell[1] for cell in self._match(series, model, dim)))

    def by_dim(self, series: str, *, model: str | None = None) -> dict[str, int]:
        out: dict[str, int] = {}
        for (s, m, d), cell in self.cells.items():
            if s == series and (model is None or m == model):
                out[d] = out.get(d, 0) + int(cell[0])
        return out

    def by_dim_model(self, series: str) -> dict[str, int]:
        out: dict[str, int] = {}
        for (s, m, _), cell in self.cells.items():
            if s == series:
                out[m] = out.get(m, 0) + int(cell[0])
        return out

    def models(self, series: str = "llm_calls") -> list[str]:
        return sorted({m for (s, m, _), cell in self.cells.items() if s == series and cell[0]})
