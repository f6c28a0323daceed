"""``chatwatch demo``: the server on a SQLite file, fed with realistic synthetic traffic.

Two assistants like the guides' (``sophie``, a WebSocket support bot, and ``treq``, a RAG
service) get a backfilled history, written straight into the store, and then live
traffic sent through the SDK over HTTP, so every part of chatwatch has data to show.
"""

from __future__ import annotations

import contextlib
import random
import secrets
import signal
import socket
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer
import uvicorn
from rich.progress import (
    BarColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)
from sqlalchemy import delete, func, insert, select
from sqlalchemy.engine import make_url

from chatwatch.cli._app import app, console, err_console, settings_for
from chatwatch.cli.serve import HTTP_PROTOCOL
from chatwatch.dashboard.users import UserExists, create_user, set_password
from chatwatch.demo.history import Stream, backfill
from chatwatch.demo.live import LiveTraffic
from chatwatch.demo.traffic import Traffic
from chatwatch.sdk import Client
from chatwatch.server import create_app
from chatwatch.server.gc_tuning import tune_for_server
from chatwatch.server.keys import create_key, verify_key
from chatwatch.server.malloc_tuning import limit_malloc_arenas
from chatwatch.server.proxy import allowed_hosts
from chatwatch.store import Store
from chatwatch.store.engine import normalize_url
from chatwatch.store.schema import events
from chatwatch.store.schema import secrets as secrets_table

__all__ = ["DEMO_ALIASES", "SERVICES", "demo", "demo_key"]

# The share of the traffic each demo assistant gets.
SERVICES: dict[str, float] = {"sophie": 0.6, "treq": 0.4}
# Guide 003's per-model keys: model_8b_calls, model_70b_calls, model_glm4_calls.
DEMO_ALIASES: dict[str, str] = {
    "8b": "llama-3.1-8b-instant",
    "70b": "llama-3.3-70b-versatile",
    "glm4": "glm-4",
}
ADMIN = "admin"
# The newest day of history is backfilled at the full rate, first; older days follow at a
# tenth of it, so a week of history loads in about twice the time of one day.
RECENT_HOURS = 24.0
OLDER_SHARE = 0.1
_MAX_HOURS = 24.0 * 30


def _history_hours(text: str) -> float:
    """``36``, ``36h`` or ``7d`` → hours (an error naming --history otherwise)."""
    value = text.strip().lower()
    scale = 24.0 if value.endswith("d") else 1.0
    try:
        hours = float(value.rstrip("dh")) * scale
    except ValueError:
        hours = -1.0
    if not 0 <= hours <= _MAX_HOURS:
        err_console.print(
            f"--history must be hours (36 or 36h) or days (7d), at most 30d (got {text!r})",
            highlight=False,
            markup=False,
        )
        raise typer.Exit(2)
    return hours


@app.command()
def demo(
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on")] = 8000,
    db: Annotated[
        str, typer.Option("--db", help="SQLite file or database URL for the demo data")
    ] = "chatwatch-demo.db",
    rate: Annotated[
        float, typer.Option(min=0.01, max=500, help="Turns per second, all assistants together")
    ] = 0.5,
    history: Annotated[
        str,
        typer.Option(
            help="History to backfill: hours (36, 36h) or days (7d), at most 30d; the last "
            "24 h at the full rate, older days at a tenth of it"
        ),
    ] = "7d",
    seed: Annotated[int | None, typer.Option(help="Seed for reproducible traffic")] = None,
    reset: Annotated[bool, typer.Option(help="Delete the demo SQLite file first")] = False,
) -> None:
    """Start the server with synthetic chat traffic; prints the URLs, keys and login."""
    url = normalize_url(db)
    hours = _history_hours(history)
    _check_port(host, port)
    if reset:
        _remove_sqlite(url)
    settings = settings_for(url)
    if not settings.model_aliases:
        settings = settings.model_copy(update={"model_aliases": DEMO_ALIASES})
    # development mode: keyless reads from this machine (never writes), said in the banner
    settings = settings.model_copy(
        update={"dev_open_reads": True, "allowed_hosts": allowed_hosts(settings, host)}
    )
    store = Store(
        url,
        store_text=settings.store_text,
        minute_retention_s=settings.minute_retention_days * 86400,
        label_caps=settings.label_caps(),
    )
    ingest_key = demo_key(store, "ingest", "demo traffic")
    read_key = demo_key(store, "read", "demo reader")
    password = _admin_password(store)
    streams, start = _streams(store, rate, min(hours, RECENT_HOURS), seed)
    older = _older_streams(store, rate * OLDER_SHARE, hours, start, seed)
    application = create_app(settings, store)
    config = uvicorn.Config(
        application,
        host=host,
        port=port,
        log_level="warning",
        proxy_headers=False,
        http=HTTP_PROTOCOL,
    )
    server = uvicorn.Server(config)
    tune_for_server()  # the demo's process is the server's
    limit_malloc_arenas()
    base = f"http://{_connect_host(host)}:{port}"
    clients = [Client(base, ingest_key, service=s.service) for s in streams]
    live = LiveTraffic(list(zip(streams, clients, strict=True)))
    info = {"url": base, "ingest": ingest_key, "read": read_key, "password": password}
    stop = threading.Event()
    feeder = threading.Thread(
        target=_feed, args=(server, store, live, start, stop, info, url, older), daemon=True
    )
    feeder.start()
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        stop.set()
        feeder.join(timeout=30)
        live.stop(flush_timeout=0.5)
        store.close()
    console.print(f"stopped; the demo data stays in {db}", highlight=False, markup=False)


