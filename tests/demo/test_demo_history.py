"""The demo's history: ``--history`` in hours or days (7 days by default), the newest
day at the full rate and the older days thinned, each range of the dashboard filled."""

from __future__ import annotations

import time

import pytest
import typer
from sqlalchemy import func, select
from typer.testing import CliRunner

from chatwatch.cli import app as cli
from chatwatch.cli.demo import OLDER_SHARE, _history_hours, _older_streams
from chatwatch.demo.history import backfill
from chatwatch.store import Store
from chatwatch.store.schema import events


@pytest.mark.parametrize(
    ("text", "hours"), [("36", 36.0), ("36h", 36.0), ("7d", 168.0), ("0.5", 0.5), ("30d", 720.0)]
)
def test_history_reads_hours_or_days(text: str, hours: float) -> None:
    """A number or ``Nh`` is hours, ``Nd`` days."""
    assert _history_hours(text) == hours


@pytest.mark.parametrize("text", ["31d", "-1", "week", ""])
def test_a_bad_history_is_refused(text: str) -> None:
    """Past 30 days or not a duration: exit 2 naming --history."""
    with pytest.raises(typer.Exit) as exc:
        _history_hours(text)
    assert exc.value.exit_code == 2


def test_help_says_seven_days_by_default() -> None:
    """``chatwatch demo --help`` shows the 7d default."""
    out = CliRunner().invoke(cli, ["demo", "--help"], env={"COLUMNS": "200"}).output
    assert "7d" in out and "--history" in out


def test_older_days_are_backfilled_thinned_before_the_newest(sqlite_store: Store) -> None:
    """For 3 days of history, the thinned streams cover from 3 days ago up to where the
    newest day starts, at a tenth of the rate; a store that already holds them is not
    filled twice."""
    now = time.time()
    recent_start = now - 24 * 3600
    older = _older_streams(sqlite_store, 2.0 * OLDER_SHARE, 72.0, recent_start, seed=1)
    assert older is not None
    streams, start, end = older
    assert start == pytest.approx(now - 72 * 3600, abs=5) and end == pytest.approx(recent_start)
    stored = backfill(sqlite_store, streams, start, end)
    assert stored > 0
    with sqlite_store.read() as conn:
        low, high = conn.execute(select(func.min(events.c.ts), func.max(events.c.ts))).one()
    assert start <= low < start + 3 * 3600 and end - 3 * 3600 < high <= end
    assert sum(s.traffic.rate for s in streams) == pytest.approx(0.2)
    assert _older_streams(sqlite_store, 0.2, 72.0, recent_start, seed=1) is None
