"""A real Prometheus scrapes the live server, and guide 000's four Grafana queries give
what the catalogue says (skipped when Debian's ``prometheus`` package is not installed)."""

from __future__ import annotations

import math
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from chatwatch.config import Settings
from chatwatch.events import parse_events
from chatwatch.server import create_app
from chatwatch.server.keys import create_key
from chatwatch.store import Filters
from live_server import free_port

PROMETHEUS = Path("/usr/bin/prometheus")
BOUNDS = (0.1, 0.5, 1.0, 2.0, 5.0, 10.0, math.inf)
SCRAPE_S = 1

pytestmark = pytest.mark.skipif(
    not PROMETHEUS.exists(),
    reason="Debian's prometheus package is not installed (/usr/bin/prometheus); "
    ".ci/run installs it",
)


def _event(kind: str, session: str, **fields: Any) -> dict[str, Any]:
    base = {"id": uuid.uuid4().hex, "ts": datetime.now(UTC).isoformat(), "type": kind}
    return {**base, "service": "support", "session_id": session, "user_type": "free", **fields}


def _turns(session: str, times_ms: list[float], failed_every: int) -> list[dict[str, Any]]:
    out = []
    for i, rt in enumerate(times_ms):
        fail = i % failed_every == 0
        extra = {"success": False, "error_type": "Timeout"} if fail else {}
        out.append(_event("turn", session, response_time_ms=rt, **extra))
    return out


class Prom:
    """A Prometheus process scraping one target, and its HTTP query API."""

    def __init__(self, tmp: Path, target: str, port: int, key: str) -> None:
        config = tmp / "prometheus.yml"
        config.write_text(
            f"global:\n  scrape_interval: {SCRAPE_S}s\n  evaluation_interval: {SCRAPE_S}s\n"
            "scrape_configs:\n  - job_name: chat_metrics\n"
            f"    scrape_interval: {SCRAPE_S}s\n"
            f"    authorization:\n      type: Bearer\n      credentials: {key}\n"
            "    static_configs:\n"
            f"      - targets: ['{target}']\n"
        )
        self.url = f"http://127.0.0.1:{port}"
        self.log = (tmp / "prometheus.log").open("w")
        self.proc = subprocess.Popen(
            [
                str(PROMETHEUS),
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def query(self, expr: str) -> list[dict[str, Any]]:
        response = httpx.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=5)
        body = response.json()
        assert body["status"] == "success", body
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def wait(self, check: Callable[[], bool], what: str, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"prometheus exited: {self.proc.returncode}")
            try:
                if check():
                    return
            except (httpx.HTTPError, LookupError, ValueError):  # not up or not scraped yet
                pass
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}")

    def scrapes_after(self, since: float) -> Callable[[], bool]:
        """True once a scrape that started after ``since`` has been stored."""

        def check() -> bool:
            up = self.query('timestamp(up{job="chat_metrics"})')
            return bool(up) and float(up[0]["value"][1]) > since

        return check

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


@pytest.fixture
def prom_and_server(tmp_path: Path, make_server: Any) -> Iterator[tuple[Prom, Any, Any]]:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'cw.db'}", _env_file=None)  # type: ignore[call-arg]
    app = create_app(settings)
    server = make_server(app).start()
    key = create_key(app.state.chatwatch.store, "read", "prometheus")
    prom = Prom(tmp_path, f"127.0.0.1:{server.port}", free_port(), key)
    yield prom, server, app.state.chatwatch
    prom.stop()
    server.stop()
    app.state.chatwatch.store.close()


def _prom_quantile(q: float, cumulative: list[float]) -> float:
    """Prometheus's histogram_quantile over cumulative bucket counts (linear in a bucket)."""
    rank = q * cumulative[-1]
    for i, count in enumerate(cumulative):
        if count >= rank:
            if math.isinf(BOUNDS[i]):
                return BOUNDS[i - 1]
            lower = 0.0 if i == 0 else BOUNDS[i - 1]
            below = 0.0 if i == 0 else cumulative[i - 1]
            return lower + (BOUNDS[i] - lower) * (rank - below) / (count - below)
    raise AssertionError("no bucket")


