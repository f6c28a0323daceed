from collections.abc import Callable
from typing import Any

def setup(
    classes: dict[type, tuple[tuple[str, ...], tuple[str, ...]]],
    feedback: type,
    bounded: Callable[[dict[str, Any]], bool],
) -> None: ...
def check(batch: list[Any], lo: float, hi: float) -> Any: ...