def _streams(
    store: Store, rate: float, hours: float, seed: int | None
) -> tuple[list[Stream], float]:
    """The demo assistants' traffic, starting ``hours`` ago (or where a last run stopped)."""
    now = time.time()
    start = now - hours * 3600
    last = _last_event_ts(store)
    if last is not None and last > start:
        console.print(f"continuing the stored history (last event {_ago(now - last)} ago)")
        start = last
    rng = random.Random(seed)
    streams = [
        Stream(
            name, Traffic(random.Random(rng.getrandbits(64)), time.time, rate * share, start=start)
        )
        for name, share in SERVICES.items()
    ]
    return streams, start


def _older_streams(
    store: Store, rate: float, hours: float, recent_start: float, seed: int | None
) -> tuple[list[Stream], float, float] | None:
    """The thinned traffic of the days before the newest one, when asked for and not
    already stored by an earlier run: (streams, start, end)."""
    now = time.time()
    start, end = now - hours * 3600, min(recent_start, now - RECENT_HOURS * 3600)
    if end - start < 60:
        return None
    first = _first_event_ts(store)
    if first is not None and first <= start + 3600:
        return None
    if first is not None:
        end = min(end, first)
    rng = random.Random(None if seed is None else seed + 1)
    streams = [
        Stream(
            name, Traffic(random.Random(rng.getrandbits(64)), time.time, rate * share, start=start)
        )
        for name, share in SERVICES.items()
    ]
    return streams, start, end


class _Stopped(Exception):
    pass


def _feed(
    server: uvicorn.Server,
    store: Store,
    live: LiveTraffic,
    start: float,
    stop: threading.Event,
    info: dict[str, str],
    url: str,
    older: tuple[list[Stream], float, float] | None = None,
) -> None:
    """Once the server listens: print where to look, write the newest day straight into
    the store (oldest first), go live, then backfill the thinned older days."""
    while not server.started:
        if server.should_exit or stop.is_set():
            return
        time.sleep(0.05)
    _announce(info, url)
    streams = [stream for stream, _ in live.pairs]
    try:
        if time.time() - start >= 60:
            _backfill(store, streams, start, stop)
    except _Stopped:
        return
    except Exception as exc:  # the live traffic still has something to show
        err_console.print(f"backfill stopped: {exc}", highlight=False, markup=False)
    console.print("history loaded; live traffic from now on", highlight=False, markup=False)
    live.start()
    if older is not None:
        try:
            _backfill_older(store, older, stop)
        except _Stopped:
            return
        except Exception as exc:
            err_console.print(f"older backfill stopped: {exc}", highlight=False, markup=False)


def _backfill_older(
    store: Store, older: tuple[list[Stream], float, float], stop: threading.Event
) -> None:
    streams, start, end = older

    def update(at: float, stored: int) -> None:
        if stop.is_set():
            raise _Stopped

    console.print(
        f"backfilling {_ago(end - start)} of older history at a tenth of the rate",
        highlight=False,
        markup=False,
    )
    stored = backfill(store, streams, start, end, on_progress=update)
    console.print(f"older history loaded ({stored:,} events)", highlight=False, markup=False)


