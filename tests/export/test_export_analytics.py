"""Guide 000's analytics export, over HTTP and from the CLI."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import httpx
from typer.testing import CliRunner

from chatwatch.cli import app as cli
from chatwatch.events import parse_events
from chatwatch.server.keys import create_key
from chatwatch.store import Store

DAY1 = datetime(2025, 1, 1, 10, 0, tzinfo=UTC).timestamp()
DAY2 = datetime(2025, 1, 2, 23, 59, tzinfo=UTC).timestamp()


def _workload(store: Store) -> None:
    events = []
    for i in range(10):
        events.append(
            {
                "type": "turn",
                "id": f"a{i}",
                "ts": DAY1 + i,
                "response_time_ms": 100.0 * (i + 1),
                "success": i != 0,
                "tokens": 50,
            }
        )
    for i in range(4):
        events.append(
            {
                "type": "turn",
                "id": f"b{i}",
                "ts": DAY2 + i,
                "response_time_ms": 1000.0,
                "success": True,
            }
        )
    events.append({"type": "session_started", "id": "s1", "ts": DAY1, "session_id": "x"})
    store.ingest(parse_events(events))


def _rows(text: str) -> dict[str, dict[str, str]]:
    return {row["period"]: row for row in csv.DictReader(io.StringIO(text))}


def test_export_api_needs_a_token_and_returns_daily_csv(live) -> None:
    """The export answers 401 without a key and one CSV row per day with catalogue values."""
    store = live.app.state.chatwatch.store
    _workload(store)
    url = f"{live.url}/api/chat/analytics/export/?start_date=2025-01-01&end_date=2025-01-03"
    assert httpx.get(url).status_code == 401
    key = create_key(store, "read")
    response = httpx.get(url, headers={"Authorization": f"Token {key}"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = _rows(response.text)
    assert list(rows) == ["2025-01-01", "2025-01-02", "2025-01-03"]
    assert rows["2025-01-01"]["total_requests"] == "10"
    assert rows["2025-01-01"]["failed_requests"] == "1"
    assert float(rows["2025-01-01"]["error_rate"]) == 10.0
    assert float(rows["2025-01-01"]["avg_response_time_ms"]) == 550.0
    assert rows["2025-01-01"]["sessions"] == "1"
    assert rows["2025-01-02"]["total_requests"] == "4"
    assert rows["2025-01-03"]["total_requests"] == "0"
    assert rows["2025-01-03"]["avg_response_time_ms"] == ""


def test_export_api_names_the_bad_field(live) -> None:
    """Reversed or malformed dates get a 422 naming the parameter."""
    key = create_key(live.app.state.chatwatch.store, "read")
    headers = {"Authorization": f"Token {key}"}
    base = f"{live.url}/api/chat/analytics/export/"
    bad = httpx.get(f"{base}?start_date=2025-02-01&end_date=2025-01-01", headers=headers)
    assert bad.status_code == 422 and "end_date" in bad.text
    malformed = httpx.get(f"{base}?start_date=yesterday&end_date=2025-01-01", headers=headers)
    assert malformed.status_code == 422 and "start_date" in malformed.text


def test_export_cli_writes_csv(sqlite_url: str) -> None:
    """`chatwatch export` prints the same CSV and exits non-zero on a bad format."""
    store = Store(sqlite_url)
    _workload(store)
    store.close()
    runner = CliRunner()
    args = ["export", "--start-date", "2025-01-01", "--end-date", "2025-01-02", "--db", sqlite_url]
    result = runner.invoke(cli, [*args, "--format", "csv"])
    assert result.exit_code == 0, result.output
    rows = _rows(result.stdout)
    assert rows["2025-01-01"]["total_requests"] == "10"
    assert rows["2025-01-02"]["total_requests"] == "4"
    bad = runner.invoke(cli, [*args, "--format", "xml"])
    assert bad.exit_code == 2
    unwritable = runner.invoke(cli, [*args, "--output", "/nonexistent-dir/x.csv"])
    assert unwritable.exit_code == 2, unwritable.output  # not a FileNotFoundError's 1
    assert "--output: cannot write /nonexistent-dir/x.csv" in unwritable.output


def test_a_filter_a_column_cannot_honour_leaves_it_empty(sqlite_url: str) -> None:
    """--model narrows the turn columns; the session columns, which carry no model, are
    left empty instead of showing every model's sessions."""
    store = Store(sqlite_url)
    events = [
        {
            "type": "turn",
            "id": f"m{i}",
            "ts": DAY1 + i,
            "response_time_ms": 100.0,
            "model": "gpt-4o-mini" if i < 3 else "llama",
            "session_id": f"s{i}",
        }
        for i in range(5)
    ]
    store.ingest(parse_events(events))
    store.close()
    args = ["export", "--start-date", "2025-01-01", "--end-date", "2025-01-01", "--db", sqlite_url]
    runner = CliRunner()
    everything = _rows(runner.invoke(cli, args).stdout)["2025-01-01"]
    assert (everything["total_requests"], everything["sessions"]) == ("5", "5")
    narrowed = runner.invoke(cli, [*args, "--model", "gpt-4o-mini"])
    assert narrowed.exit_code == 0, narrowed.output
    row = _rows(narrowed.stdout)["2025-01-01"]
    assert row["total_requests"] == "3"
    assert row["sessions"] == "" and row["messages_per_session"] == ""
