"""The Grafana dashboard charts only metrics that the processes export, from the Prometheus data source."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from api.app import create_app
from infra.lag import Lags
from infra.metrics import Metrics
from tests.support import settings_of

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "dashboards" / "cloudmart.json"
SERIES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


def exported(registry: CollectorRegistry) -> set[str]:
    return {family.name + suffix for family in registry.collect() for suffix in SERIES.get(family.type, ())}


def charted(dashboard: dict[str, Any]) -> list[tuple[dict[str, str], str]]:
    """Each query of each panel: its data source and its expression."""
    return [(t["datasource"], t["expr"]) for p in dashboard["panels"] for t in p.get("targets", [])]


def test_the_dashboard_charts_only_exported_metrics_from_the_prometheus_data_source() -> None:
    app = create_app(settings_of(database_url="memory://"))
    app.build_middleware_stack()  # the HTTP instrumentator registers its metrics as it joins the stack
    runtime = Metrics()
    runtime.registry.register(Lags([]))
    names = exported(app.state.metrics) | exported(runtime.registry)
    dashboard = json.loads(DASHBOARD.read_text())

    queries = charted(dashboard)
    assert {source["uid"] for source, _ in queries} == {"prometheus"}
    used = {name for _, expr in queries for name in re.findall(r"\b(?:cloudmart|http)_[a-z_]+", expr)}
    assert used - names == set()
    assert {"cloudmart_sagas_started_total", "cloudmart_consumer_lag", "http_requests_total"} <= used
