"""Raw exports over HTTP, the CLI and Django: every type and format, each filter, exact
against the events the test sent; the right key scope."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from chatwatch.cli import app as cli
from chatwatch.config import Settings
from chatwatch.export import COLUMNS
from chatwatch.server import create_app
from chatwatch.server.keys import create_key
from chatwatch.store.schema import alert_history
from data_workload import BEFORE, D1, D2, DAY1, DAY2, of_type, post, workload
from live_server import LiveServer

EVENTS = workload()
RAW = {
    "turns": "turn",
    "llm_calls": "llm_call",
    "rag_searches": "rag_search",
    "feedback": "feedback",
    "escalations": "escalation",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    url = f"sqlite:///{tmp_path_factory.mktemp('export') / 'cw.db'}"
    # the workload is dated March 2025: past the 30 days an HTTP batch may reach back
    app = create_app(
        Settings(database_url=url, alerts_enabled=False, event_retention_days=3650, _env_file=None)
    )  # type: ignore[call-arg]
    live = LiveServer(app).start()
    store = app.state.chatwatch.store
    post(live.url, create_key(store, "ingest"), EVENTS)
    with store.write() as conn:
        conn.execute(
            alert_history.insert(),
            [
                {
                    "ts": DAY1 + 60,
                    "rule": "error_rate",
                    "fingerprint": "f1",
                    "labels": json.dumps({"service": "svc-a"}),
                    "from_state": "inactive",
                    "to_state": "firing",
                    "level": "warning",
                    "value": 12.5,
                    "threshold": 5.0,
                },
                {
                    "ts": DAY2 + 60,
                    "rule": "error_rate",
                    "fingerprint": "f2",
                    "labels": json.dumps({"service": "svc-b"}),
                    "from_state": "firing",
                    "to_state": "resolved",
                    "level": None,
                    "value": 1.0,
                    "threshold": 5.0,
                },
            ],
        )
    yield {
        "url": live.url,
        "read": create_key(store, "read"),
        "store": store,
        "db": url,
        "ingest": create_key(store, "ingest"),
        "admin": create_key(store, "admin"),
    }
    live.stop()
    store.close()


def _get(server: dict[str, Any], key: str = "read", **params: Any) -> httpx.Response:
    query = {"start_date": D1, "end_date": D2, **params}
    headers = {"Authorization": f"Token {server[key]}"}
    return httpx.get(
        f"{server['url']}/api/chat/analytics/export/", params=query, headers=headers, timeout=30
    )


def _parse(body: bytes, fmt: str) -> list[dict[str, Any]]:
    text = body.decode()
    if fmt == "csv":
        return list(csv.DictReader(io.StringIO(text)))
    if fmt == "jsonl":
        return [json.loads(line) for line in text.splitlines()]
    doc = json.loads(text)
    rows: list[dict[str, Any]] = doc["rows"]
    return rows


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "json"])
@pytest.mark.parametrize("kind", sorted(RAW))
def test_each_event_type_exports_every_event_with_its_fields(
    server: dict[str, Any], kind: str, fmt: str
) -> None:
    """Each raw type lists exactly the events of that type sent, in time order, with the
    type's columns and the values sent."""
    response = _get(server, type=kind, format=fmt)
    assert response.status_code == 200, response.text
    assert f"chat-{kind}-{D1}-{D2}.{fmt}" in response.headers["content-disposition"]
    rows = _parse(response.content, fmt)
    sent = sorted(of_type(EVENTS, RAW[kind]), key=lambda e: (e["ts"], e["id"]))
    assert [r["id"] for r in rows] == [e["id"] for e in sent]
    assert set(rows[0]) == set(COLUMNS[kind])
    by_id = {e["id"]: e for e in sent}
    for row in rows:
        e = by_id[row["id"]]
        for column in ("service", "session_id", "user_id", "user_type", "run_id"):
            assert str(row[column]) == str(e[column]) if column in e else row[column] in ("", None)
    if kind == "turns":
        for row in rows:
            e = by_id[row["id"]]
            expected = "true" if e["success"] else "false"
            assert str(row["success"]).lower() == expected
            assert float(row["response_time_ms"]) == e["response_time_ms"]
            assert row["topic"] == e["topic"]
    if kind == "llm_calls":
        assert all(float(r["cost_usd"]) > 0 for r in rows)  # priced at ingest


