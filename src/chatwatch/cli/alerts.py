"""Alert commands: ``check`` (guide 000's cron job and a Nagios plugin), ``rules check``,
``test-email``, ``silences``, ``prometheus-rules``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from chatwatch.alerts import (
    RulesError,
    create_silence,
    evaluate,
    expire_silence,
    list_silences,
    load_rules,
    parse_matcher,
)
from chatwatch.alerts.engine import Evaluation, Round
from chatwatch.alerts.notify.email import EmailError, new_message, send_message
from chatwatch.alerts.notify.format import fmt_value
from chatwatch.alerts.promrules import prometheus_rules_yaml
from chatwatch.alerts.rules import parse_duration
from chatwatch.alerts.state import StateRow
from chatwatch.cli._app import (
    UNKNOWN,
    DbOption,
    app,
    console,
    err_console,
    open_store,
    settings_for,
)

__all__ = ["check", "prometheus_rules", "test_email"]

RulesOption = Annotated[
    Path | None,
    typer.Option("--rules", help="Rules file (default: CHATWATCH_RULES_FILE or the shipped rules)"),
]
EXIT = {"ok": 0, "warning": 1, "critical": 2}
_OPS = {(True, False): "=", (False, False): "!=", (True, True): "=~", (False, True): "!~"}
_STYLE = {"firing": "bold red", "pending": "yellow", "resolved": "green", "no data": "dim"}

rules_app = typer.Typer(help="Alert rules.", no_args_is_help=True)
silences_app = typer.Typer(help="Silences: hold back notifications.", no_args_is_help=True)
app.add_typer(rules_app, name="rules")
app.add_typer(silences_app, name="silences")


def _labels(labels: dict[str, str]) -> str:
    text = " ".join(f"{k}={v}" for k, v in sorted(labels.items()) if k != "alertname")
    return text or "-"


def _evaluations_table(rows: list[Evaluation]) -> Table:
    table = Table(title="chatwatch alerts")
    for column in ("rule", "labels", "status", "value", "threshold", "samples"):
        table.add_column(column)
    for row in rows:
        style = _STYLE.get(row.status, "")
        table.add_row(
            row.rule,
            _labels(row.labels),
            f"[{style}]{row.status}[/]" if style else row.status,
            fmt_value(row.value, row.unit),
            fmt_value(row.threshold, row.unit) if row.threshold is not None else "-",
            "-" if row.samples is None else f"{row.samples:,.0f}",
        )
    return table


def _evaluation_lines(rows: list[Evaluation]) -> list[str]:
    """Without a terminal: one full line per rule and label set, nothing cut."""
    return [
        f"{row.rule} {_labels(row.labels)} {row.status} value={fmt_value(row.value, row.unit)}"
        f" threshold={fmt_value(row.threshold, row.unit)}"
        + ("" if row.samples is None else f" samples={row.samples:.0f}")
        for row in rows
    ]


def _where(row: StateRow) -> str:
    parts = [f"{k}={row.labels[k]}" for k in ("service", "model") if k in row.labels]
    return f"[{','.join(parts)}]" if parts else ""


def _unknown(message: str) -> typer.Exit:
    err_console.print(f"UNKNOWN: {message}", highlight=False, markup=False, soft_wrap=True)
    return typer.Exit(UNKNOWN)


@app.command()
def check(
    db: DbOption = None,
    rules: RulesOption = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only the summary line")] = False,
    keep: Annotated[
        bool,
        typer.Option("--store", help="Store states and notify even with --rules of your own"),
    ] = False,
) -> None:
    """Evaluate every rule once, notify, print the states; exit 0 ok, 1 warning, 2 critical,
    3 unknown: the rules or the database could not be read (for cron, and as a Nagios
    plugin). With ``--rules`` that are not the server's, a dry run: printed, nothing
    stored or sent (unless ``--store``)."""
    settings = settings_for(db)
    try:
        served = load_rules(settings.rules_file)
        loaded = load_rules(rules) if rules else served
    except RulesError as exc:
        raise _unknown(str(exc)) from None
    dry = loaded != served and not keep
    store = open_store(settings.database_url)
    try:
        result = evaluate(store, settings, loaded, process_rules=False, dry=dry)
    except Exception as exc:
        raise _unknown(f"cannot evaluate: {type(exc).__name__}: {exc}") from None
    finally:
        store.close()
    if dry:
        typer.echo("(dry run: these rules are not the server's; nothing stored or sent)")
    _print_round(result, quiet)
    raise typer.Exit(EXIT[result.worst])


def _print_round(result: Round, quiet: bool) -> None:
    if result.skipped:
        console.print("another process is evaluating; nothing done this time")
    firing = [r for r in result.states if r.state == "firing"]
    pending = sum(r.state == "pending" for r in result.states)
    no_data = sum(e.status == "no data" for e in result.evaluations)
    names = ", ".join(f"{r.rule}{_where(r)} {fmt_value(r.value, r.unit)}" for r in firing)
    delivery = result.delivery
    # Nagios reads the first line: status, what fires, then the counts
    typer.echo(
        f"{result.worst.upper()}: {len(firing)} firing{': ' + names if names else ''}; "
        f"{pending} pending; {no_data} no data; {result.notifications} notification(s), "
        f"{delivery.sent} delivered, {delivery.failed} failed (retried later)"
    )
    if quiet or not result.evaluations:
        return
    if console.is_terminal:
        console.print(_evaluations_table(result.evaluations))
    else:
        for line in _evaluation_lines(result.evaluations):
            typer.echo(line)


@rules_app.command("check")
def rules_check(
    file: Annotated[Path, typer.Argument(help="The rules file (YAML) to validate")],
) -> None:
    """Validate a rules file; exits 1 naming the rule and field of the first problem."""
    try:
        loaded = load_rules(file)
    except RulesError as exc:
        err_console.print(f"[red]invalid[/]: {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    table = Table()
    for column in ("rule", "metric", "warning", "critical", "window", "for", "by"):
        table.add_column(column)
    for r in loaded:
        table.add_row(
            r.name,
            r.metric,
            f"{r.comparison} {r.warning:g}" if r.warning is not None else "-",
            f"{r.comparison} {r.critical:g}" if r.critical is not None else "-",
            r.window,
            f"{r.for_s:g}s",
            ",".join(r.by) or "-",
        )
    console.print(table)
    console.print(f"{len(loaded)} rules OK: {file}", highlight=False, soft_wrap=True)


@app.command("test-email")
def test_email(
    to: Annotated[
        list[str] | None, typer.Option("--to", help="Recipient (default: CHATWATCH_ALERT_EMAILS)")
    ] = None,
    db: DbOption = None,
) -> None:
    """Send a test message through the configured SMTP server."""
    settings = settings_for(db)
    if to:
        settings = settings.model_copy(update={"alert_emails": list(to)})
    message = new_message(settings, "[TEST] chatwatch alert e-mail")
    message.set_content(
        "This is a test message from chatwatch.\n\n"
        f"SMTP: {settings.smtp_host}:{settings.smtp_port} ({settings.smtp_security})\n"
        "If you can read this, alert e-mails will arrive.\n"
    )
    try:
        send_message(settings, message)
    except EmailError as exc:
        err_console.print(f"[red]failed[/]: {exc}", highlight=False)
        raise typer.Exit(1) from None
    console.print(f"sent a test message to {', '.join(settings.alert_emails)}")


@silences_app.command("create")
def silences_create(
    match: Annotated[
        list[str], typer.Option("--match", "-m", help="name=value, name!=value, name=~regex")
    ],
    duration: Annotated[str | None, typer.Option(help="How long, e.g. 2h")] = None,
    until: Annotated[
        datetime | None, typer.Option(help="End time (UTC), instead of --duration")
    ] = None,
    comment: Annotated[str, typer.Option(help="Why")] = "",
    by: Annotated[str, typer.Option("--by", help="Who")] = "",
    db: DbOption = None,
) -> None:
    """Hold back notifications of matching alerts until the silence ends."""
    try:
        matchers = [parse_matcher(m) for m in match]
        if (duration is None) == (until is None):
            raise ValueError("give --duration or --until (one of them)")
        now = datetime.now(UTC)
        ends = now + timedelta(seconds=parse_duration(duration)) if duration else until
        assert ends is not None
        if ends.tzinfo is None:
            ends = ends.replace(tzinfo=UTC)
    except ValueError as exc:
        err_console.print(str(exc), highlight=False)
        raise typer.Exit(2) from None
    store = open_store(settings_for(db).database_url)
    try:
        silence = create_silence(store, matchers, ends_at=ends, created_by=by, comment=comment)
    except ValueError as exc:
        err_console.print(str(exc), highlight=False)
        raise typer.Exit(2) from None
    finally:
        store.close()
    console.print(f"silence {silence.id} until {silence.ends_at:%Y-%m-%d %H:%M UTC}")


@silences_app.command("list")
def silences_list(
    all: Annotated[bool, typer.Option("--all", help="Expired ones too")] = False,
    db: DbOption = None,
) -> None:
    """Pending and active silences."""
    store = open_store(settings_for(db).database_url)
    try:
        found = list_silences(store, active=not all)
    finally:
        store.close()
    table = Table(title=f"{len(found)} silence(s)")
    for column in ("id", "matchers", "status", "starts", "ends", "by", "comment"):
        table.add_column(column)
    for s in found:
        matchers = " ".join(
            f"{m.name}{_OPS[(m.is_equal, m.is_regex)]}{m.value}" for m in s.matchers
        )
        table.add_row(
            s.id,
            matchers,
            s.status(),
            f"{s.starts_at:%Y-%m-%d %H:%M}",
            f"{s.ends_at:%Y-%m-%d %H:%M}",
            s.created_by or "-",
            s.comment or "-",
        )
    console.print(table)


@silences_app.command("expire")
def silences_expire(
    silence_id: Annotated[str, typer.Argument(help="The silence's id")],
    db: DbOption = None,
) -> None:
    """End a silence now."""
    store = open_store(settings_for(db).database_url)
    try:
        done = expire_silence(store, silence_id)
    finally:
        store.close()
    if not done:
        err_console.print(f"no active or pending silence {silence_id}")
        raise typer.Exit(1)
    console.print(f"silence {silence_id} expired")


@app.command("prometheus-rules")
def prometheus_rules(
    rules: RulesOption = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="File to write (default: stdout)")
    ] = None,
    group: Annotated[str, typer.Option(help="Rule group name")] = "chatwatch",
) -> None:
    """Write the alert rules as a Prometheus alerting-rules file (promtool-checkable)."""
    settings = settings_for(None)
    try:
        loaded = load_rules(rules or settings.rules_file)
    except RulesError as exc:
        err_console.print(f"invalid rules: {exc}", highlight=False)
        raise typer.Exit(1) from None
    text = prometheus_rules_yaml(loaded, group)
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        console.print(f"wrote {out}")
