"""A Grafana dashboard for chatwatch's ``/metrics``, built from the same family list
(``chatwatch.metrics.prometheus``) that ``/metrics`` exposes, so no panel can name a
metric that does not exist.

The JSON is Grafana's classic dashboard model (``schemaVersion`` 42, the last of the
v1 API, which every current release imports and upgrades): a ``datasource`` variable
(any Prometheus), ``service`` and ``model`` variables read from the series, guide 000's
four panels first, then one panel per family. ``provisioning_files`` adds the YAML of
a datasource and a dashboard provider, for Grafana's ``provisioning/`` directory.
"""

from __future__ import annotations

import json
from typing import Any

from chatwatch.metrics.definitions import METRICS
from chatwatch.metrics.operational import OPERATIONAL_FAMILIES
from chatwatch.metrics.prometheus import COUNTERS, GAUGES, HISTOGRAMS, LABEL_FAMILIES

__all__ = ["DASHBOARD_UID", "GUIDE_PANELS", "dashboard", "panel_queries", "provisioning_files"]

DASHBOARD_UID = "chatwatch-overview"
SCHEMA_VERSION = 42
_DS = {"type": "prometheus", "uid": "${datasource}"}
_SVC = 'service=~"$service"'
_MODEL = 'model=~"$model"'
_UNITS = {"_seconds": "s", "_ratio": "percentunit", "_bytes": "bytes", "_usd": "currencyUSD"}
_LABELS = {m.name: m.labels for m in METRICS}

# guide 000's dashboard, its four queries kept as written (narrowed to the chosen services)
GUIDE_PANELS: tuple[tuple[str, str, str], ...] = (
    ("Active Sessions", f"chat_active_sessions{{{_SVC}}}", "short"),
    (
        "Response Time (95th percentile)",
        f"histogram_quantile(0.95, chat_response_time_seconds_bucket{{{_SVC}}})",
        "s",
    ),
    ("Error Rate", f"rate(chat_errors_total{{{_SVC}}}[5m])", "reqps"),
    ("Messages per Second", f"rate(chat_messages_total{{{_SVC}}}[1m])", "reqps"),
)


def _unit(name: str) -> str:
    return next((unit for end, unit in _UNITS.items() if name.endswith(end)), "short")


def _target(expr: str, legend: str = "__auto") -> dict[str, Any]:
    return {"refId": "A", "datasource": _DS, "expr": expr, "legendFormat": legend, "range": True}


def _panel(
    pid: int,
    title: str,
    expr: str,
    unit: str,
    pos: tuple[int, int, int, int],
    description: str = "",
    legend: str = "__auto",
    kind: str = "timeseries",
) -> dict[str, Any]:
    x, y, w, h = pos
    return {
        "id": pid,
        "type": kind,
        "title": title,
        "description": description,
        "datasource": _DS,
        "gridPos": {"x": x, "y": y, "w": w, "h": h},
        "targets": [_target(expr, legend)],
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
    }


def _row(pid: int, title: str, y: int) -> dict[str, Any]:
    return {
        "id": pid,
        "type": "row",
        "title": title,
        "collapsed": False,
        "panels": [],
        "gridPos": {"x": 0, "y": y, "w": 24, "h": 1},
    }


def _family_queries() -> list[tuple[str, str, str, str, str]]:
    """(section, title, expr, unit, description) for every family of ``/metrics``."""
    out: list[tuple[str, str, str, str, str]] = []
    for c in COUNTERS:
        by = ["service", *(label for label, _ in c.labels)]
        where = ",".join([_SVC, *([_MODEL] if "model" in by else [])])
        unit = (
            "s" if c.name.endswith("_seconds") else ("currencyUSD" if "usd" in c.name else "short")
        )
        expr = f"sum by ({', '.join(by)}) (rate({c.name}_total{{{where}}}[$__rate_interval]))"
        out.append(
            (
                "Counters (per second)",
                f"{c.name}_total",
                expr,
                unit + "/s" if unit == "short" else unit,
                c.doc,
            )
        )
    for h in HISTOGRAMS:
        by = ["le", "service", *(label for label, _ in h.labels)]
        where = ",".join([_SVC, *([_MODEL] if "model" in by else [])])
        for q in (0.5, 0.95, 0.99):
            expr = (
                f"histogram_quantile({q}, sum by ({', '.join(by)}) "
                f"(rate({h.name}_bucket{{{where}}}[$__rate_interval])))"
            )
            out.append(("Latency", f"{h.name} p{round(q * 100)}", expr, "s", h.doc))
    for g in GAUGES:
        filters = [] if g.kind == "process" else [_SVC]
        if "model" in _LABELS.get(g.metric, ()):
            filters.append(_MODEL)
        expr = f"{g.name}{{{','.join(filters)}}}" if filters else g.name
        if any(expr == guide for _, guide, _ in GUIDE_PANELS):
            continue  # already on the first row
        section = {"process": "Process", "now": "Now"}.get(g.kind, "Over the Prometheus window")
        out.append((section, g.name, expr, _unit(g.name), f"catalogue metric {g.metric}"))
    own = "chatwatch itself"
    for name in OPERATIONAL_FAMILIES:
        out.append((own, name, name, "short", "the store's rollup journal"))
    for name in LABEL_FAMILIES:
        expr = (
            f"sum by (label) (rate({name}[$__rate_interval]))"
            if name.endswith("_total")
            else (f"max by (label) ({name})")
        )
        out.append((own, name, expr, "short", "label caps (values beyond a cap count as other)"))
    return out