def _cell(value: Any) -> str:
    """A value as CSV writes it (empty for absent, booleans in lower case)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@pytest.mark.parametrize("kind", sorted(COLUMNS))
def test_every_type_reads_the_same_in_every_format(server: dict[str, Any], kind: str) -> None:
    """Each of the nine types, with a filter, gives the same rows with the type's columns
    in CSV, JSONL and JSON (the CSV header in the documented order)."""
    params = {"type": kind, "service": "svc-b"}
    by_format = {}
    for fmt in ("csv", "jsonl", "json"):
        response = _get(server, format=fmt, **params)
        assert response.status_code == 200, (fmt, response.text)
        by_format[fmt] = _parse(response.content, fmt)
    header = _get(server, format="csv", **params).text.splitlines()[0]
    assert header.split(",") == list(COLUMNS[kind])
    assert by_format["csv"], kind
    typed = [{k: _cell(v) for k, v in row.items()} for row in by_format["jsonl"]]
    assert typed == [{k: _cell(v) for k, v in row.items()} for row in by_format["json"]]
    assert typed == by_format["csv"]


def _day(e: dict[str, Any]) -> str:
    return D1 if e["ts"] < DAY2 - 8 * 3600 else D2


RAW_FILTERS: list[tuple[dict[str, str], Any]] = [
    ({"service": "svc-b"}, lambda e: e["service"] == "svc-b"),
    ({"user_id": "user-3"}, lambda e: e["user_id"] == "user-3"),
    ({"user_type": "premium"}, lambda e: e["user_type"] == "premium"),
    ({"start_date": D2}, lambda e: _day(e) == D2),
    ({"end_date": D1}, lambda e: _day(e) == D1),
    (
        {"service": "svc-a", "user_type": "customer", "start_date": D2},
        lambda e: e["service"] == "svc-a" and e["user_type"] == "customer" and _day(e) == D2,
    ),
]


@pytest.mark.parametrize(("params", "keep"), RAW_FILTERS)
@pytest.mark.parametrize("kind", sorted(RAW))
def test_every_raw_type_keeps_exactly_the_filtered_events(
    server: dict[str, Any], kind: str, params: dict[str, str], keep: Any
) -> None:
    """Service, user, user type and date range (and their combination) keep exactly the
    matching events of every raw type, in time order."""
    rows = _parse(_get(server, type=kind, format="jsonl", **params).content, "jsonl")
    sent = sorted(of_type(EVENTS, RAW[kind]), key=lambda e: (e["ts"], e["id"]))
    expected = [e["id"] for e in sent if keep(e)]
    assert expected or kind == "escalations"  # svc-b has no escalation
    assert [r["id"] for r in rows] == expected


@pytest.mark.parametrize(
    ("params", "keep"),
    [
        ({"model": "gpt-4o-mini"}, lambda e: e["model"] == "gpt-4o-mini"),
        ({"success": "false"}, lambda e: not e["success"]),
        (
            {"success": "true", "user_id": "user-1"},
            lambda e: e["success"] and e["user_id"] == "user-1",
        ),
    ],
)
def test_llm_call_filters(server: dict[str, Any], params: dict[str, str], keep: Any) -> None:
    """Model and success keep exactly the matching LLM calls."""
    rows = _parse(_get(server, type="llm_calls", format="csv", **params).content, "csv")
    sent = sorted(of_type(EVENTS, "llm_call"), key=lambda e: (e["ts"], e["id"]))
    expected = [e["id"] for e in sent if keep(e)]
    assert expected
    assert [r["id"] for r in rows] == expected


@pytest.mark.parametrize("kind", sorted(COLUMNS))
def test_an_ingest_key_is_refused_every_type(server: dict[str, Any], kind: str) -> None:
    """An ingest key gets 403 naming the scope needed for every type and format, and
    no row; a read key gets them."""
    for fmt in ("csv", "jsonl", "json"):
        refused = _get(server, "ingest", type=kind, format=fmt)
        assert refused.status_code == 403
        assert "read" in refused.json()["detail"]
        assert _get(server, "read", type=kind, format=fmt).status_code == 200


@pytest.mark.parametrize(
    ("params", "keep"),
    [
        ({"service": "svc-b"}, lambda e: e["service"] == "svc-b"),
        ({"model": "gpt-4o-mini"}, lambda e: e["model"] == "gpt-4o-mini"),
        ({"user_id": "user-3"}, lambda e: e["user_id"] == "user-3"),
        ({"user_type": "premium"}, lambda e: e["user_type"] == "premium"),
        ({"success": "false"}, lambda e: not e["success"]),
        ({"topic": "tech"}, lambda e: e["topic"] == "tech"),
        ({"start_date": D2}, lambda e: e["ts"] >= DAY2 - 8 * 3600),
        ({"end_date": D1}, lambda e: e["ts"] < DAY2 - 8 * 3600),
        (
            {"service": "svc-a", "success": "true", "topic": "billing"},
            lambda e: e["service"] == "svc-a" and e["success"] and e["topic"] == "billing",
        ),
    ],
)
def test_turn_filters_keep_exactly_the_matching_turns(
    server: dict[str, Any], params: dict[str, str], keep: Any
) -> None:
    """Every filter (and their combination) keeps exactly the turns that match it."""
    rows = _parse(_get(server, type="turns", format="jsonl", **params).content, "jsonl")
    expected = [e["id"] for e in sorted(of_type(EVENTS, "turn"), key=lambda e: e["ts"]) if keep(e)]
    assert expected
    assert [r["id"] for r in rows] == expected


def _sessions() -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for e in EVENTS:
        s = out.setdefault(
            e["session_id"],
            {"errors": 0, "turns": 0, "topics": set(), "models": set(), "ratings": 0, **e},
        )
        if e["type"] == "turn":
            s["turns"] += 1
            s["errors"] += not e["success"]
            s["topics"].add(e["topic"])
            s["models"].add(e["model"])
        s["ratings"] += e["type"] == "feedback"
        s["escalated"] = s.get("escalated", False) or e["type"] == "escalation"
    return out


@pytest.mark.parametrize(
    ("params", "keep"),
    [
        ({}, lambda s: True),
        ({"success": "false"}, lambda s: s["errors"] > 0),
        ({"success": "true"}, lambda s: s["errors"] == 0),
        ({"topic": "returns"}, lambda s: "returns" in s["topics"]),
        ({"model": "gpt-4o-mini"}, lambda s: "gpt-4o-mini" in s["models"]),
        (
            {"user_type": "premium", "service": "svc-b"},
            lambda s: s["user_type"] == "premium" and s["service"] == "svc-b",
        ),
    ],
)
def test_session_rows_match_the_sessions_sent(
    server: dict[str, Any], params: dict[str, str], keep: Any
) -> None:
    """Sessions export one row per session with its counts, filtered like the turns."""
    rows = _parse(_get(server, type="sessions", format="csv", **params).content, "csv")
    expected = {sid: s for sid, s in _sessions().items() if keep(s)}
    assert {r["session_id"] for r in rows} == set(expected)
    for r in rows:
        s = expected[r["session_id"]]
        assert (int(r["turns"]), int(r["errors"]), int(r["rating_n"])) == (
            s["turns"],
            s["errors"],
            s["ratings"],
        )
        assert bool(r["escalated_at"]) == s["escalated"]
        assert r["started_at"][:10] in (D1, D2)


def test_alert_transitions_and_daily_figures(server: dict[str, Any]) -> None:
    """Alerts list the stored transitions (by service label); daily/hourly are the
    catalogue's figures (turns per day) in every format."""
    rows = _parse(_get(server, type="alerts", format="json").content, "json")
    assert [(r["fingerprint"], r["to_state"]) for r in rows] == [
        ("f1", "firing"),
        ("f2", "resolved"),
    ]
    rows = _parse(_get(server, type="alerts", format="csv", service="svc-b").content, "csv")
    assert [r["fingerprint"] for r in rows] == ["f2"]
    turns = of_type(EVENTS, "turn")
    day1 = sum(e["ts"] < DAY2 - 8 * 3600 for e in turns)
    for fmt in ("csv", "jsonl", "json"):
        rows = _parse(_get(server, type="daily", format=fmt).content, fmt)
        assert [int(r["total_requests"]) for r in rows] == [day1, len(turns) - day1]
    hourly = _parse(_get(server, type="hourly", format="jsonl").content, "jsonl")
    assert len(hourly) == 48 and sum(int(r["total_requests"]) for r in hourly) == len(turns)
    old = _parse(_get(server, granularity="hour", format="csv").content, "csv")
    assert len(old) == 48