def _backfill(store: Store, streams: list[Stream], start: float, stop: threading.Event) -> None:
    """Backfill up to now, then catch up with the clock, so live traffic continues the
    sessions still open without a gap."""
    columns = (
        TextColumn("backfilling {task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[events]:>9,} events"),
        TimeRemainingColumn(),
    )
    until = time.time()
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task(_ago(until - start) + " of traffic", total=until - start, events=0)

        def update(at: float, stored: int) -> None:
            if stop.is_set():
                raise _Stopped
            progress.update(task, completed=min(at, until) - start, events=stored)

        stored = backfill(store, streams, start, until, on_progress=update)
        at = until
        for _ in range(10):  # each round is shorter; a bound in case the store is slow
            if (now := time.time()) - at <= 1.0 or stop.is_set():
                break
            stored += backfill(store, streams, at, now)
            at = now
        progress.update(task, completed=until - start, events=stored)


def _announce(info: dict[str, str], url: str) -> None:
    base = info["url"]
    lines = [
        "",
        "chatwatch demo is running",
        f"  dashboard    {base}/chat/analytics/   (login: {ADMIN} / {info['password']})",
        f"  sessions     {base}/chat/analytics/sessions   (every run: /chat/analytics/r/<run_id>)",
        f"  metrics      {base}/monitoring/metrics",
        f"  summary      {base}/monitoring/stats/summary",
        f"  prometheus   {base}/metrics",
        f"  ingest key   {info['ingest']}",
        f"  read key     {info['read']}   (curl -H 'Authorization: Bearer <read key>' ...)",
        f"  database     {url}",
        "  development mode: keyless reads from this machine are open (dev_open_reads);",
        "                    writes and every other caller need a key",
        f"  traffic      {', '.join(SERVICES)}: history first, then live events through the SDK",
        "Ctrl+C to stop",
    ]
    for line in lines:
        console.print(line, highlight=False, markup=False, soft_wrap=True)


def demo_key(store: Store, scope: str, name: str) -> str:
    """The demo's key of ``scope``: the one kept from an earlier run while it still works
    (so runs do not pile up keys), else a new one, kept in the ``secrets`` table."""
    slot = f"demo_{scope}_key"
    with store.read() as conn:
        query = select(secrets_table.c.value).where(secrets_table.c.name == slot)
        kept = conn.execute(query).scalar()
    if kept is not None and verify_key(store, str(kept)) is not None:
        return str(kept)
    key = create_key(store, scope, name)
    with store.write() as conn:
        conn.execute(delete(secrets_table).where(secrets_table.c.name == slot))
        conn.execute(insert(secrets_table).values(name=slot, value=key, created_at=time.time()))
    return key


def _admin_password(store: Store) -> str:
    """A fresh password for the demo admin (created, or reset when the file is reused)."""
    password = secrets.token_urlsafe(12)
    try:
        create_user(store, ADMIN, password)
    except UserExists:
        set_password(store, ADMIN, password)
    return password


def _first_event_ts(store: Store) -> float | None:
    with store.read() as conn:
        value = conn.execute(select(func.min(events.c.ts))).scalar()
    return None if value is None else float(value)


def _last_event_ts(store: Store) -> float | None:
    with store.read() as conn:
        value = conn.execute(select(func.max(events.c.ts))).scalar()
    return None if value is None else float(value)


def _check_port(host: str, port: int) -> None:
    """Fail before the backfill, not after it, when the port is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            err_console.print(
                f"cannot listen on {host}:{port} ({exc.strerror}); try --port",
                highlight=False,
                markup=False,
            )
            raise typer.Exit(1) from None


def _remove_sqlite(url: str) -> None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        err_console.print("--reset only deletes a SQLite file; use a fresh database instead")
        raise typer.Exit(2)
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            Path(parsed.database + suffix).unlink()


def _connect_host(host: str) -> str:
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def _ago(seconds: float) -> str:
    if seconds >= 2 * 86400:
        return f"{seconds / 86400:.1f} days"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.0f} min"


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt
