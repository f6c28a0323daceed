from collections.abc import Callable
from typing import Any

def setup(
    classes: dict[type, tuple[tuple[str, ...], tuple[str, ...]]],
    feedback: type,
    bounded: Callable[[dict[str, Any]], bool],
    label_chars: bytes,
    id_chars: bytes,
) -> None: ...
def check(batch: list[Any], lo: float, hi: float) -> Any: ...