def test_export_scopes_and_bad_input(server: dict[str, Any]) -> None:
    """No key 401, an ingest key 403, read and admin keys 200; a bad type, format or
    range is a 422 naming the field."""
    url = f"{server['url']}/api/chat/analytics/export/"
    params = {"start_date": D1, "end_date": D2, "type": "turns"}
    assert httpx.get(url, params=params).status_code == 401
    assert _get(server, "ingest", type="turns").status_code == 403
    assert _get(server, "admin", type="turns").status_code == 200
    for bad, field in (
        ({"type": "bogus"}, "type"),
        ({"format": "xml"}, "format"),
        ({"end_date": BEFORE}, "end_date"),
    ):
        response = _get(server, **{"type": "turns", **bad})
        assert response.status_code == 422
        assert field in json.dumps(response.json()["detail"])


def _django_settings() -> Any:
    django = pytest.importorskip("django")
    from django.conf import settings as dj

    if not dj.configured:  # the settings tests/alerts and tests/integrations use
        dj.configure(
            INSTALLED_APPS=[
                "django.contrib.auth",
                "django.contrib.contenttypes",
                "chatwatch.integrations.django",
            ],
            ROOT_URLCONF="chatwatch.integrations.django.urls",
            LOGIN_URL="/admin/login/",
            ALLOWED_HOSTS=["testserver"],
            CHATWATCH={},
        )
        django.setup()
    return dj


