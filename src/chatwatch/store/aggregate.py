"""What a read of the rollups returns: summed counts per (series, model, dim)."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Aggregate", "Filters"]

Cell = list[float]


@dataclass(frozen=True)
class Filters:
    """Narrowing a read: exact matches on the rollup columns (``None``: any)."""

    service: str | None = None
    model: str | None = None
    user_type: str | None = None
    channel: str | None = None


@dataclass
class _Series:
    """One series' cells summed every way a metric asks for them."""

    all: Cell = field(default_factory=lambda: [0.0, 0.0])
    by_model: dict[str, Cell] = field(default_factory=dict)
    by_dim: dict[str, Cell] = field(default_factory=dict)
    by_model_dim: dict[str, dict[str, Cell]] = field(default_factory=dict)


_EMPTY = _Series()
_NONE: Cell = [0.0, 0.0]


def _sum_into(into: dict[str, Cell], key: str, n: float, total: float) -> None:
    cell = into.get(key)
    if cell is None:
        into[key] = [n, total]
    else:
        cell[0] += n
        cell[1] += total


def _index(cells: dict[tuple[str, str, str], list[float]]) -> dict[str, _Series]:
    """Every series grouped by model and by dim in one pass over the cells, so a metric
    per model (or per topic) costs a lookup, not a scan of every cell per value."""
    out: dict[str, _Series] = {}
    for (s, m, d), (count, amount) in cells.items():
        n, total = float(count), float(amount)  # PostgreSQL sums are Decimal
        series = out.get(s)
        if series is None:
            series = out[s] = _Series()
        series.all[0] += n
        series.all[1] += total
        _sum_into(series.by_model, m, n, total)
        _sum_into(series.by_dim, d, n, total)
        _sum_into(series.by_model_dim.setdefault(m, {}), d, n, total)
    return out


@dataclass
class Aggregate:
    cells: dict[tuple[str, str, str], list[float]] = field(default_factory=dict)
    _grouped: dict[str, _Series] | None = field(default=None, repr=False, compare=False)

    def add(self, series: str, model: str, dim: str, n: float, total: float) -> None:
        self._grouped = None
        cell = self.cells.get((series, model, dim))
        if cell is None:
            self.cells[(series, model, dim)] = [n, total]
        else:
            cell[0] += n
            cell[1] += total

    def merge(self, other: Aggregate) -> None:
        for (series, model, dim), (n, total) in other.cells.items():
            self.add(series, model, dim, n, total)

    def _series(self, series: str) -> _Series:
        grouped = self._grouped
        if grouped is None:
            grouped = self._grouped = _index(self.cells)
        return grouped.get(series, _EMPTY)

    def _cell(self, series: str, model: str | None, dim: str | None) -> Cell:
        if model is not None and dim is not None:
            return self.cells.get((series, model, dim), _NONE)
        s = self._series(series)
        if model is not None:
            return s.by_model.get(model, _NONE)
        if dim is not None:
            return s.by_dim.get(dim, _NONE)
        return s.all

    def n(self, series: str, *, model: str | None = None, dim: str | None = None) -> int:
        return int(self._cell(series, model, dim)[0])

    def total(self, series: str, *, model: str | None = None, dim: str | None = None) -> float:
        return float(self._cell(series, model, dim)[1])

    def by_dim(self, series: str, *, model: str | None = None) -> dict[str, int]:
        s = self._series(series)
        cells = s.by_dim if model is None else s.by_model_dim.get(model, {})
        return {d: int(cell[0]) for d, cell in cells.items()}

    def by_dim_model(self, series: str) -> dict[str, int]:
        return {m: int(cell[0]) for m, cell in self._series(series).by_model.items()}

    def models(self, series: str = "llm_calls") -> list[str]:
        return sorted(m for m, cell in self._series(series).by_model.items() if cell[0])
