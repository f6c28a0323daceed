"""Reads answered from rollups: a window is split into whole days, hours and minutes, so
its cost is a few buckets per resolution whatever the number of events.

Filters match exactly on the rollup columns; which filters apply to which metric is the
catalogue's business (a filter on a column a series does not carry would empty it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Connection, Select, Table, and_, func, or_, select

from chatwatch.store.aggregate import Aggregate, Filters
from chatwatch.store.rollup import DAY, HOUR, MINUTE, add_cells, add_counts
from chatwatch.store.schema import rollup_hist, rollups, sessions, user_activity

__all__ = [
    "Segment",
    "merge_bins",
    "merge_cells",
    "merge_counts",
    "merge_groups",
    "plan",
    "read_aggregate",
    "read_bucketed",
    "read_groups",
    "read_hist_bucketed",
    "read_histograms",
    "read_open_sessions",
    "read_top_users",
    "read_totals",
    "read_user_sums",
]

_Q = TypeVar("_Q", bound=Select[Any])

Segment = tuple[int, int, int]  # (res, lo, hi): buckets of size res in [lo, hi)
Bins = dict[int, int]
Cells = dict[tuple[Any, ...], list[float]]
_FILTERED = ("service", "user_type", "channel", "model")


def plan(start: int, end: int, finest: int = MINUTE) -> list[Segment]:
    """Cover [start, end) with the coarsest whole buckets; both ends multiples of ``finest``."""
    levels = [r for r in (DAY, HOUR, MINUTE) if r >= finest]
    return _plan(start, end, levels)


def _plan(start: int, end: int, levels: list[int]) -> list[Segment]:
    if start >= end or not levels:
        return []
    res, finer = levels[0], levels[1:]
    lo = -(-start // res) * res
    hi = end // res * res
    if lo >= hi:
        return _plan(start, end, finer)
    return [*_plan(start, lo, finer), (res, lo, hi), *_plan(hi, end, finer)]


def _filtered(query: _Q, table: Table, filters: Filters) -> _Q:
    for name in _FILTERED:
        value = getattr(filters, name)
        if value is not None:
            query = query.where(table.c[name] == value)
    return query


def _within(table: Table, segments: Sequence[Segment]) -> ColumnElement[bool]:
    """One condition for all segments, so a window is one query (one index range each)."""
    c = table.c
    terms = [and_(c.res == res, c.bucket >= lo, c.bucket < hi) for res, lo, hi in segments]
    return terms[0] if len(terms) == 1 else or_(*terms)


def read_groups(
    conn: Connection,
    segments: Sequence[Segment],
    filters: Filters,
    series: Sequence[str] | None = None,
    by: Sequence[str] = (),
) -> dict[tuple[Any, ...], Aggregate]:
    """Summed cells per value of the ``by`` columns (``()``: one Aggregate for everything)."""
    if not segments:
        return {}
    r = rollups.c
    keys = [r[name] for name in by]
    query = select(*keys, r.series, r.model, r.dim, func.sum(r.n), func.sum(r.total)).where(
        _within(rollups, segments)
    )
    if series is not None:
        query = query.where(r.series.in_(list(series)))
    query = _filtered(query, rollups, filters).group_by(*keys, r.series, r.model, r.dim)
    out: dict[tuple[Any, ...], Aggregate] = {}
    width = len(keys)
    for row in conn.execute(query).all():
        s, m, d, n, total = row[width:]
        out.setdefault(tuple(row[:width]), Aggregate()).add(s, m, d, n, total)
    return out


def read_aggregate(
    conn: Connection,
    segments: Sequence[Segment],
    filters: Filters,
    series: Sequence[str] | None = None,
) -> Aggregate:
    return read_groups(conn, segments, filters, series).get((), Aggregate())


def read_totals(
    conn: Connection,
    series: Sequence[str],
    filters: Filters = Filters(),
    days: Sequence[Segment] | None = None,
) -> Cells:
    """Sums from the daily rollups (never compacted; all time unless ``days`` given), by
    every label column: ``(service, series, model, dim, user_type, channel) -> [n, total]``."""
    r = rollups.c
    labels = (r.service, r.series, r.model, r.dim, r.user_type, r.channel)
    query = select(*labels, func.sum(r.n), func.sum(r.total)).where(r.series.in_(list(series)))
    query = query.where(_within(rollups, days)) if days else query.where(r.res == DAY)
    query = _filtered(query, rollups, filters).group_by(*labels)
    return {tuple(row[:6]): [int(row[6]), float(row[7])] for row in conn.execute(query).all()}


def read_bucketed(
    conn: Connection, res: int, lo: int, hi: int, filters: Filters, series: list[str] | None
) -> dict[int, Aggregate]:
    """One Aggregate per bucket of size ``res`` in [lo, hi): the points of a chart."""
    groups = read_groups(conn, [(res, lo, hi)], filters, series, by=("bucket",))
    return {int(key[0]): agg for key, agg in groups.items()}


def read_histograms(
    conn: Connection,
    segments: Sequence[Segment],
    series: Sequence[str],
    filters: Filters,
    by: Sequence[str] = (),
) -> dict[tuple[Any, ...], Bins]:
    """Summed histogram bins keyed by ``(*by values, series, model)``."""
    if not segments:
        return {}
    h = rollup_hist.c
    keys = [h[name] for name in by]
    query = select(*keys, h.series, h.model, h.bin, func.sum(h.n)).where(
        _within(rollup_hist, segments), h.series.in_(list(series))
    )
    query = _filtered(query, rollup_hist, filters).group_by(*keys, h.series, h.model, h.bin)
    out: dict[tuple[Any, ...], Bins] = {}
    width = len(keys) + 2
    for row in conn.execute(query).all():
        index, n = row[width:]
        bins = out.setdefault(tuple(row[:width]), {})
        bins[index] = bins.get(index, 0) + int(n)
    return out


def read_hist_bucketed(
    conn: Connection, res: int, lo: int, hi: int, series: str, filters: Filters
) -> dict[int, Bins]:
    grouped = read_histograms(conn, [(res, lo, hi)], [series], filters, by=("bucket",))
    out: dict[int, Bins] = {}
    for (bucket, _series, _model), bins in grouped.items():
        target = out.setdefault(int(bucket), {})
        for index, n in bins.items():
            target[index] = target.get(index, 0) + n
    return out


def read_open_sessions(
    conn: Connection, since: float, filters: Filters, by_service: bool = False
) -> dict[str, tuple[int, int]]:
    """Sessions not ended and seen since ``since``, and their open WebSocket connections,
    per service (``""`` for all when not ``by_service``).

    Only the ``last_seen`` range is given to the database (the few open sessions are
    filtered and counted here): a ``service`` condition or a grouping would tempt SQLite
    to walk the primary key, every session ever stored, instead of the recent ones."""
    s = sessions.c
    query = select(s.service, s.user_type, s.channel, s.open_connections, s.ended_at).where(
        s.last_seen >= since
    )
    wanted = [(i, getattr(filters, n)) for i, n in enumerate(("service", "user_type", "channel"))]
    wanted = [(i, v) for i, v in wanted if v is not None]
    out: dict[str, list[int]] = {}
    for row in conn.execute(query).all():
        if row[4] is not None or any(row[i] != v for i, v in wanted):
            continue
        cell = out.setdefault(row[0] if by_service else "", [0, 0])
        cell[0] += 1
        cell[1] += max(int(row[3]), 0)
    return {service: (n, ws) for service, (n, ws) in out.items()}


def read_top_users(
    conn: Connection, day_lo: int, day_hi: int, service: str | None, limit: int
) -> list[tuple[str, int]]:
    u = user_activity.c
    total = func.sum(u.messages).label("messages")
    query = select(u.user_id, total).where(u.day >= day_lo, u.day < day_hi)
    if service is not None:
        query = query.where(u.service == service)
    query = query.group_by(u.user_id).order_by(total.desc(), u.user_id).limit(limit)
    return [(user, int(n)) for user, n in conn.execute(query).all()]


def read_user_sums(
    conn: Connection, days: Sequence[Segment], service: str | None
) -> dict[Any, int]:
    """Messages per user over the day ranges, keyed by user id."""
    if not days:
        return {}
    u = user_activity.c
    within = or_(*(and_(u.day >= lo, u.day < hi) for _, lo, hi in days))
    query = select(u.user_id, func.sum(u.messages)).where(within)
    if service is not None:
        query = query.where(u.service == service)
    query = query.group_by(u.user_id)
    return dict(conn.execute(query).all())  # the sums are Decimal on PostgreSQL


# Merging partial reads (``Store`` adds cached sealed buckets to fresh ones): always into
# new objects, so nothing a caller holds is ever shared with the cache.


def merge_groups(
    parts: Sequence[dict[tuple[Any, ...], Aggregate]],
) -> dict[tuple[Any, ...], Aggregate]:
    out: dict[tuple[Any, ...], Aggregate] = {}
    for part in parts:
        for key, agg in part.items():
            target = out.get(key)
            if target is None:
                target = out[key] = Aggregate()
            target.merge(agg)
    return out


def merge_bins(parts: Sequence[dict[tuple[Any, ...], Bins]]) -> dict[tuple[Any, ...], Bins]:
    out: dict[tuple[Any, ...], Bins] = {}
    for part in parts:
        for key, bins in part.items():
            target = out.get(key)
            if target is None:
                out[key] = dict(bins)
            else:
                add_counts(target, bins)
    return out


def merge_counts(parts: Sequence[dict[Any, int]]) -> dict[Any, int]:
    if not parts:
        return {}
    largest = max(parts, key=len)
    out = dict(largest)  # a C-speed copy of the biggest part (20 000 users, say)
    for part in parts:
        if part is not largest:
            add_counts(out, part)
    return out


def merge_cells(
    parts: Sequence[dict[tuple[Any, ...], list[float]]],
) -> dict[tuple[Any, ...], list[float]]:
    out: dict[tuple[Any, ...], list[float]] = {}
    for part in parts:
        add_cells(out, part)
    return out