def test_cli_and_django_take_the_same_options(
    server: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``chatwatch export --type turns --format jsonl`` with filters writes the same rows
    as the API; the Django command passes the same options through."""
    out = tmp_path / "turns.jsonl"
    args = [
        "export",
        "--start-date",
        D1,
        "--end-date",
        D2,
        "--type",
        "turns",
        "--format",
        "jsonl",
        "--service",
        "svc-a",
        "--failed",
        "--db",
        server["db"],
        "-o",
        str(out),
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    rows = _parse(out.read_bytes(), "jsonl")
    expected = [
        e["id"]
        for e in sorted(of_type(EVENTS, "turn"), key=lambda e: e["ts"])
        if e["service"] == "svc-a" and not e["success"]
    ]
    assert [r["id"] for r in rows] == expected
    bad = CliRunner().invoke(cli, [*args[:5], "--type", "nope", "--db", server["db"]])
    assert bad.exit_code == 2 and "--type" in bad.output

    dj = _django_settings()
    from django.core.management import call_command

    monkeypatch.setattr(dj, "CHATWATCH", {"DATABASE_URL": server["db"]})
    dj_out = tmp_path / "dj.csv"
    call_command(
        "export_chat_analytics",
        start_date=D1,
        end_date=D2,
        type="sessions",
        format="csv",
        service="svc-b",
        user_type="premium",
        output=str(dj_out),
    )
    rows = _parse(dj_out.read_bytes(), "csv")
    expected_sessions = {
        sid
        for sid, s in _sessions().items()
        if s["service"] == "svc-b" and s["user_type"] == "premium"
    }
    assert {r["session_id"] for r in rows} == expected_sessions


def test_parquet_export_with_the_extra(server: dict[str, Any], tmp_path: Path) -> None:
    """With pyarrow installed, a Parquet export holds the same rows, typed columns."""
    pq = pytest.importorskip("pyarrow.parquet")
    response = _get(server, type="turns", format="parquet", service="svc-b")
    assert response.status_code == 200
    path = tmp_path / "turns.parquet"
    path.write_bytes(response.content)
    table = pq.read_table(path)
    expected = [
        e
        for e in sorted(of_type(EVENTS, "turn"), key=lambda e: (e["ts"], e["id"]))
        if e["service"] == "svc-b"
    ]
    assert table.column("id").to_pylist() == [e["id"] for e in expected]
    assert table.column("success").to_pylist() == [e["success"] for e in expected]
    assert table.column("tokens").to_pylist() == [e["tokens"] for e in expected]


def test_the_django_command_has_every_option_of_the_cli(
    server: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``export_chat_analytics`` parses every option ``chatwatch export`` has (long names
    and the --success/--failed pair); --granularity hour, --failed and --model pass
    through to the same rows."""
    import typer.main

    dj = _django_settings()
    from django.core.management import call_command, load_command_class

    command: Any = typer.main.get_command(cli)
    cli_options = {
        o
        for p in command.commands["export"].params
        for o in [*p.opts, *getattr(p, "secondary_opts", [])]
        if o.startswith("--") and o != "--help"
    }
    django_command = load_command_class("chatwatch.integrations.django", "export_chat_analytics")
    parser = django_command.create_parser("manage.py", "export_chat_analytics")
    known = set(parser._option_string_actions)
    assert cli_options - known == set()
    assert {"--granularity", "--service", "--model", "--user-id", "--failed"} <= cli_options

    monkeypatch.setattr(dj, "CHATWATCH", {"DATABASE_URL": server["db"]})
    out = tmp_path / "hourly.csv"
    call_command(
        "export_chat_analytics",
        "--start-date",
        D1,
        "--end-date",
        D2,
        "--granularity",
        "hour",
        "--output",
        str(out),
    )
    assert len(_parse(out.read_bytes(), "csv")) == 48
    out = tmp_path / "calls.jsonl"
    call_command(
        "export_chat_analytics",
        "--start-date",
        D1,
        "--end-date",
        D2,
        "--type",
        "llm_calls",
        "--format",
        "jsonl",
        "--model",
        "gpt-4o-mini",
        "--failed",
        "--output",
        str(out),
    )
    expected = [
        e["id"]
        for e in sorted(of_type(EVENTS, "llm_call"), key=lambda e: (e["ts"], e["id"]))
        if e["model"] == "gpt-4o-mini" and not e["success"]
    ]
    assert expected
    assert [r["id"] for r in _parse(out.read_bytes(), "jsonl")] == expected
