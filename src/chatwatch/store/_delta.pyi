from collections.abc import Callable
from typing import Any

def setup(
    classes: dict[str, type],
    session_cls: type,
    prom_buckets: tuple[float, ...],
    prom_labels: tuple[str, ...],
    sim_labels: tuple[str, ...],
    min_value: float,
    log_gamma: float,
    zero_bin: int,
    price_of: Callable[[str], tuple[float, float] | None],
    cost_usd: Callable[[str, int, int], float | None],
) -> None: ...
def compute(batch: list[Any]) -> tuple[Any, Any, Any, Any, Any] | None: ...
def setup_rows(fields: dict[str, tuple[tuple[str, ...], tuple[str, ...]]], encode: Any) -> None: ...
def rows(
    batch: list[Any], store_text: bool
) -> tuple[dict[str, Any], dict[str, Any], float] | None: ...
def merge_counts(into: dict[Any, Any], more: dict[Any, Any]) -> None: ...
def merge_cells(into: dict[Any, list[Any]], more: dict[Any, list[Any]], width: int) -> None: ...
