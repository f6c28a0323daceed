"""``chatwatch grafana-dashboard``: the Grafana dashboard for ``/metrics``, printed or
written with Grafana's provisioning files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from chatwatch.cli._app import app, console
from chatwatch.integrations.grafana import dashboard, provisioning_files

__all__ = ["grafana_dashboard"]


@app.command("grafana-dashboard")
def grafana_dashboard(
    provisioning: Annotated[
        Path | None,
        typer.Option(
            "--provisioning",
            help="Write the dashboard and Grafana provisioning YAML (datasource, dashboard "
            "provider) under this directory instead of printing the JSON",
        ),
    ] = None,
    prometheus_url: Annotated[
        str, typer.Option(help="The Prometheus URL the provisioned datasource points at")
    ] = "http://localhost:9090",
    title: Annotated[str, typer.Option(help="The dashboard's title")] = "chatwatch",
) -> None:
    """Print an importable Grafana dashboard (JSON) for chatwatch's /metrics."""
    if provisioning is None:
        typer.echo(json.dumps(dashboard(title), indent=2))
        return
    dashboards_dir = (provisioning / "dashboards").resolve()
    for relative, text in provisioning_files(prometheus_url, str(dashboards_dir)).items():
        path = provisioning / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        console.print(f"wrote {path}")