def test_guide_000_grafana_queries_against_a_real_prometheus(
    prom_and_server: tuple[Prom, Any, Any],
) -> None:
    """The four panels: active sessions, p95 from the buckets, error and message rates."""
    prom, _server, st = prom_and_server
    times = [40.0, 80.0, 300.0, 450.0, 700.0, 900.0, 1500.0, 3000.0, 7000.0, 12000.0] * 4
    first = [
        _event("session_started", "a", channel="websocket"),
        _event("session_started", "b", channel="websocket"),
        _event("connection", "a", action="connect"),
        *_turns("a", times, failed_every=8),
    ]
    st.store.ingest(parse_events(first))
    prom.wait(lambda: prom.query("up")[0]["value"][1] == "1", "the first scrape")
    prom.wait(lambda: bool(prom.query("chat_errors_total")), "chat_errors_total")
    t_more = time.time()
    prom.wait(prom.scrapes_after(t_more), "a second scrape")

    # increments between scrapes: 10 more turns (20 messages), 5 of them failed
    more = _turns("b", [600.0] * 10, failed_every=2)
    st.store.ingest(parse_events(more))
    after = time.time()
    prom.wait(prom.scrapes_after(after + SCRAPE_S), "scrapes after the increments")

    cat = st.catalogue
    reading = cat.reading("1h", Filters(service="support"))

    active = prom.query("chat_active_sessions")
    assert [(s["metric"]["service"], float(s["value"][1])) for s in active] == [
        ("support", cat.value("active_sessions", reading))
    ]

    p95 = prom.query("histogram_quantile(0.95, chat_response_time_seconds_bucket)")
    assert len(p95) == 1 and p95[0]["metric"]["service"] == "support"
    got = float(p95[0]["value"][1])
    all_times = sorted([*times, *[600.0] * 10])
    cumulative = [float(sum(t / 1000 <= b for t in all_times)) for b in BOUNDS]
    assert got == pytest.approx(_prom_quantile(0.95, cumulative))
    catalogue_p95 = cat.value("p95_response_time_ms", cat.reading("all"))
    assert catalogue_p95 is not None
    bucket = next(i for i, b in enumerate(BOUNDS) if catalogue_p95 / 1000 <= b)
    assert (BOUNDS[bucket - 1] if bucket else 0.0) <= got <= BOUNDS[bucket]

    _check_rate(prom, "chat_errors_total", "rate(chat_errors_total[5m])", 5)
    _check_rate(prom, "chat_messages_total", "rate(chat_messages_total[1m])", 20)
    failed = cat.value("failed_requests", cat.reading("1h"))
    assert float(prom.query("sum(chat_errors_total)")[0]["value"][1]) == failed


def _check_rate(prom: Prom, counter: str, expr: str, increment: float) -> None:
    """rate() is positive, and rate x range is the increase we made between scrapes, give
    or take Prometheus's extrapolation (at most about one scrape interval per series)."""
    seconds = 300 if "[5m]" in expr else 60
    rate = sum(float(s["value"][1]) for s in prom.query(expr))
    assert rate > 0, expr
    delta = low = high = 0.0
    for series in prom.query(f"{counter}[{seconds}s]"):
        samples = [(float(t), float(v)) for t, v in series["values"]]
        grown = samples[-1][1] - samples[0][1]
        span = samples[-1][0] - samples[0][0]
        delta += grown
        if grown:
            low += grown
            high += grown * (span + 2.2 * span / (len(samples) - 1)) / span
    assert delta == increment, expr
    assert low * 0.999 <= rate * seconds <= high * 1.001, (expr, rate * seconds, low, high)
