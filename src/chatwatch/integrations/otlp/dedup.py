"""One model call instrumented twice counts once.

With two instrumentations active (``opentelemetry-instrument`` loads every one installed),
one call makes two spans: siblings, or one nested in the other (each wrapper opens its
span inside the other's). Two call spans of one trace are the same call when they have the
same kind and requested model, their times overlap, and they share a parent or one is the
other's parent. Of each such group one span is kept, chosen by what it holds (token counts
first), then by start time and id, so the choice does not depend on arrival order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["CallSpan", "duplicate_groups"]


@dataclass(frozen=True)
class CallSpan:
    span_id: str
    parent_id: str | None
    kind: str
    model: str | None
    start_ns: int
    end_ns: int
    tokens: int
    emitted: bool


def _same_call(a: CallSpan, b: CallSpan) -> bool:
    related = a.parent_id == b.parent_id or a.parent_id == b.span_id or b.parent_id == a.span_id
    return related and a.start_ns <= b.end_ns and b.start_ns <= a.end_ns


def duplicate_groups(calls: Sequence[CallSpan]) -> list[list[CallSpan]]:
    """The calls grouped into one list per distinct call, best span first."""
    parent = list(range(len(calls)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    by_key: dict[tuple[str, str | None], list[int]] = {}
    for i, c in enumerate(calls):
        by_key.setdefault((c.kind, c.model), []).append(i)
    for members in by_key.values():
        members.sort(key=lambda i: calls[i].start_ns)
        for pos, i in enumerate(members):
            for j in members[pos + 1 :]:
                if calls[j].start_ns > calls[i].end_ns:
                    break  # sorted by start: no later span overlaps i
                if _same_call(calls[i], calls[j]):
                    parent[find(j)] = find(i)
    groups: dict[int, list[CallSpan]] = {}
    for i, c in enumerate(calls):
        groups.setdefault(find(i), []).append(c)
    return [sorted(g, key=_preference) for g in groups.values()]


def _preference(c: CallSpan) -> tuple[bool, int, str]:
    return (c.tokens == 0, c.start_ns, c.span_id)