def panel_queries() -> list[str]:
    """Every panel's PromQL, in dashboard order (what the tests run against Prometheus)."""
    return [expr for _, expr, _ in GUIDE_PANELS] + [q[2] for q in _family_queries()]


def _variables() -> list[dict[str, Any]]:
    def query_var(name: str, label: str, metric: str) -> dict[str, Any]:
        definition = f"label_values({metric}, {name})"
        return {
            "name": name,
            "label": label,
            "type": "query",
            "datasource": _DS,
            "definition": definition,
            "query": {
                "qryType": 1,
                "query": definition,
                "refId": "PrometheusVariableQueryEditor-VariableQuery",
            },
            "refresh": 2,
            "includeAll": True,
            "multi": True,
            "allValue": ".*",
            "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
            "sort": 1,
            "hide": 0,
        }

    return [
        {
            "name": "datasource",
            "label": "Data source",
            "type": "datasource",
            "query": "prometheus",
            "current": {},
            "hide": 0,
            "refresh": 1,
            "regex": "",
            "includeAll": False,
            "multi": False,
        },
        query_var("service", "Service", "chat_requests_total"),
        query_var("model", "Model", "chat_llm_calls_total"),
    ]


def dashboard(title: str = "chatwatch") -> dict[str, Any]:
    panels: list[dict[str, Any]] = [_row(1, "The four overview panels", 0)]
    pid, y = 2, 1
    for i, (name, expr, unit) in enumerate(GUIDE_PANELS):
        panels.append(_panel(pid, name, expr, unit, ((i % 2) * 12, y + (i // 2) * 8, 12, 8)))
        pid += 1
    y += 16
    section = None
    col = 0
    for sec, name, expr, unit, doc in _family_queries():
        if sec != section:
            if col:
                y += 7
            panels.append(_row(pid, sec, y))
            pid, y, col, section = pid + 1, y + 1, 0, sec
        panels.append(_panel(pid, name, expr, unit, (col * 8, y, 8, 7), doc))
        pid += 1
        col = (col + 1) % 3
        if col == 0:
            y += 7
    return {
        "uid": DASHBOARD_UID,
        "title": title,
        "description": "Chat assistant monitoring from chatwatch's /metrics",
        "tags": ["chatwatch", "chat", "llm"],
        "timezone": "browser",
        "editable": True,
        "graphTooltip": 1,
        "time": {"from": "now-6h", "to": "now"},
        "timepicker": {},
        "refresh": "30s",
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "links": [],
        "annotations": {
            "list": [
                {
                    "builtIn": 1,
                    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                    "enable": True,
                    "hide": True,
                    "iconColor": "rgba(0, 211, 255, 1)",
                    "name": "Annotations & Alerts",
                    "type": "dashboard",
                }
            ]
        },
        "templating": {"list": _variables()},
        "panels": panels,
    }


def provisioning_files(prometheus_url: str, dashboards_dir: str) -> dict[str, str]:
    """Relative path → content: the dashboard JSON and Grafana's provisioning YAML (a
    Prometheus datasource and a file provider reading ``dashboards_dir``)."""
    datasource = (
        "apiVersion: 1\n"
        "datasources:\n"
        "  - name: Prometheus\n"
        "    type: prometheus\n"
        "    uid: chatwatch-prometheus\n"
        "    access: proxy\n"
        f"    url: {prometheus_url}\n"
        "    isDefault: true\n"
        "    jsonData:\n"
        "      timeInterval: 15s\n"
    )
    provider = (
        "apiVersion: 1\n"
        "providers:\n"
        "  - name: chatwatch\n"
        "    folder: chatwatch\n"
        "    type: file\n"
        "    disableDeletion: false\n"
        "    allowUiUpdates: true\n"
        "    updateIntervalSeconds: 60\n"
        "    options:\n"
        f"      path: {dashboards_dir}\n"
        "      foldersFromFilesStructure: false\n"
    )
    return {
        "dashboards/chatwatch.json": json.dumps(dashboard(), indent=2) + "\n",
        "provisioning/datasources/chatwatch.yaml": datasource,
        "provisioning/dashboards/chatwatch.yaml": provider,
    }
