"""Bounded cardinality: at most ``cap`` distinct values per label reach the rollups.

Every read, scrape and alert round costs in proportion to the label values the rollups
hold, and every value is chosen by whoever sends events. So each label the rollups keep
(service, model, topic, error type, user type, channel, sender type, cache kind) admits
its first ``cap`` values and counts the rest under ``other``.

The values admitted are rows of ``label_values``, shared by every replica and kept across
restarts; the cap is checked in the ingest transaction (on PostgreSQL under an advisory
lock per label, so replicas admitting at once cannot overshoot it). Each process keeps the
values it has seen in memory, so a batch whose values are all known costs a few set
operations over its rollup keys: :meth:`LabelGuard.fold` is the only hook on the ingest
path, called once per group commit on its merged increments.

Raw events keep the values they were sent with (exports show them); the rollups, the
session table and the per-user activity see ``other``. What was folded is counted per
label in ``label_overflow`` (rollup increments, i.e. one per series an event feeds) and
logged once per label and process, without the values themselves.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, insert, select

from chatwatch.store.rollup import Delta, SessionDelta, merge_sessions
from chatwatch.store.schema import label_overflow, label_values

__all__ = ["DEFAULT_CAPS", "LABELS", "OTHER", "LabelGuard", "LabelStatus", "read_status"]

log = logging.getLogger("chatwatch.labels")

OTHER = "other"
LABELS = (
    "service",
    "model",
    "topic",
    "error_type",
    "user_type",
    "channel",
    "sender_type",
    "cache_kind",
)
DEFAULT_CAPS: dict[str, int] = {
    "service": 200,
    "model": 200,
    "topic": 1000,
    "error_type": 200,
    "user_type": 50,
    "channel": 20,
    "sender_type": 20,
    "cache_kind": 50,
}
# the rollup series whose ``dim`` column holds a free-form label
_DIM_LABEL = {
    "topics": "topic",
    "turns_failed": "error_type",
    "llm_failed": "error_type",
    "messages": "sender_type",
    "cache_lookups": "cache_kind",
}
_ALWAYS = frozenset({"", OTHER})  # "no value" and the fold itself cost nothing
_LOCK_BASE = 727_100_100  # PostgreSQL advisory lock keys, one per label
_MAX_REFUSED = 100_000  # refused values remembered per label (then forgotten, re-asked)


@dataclass(frozen=True)
class LabelStatus:
    label: str
    cap: int
    values: int  # distinct values admitted
    folded: int  # rollup increments counted under ``other``


class LabelGuard:
    def __init__(self, caps: Mapping[str, int] | None = None) -> None:
        self.caps = {label: int((caps or {}).get(label, DEFAULT_CAPS[label])) for label in LABELS}
        self._lock = threading.Lock()
        self._known: dict[str, set[str]] = {}
        self._refused: dict[str, set[str]] = {label: set() for label in LABELS}
        self._logged: set[str] = set()

    def forget(self) -> None:
        """Drop what this process remembers (after a rolled-back write: values it admitted
        may not be stored); the next batch reloads from the table."""
        with self._lock:
            self._known = {}
            self._refused = {label: set() for label in LABELS}

    def fold(self, conn: Connection, delta: Delta) -> bool:
        """Admit the delta's new label values while their label has room and rewrite the
        rest to ``other``, in place, inside the caller's write transaction; True when
        it rewrote some."""
        seen = _distinct(delta)
        known = self._known
        if known and all(values <= known[label] for label, values in seen.items()):
            return False  # the hot path: every value already admitted
        if not known:
            known = self._load(conn)
        refused: dict[str, dict[str, str]] = {}
        for label in LABELS:  # a fixed order: PostgreSQL locks are taken in it
            new = seen[label] - known[label]
            if new:
                out = self._admit(conn, label, new)
                if out:
                    refused[label] = dict.fromkeys(out, OTHER)
        if not refused:
            return False
        folded = _rewrite(delta, refused)
        _count_folds(conn, folded)
        self._log_once(folded)
        return True

    def _load(self, conn: Connection) -> dict[str, set[str]]:
        known: dict[str, set[str]] = {label: set(_ALWAYS) for label in LABELS}
        lv = label_values.c
        for label, value in conn.execute(select(lv.label, lv.value)):
            if label in known:
                known[label].add(value)
        with self._lock:
            self._known = known
        return known

    def _admit(self, conn: Connection, label: str, new: set[str]) -> set[str]:
        """The values of ``new`` refused (the label's cap reached)."""
        remembered = new & self._refused[label]
        new = new - remembered
        if not new:
            return remembered
        lv = label_values.c
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(
                "SELECT pg_advisory_xact_lock(%s)", (_LOCK_BASE + LABELS.index(label),)
            )
        stored = set(
            conn.execute(
                select(lv.value).where(lv.label == label, lv.value.in_(sorted(new)))
            ).scalars()
        )
        fresh = sorted(new - stored)
        count = conn.execute(select(func.count()).where(lv.label == label)).scalar_one()
        room = max(self.caps[label] - int(count), 0)
        admit, refuse = fresh[:room], set(fresh[room:])
        if admit:
            now = time.time()
            conn.execute(
                insert(label_values),
                [{"label": label, "value": v, "first_seen": now} for v in admit],
            )
        with self._lock:
            self._known[label].update(stored, admit)
            if len(self._refused[label]) + len(refuse) > _MAX_REFUSED:
                self._refused[label] = set()
            self._refused[label].update(refuse)
        return refuse | remembered

    def _log_once(self, folded: Mapping[str, int]) -> None:
        for label in folded:
            if label not in self._logged:
                self._logged.add(label)
                log.warning(
                    "label cap reached: %s keeps its first %d values; new ones are counted "
                    "under %r (CHATWATCH_MAX_* settings, docs/cardinality.md)",
                    label,
                    self.caps[label],
                    OTHER,
                )


def _distinct(delta: Delta) -> dict[str, set[str]]:
    """Every label's values in the count increments (columns taken apart at C speed)."""
    keys = delta.counts.keys()
    if not keys:
        return {label: set() for label in LABELS}
    _, services, series, models, dim, user_types, channels = zip(*keys, strict=True)
    dims: dict[str, set[str]] = {label: set() for label in set(_DIM_LABEL.values())}
    for s, d in set(zip(series, dim, strict=True)):
        label = _DIM_LABEL.get(s)
        if label is not None:
            dims[label].add(d)
    # sessions, histograms and user activity carry no value their events' counts lack
    return {
        "service": set(services),
        "model": set(models),
        "user_type": set(user_types),
        "channel": set(channels),
        **dims,
    }


def _rewrite(delta: Delta, refused: Mapping[str, Mapping[str, str]]) -> dict[str, int]:
    """Replace refused values by ``other`` in every key; returns increments folded per label."""
    none: Mapping[str, str] = {}
    svc, mdl = refused.get("service", none), refused.get("model", none)
    ut, ch = refused.get("user_type", none), refused.get("channel", none)
    dims = {s: refused[label] for s, label in _DIM_LABEL.items() if label in refused}
    folded: dict[str, int] = {}
    counts: dict[Any, list[float]] = {}
    for key, (n, total) in delta.counts.items():
        b, s, series, m, d, u, c = key
        dm = dims.get(series, none)
        new = (b, svc.get(s, s), series, mdl.get(m, m), dm.get(d, d), ut.get(u, u), ch.get(c, c))
        if new != key:
            for label, old, value in (
                ("service", s, new[1]),
                ("model", m, new[3]),
                (_DIM_LABEL.get(series, ""), d, new[4]),
                ("user_type", u, new[5]),
                ("channel", c, new[6]),
            ):
                if old != value:
                    folded[label] = folded.get(label, 0) + int(n)
        cell = counts.get(new)
        if cell is None:
            counts[new] = [n, total]
        else:
            cell[0] += n
            cell[1] += total
    delta.counts = counts
    hist: dict[Any, int] = {}
    for (b, s, series, m, u, c, bin_), n in delta.hist.items():
        hkey = (b, svc.get(s, s), series, mdl.get(m, m), ut.get(u, u), ch.get(c, c), bin_)
        hist[hkey] = hist.get(hkey, 0) + n
    delta.hist = hist
    users: dict[tuple[int, str, str], int] = {}
    for (day, s, user), n in delta.users.items():
        ukey = (day, svc.get(s, s), user)
        users[ukey] = users.get(ukey, 0) + n
    delta.users = users
    sessions: dict[tuple[str, str], SessionDelta] = {}
    for sd in delta.sessions.values():
        sd.service = svc.get(sd.service, sd.service)
        if sd.user_type is not None:
            sd.user_type = ut.get(sd.user_type, sd.user_type)
        if sd.channel is not None:
            sd.channel = ch.get(sd.channel, sd.channel)
    merge_sessions(sessions, list(delta.sessions.values()))
    delta.sessions = sessions
    return folded


def _count_folds(conn: Connection, folded: Mapping[str, int]) -> None:
    mark = "?" if conn.dialect.name == "sqlite" else "%s"
    sql = (
        f"INSERT INTO label_overflow (label, folded, first_at) VALUES ({mark}, {mark}, {mark}) "
        "ON CONFLICT (label) DO UPDATE SET folded = label_overflow.folded + excluded.folded"
    )
    now = time.time()
    conn.exec_driver_sql(sql, [(label, n, now) for label, n in sorted(folded.items())])


def read_status(conn: Connection, caps: Mapping[str, int]) -> list[LabelStatus]:
    """Every label: its cap, the values admitted and the increments folded."""
    lv, lo = label_values.c, label_overflow.c
    counts = {
        str(label): int(n)
        for label, n in conn.execute(select(lv.label, func.count()).group_by(lv.label))
    }
    folded = dict(conn.execute(select(lo.label, lo.folded)).all())
    return [
        LabelStatus(label, caps[label], int(counts.get(label, 0)), int(folded.get(label, 0)))
        for label in LABELS
    ]
