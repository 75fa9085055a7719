"""Dependencies discovered from service-graph metrics in a real Prometheus, merged with the configured ones."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest

from sre_bot.compose import open_deps
from sre_bot.config import parse_config
from sre_bot.models import TimeRange
from sre_bot.settings import load_settings
from sre_bot.tools.edges import edges_of, probe_edges
from sre_bot.tools.topology import merge_graph

pytestmark = pytest.mark.prometheus


def _history(end: int) -> str:
    lines = ["# TYPE traces_service_graph_request counter",
             "# TYPE istio_requests counter",
             "# TYPE response counter"]
    edges = [("frontend", "checkout"), ("checkout", "payments-api")]
    start = end - 3600
    rows = []
    for t in range(start, end + 1, 15):
        for c, s in edges:
            rows.append((f'traces_service_graph_request_total{{client="{c}",server="{s}"}}', (t - start) * 2.0, t))
        rows.append(('istio_requests_total{destination_workload="payments-db",reporter="source",source_workload="payments-api"}',
                     (t - start) * 1.0, t))
        rows.append(('response_total{classification="success",deployment="cart",direction="outbound",'
                     'dst_deployment="redis"}', (t - start) * 3.0, t))  # Linkerd, the caller's proxy
        rows.append(('response_total{deployment="redis",direction="inbound"}', (t - start) * 3.0, t))  # no caller
        rows.append(('traces_service_graph_request_total{client="cart",server="catalog"}', 5.0, t))  # idle edge
    # OpenMetrics wants each series' samples together
    for name in sorted({r[0] for r in rows}):
        lines += [f"{n} {v} {t}" for n, v, t in rows if n == name]
    return "\n".join(lines) + "\n# EOF\n"


async def test_edges_with_traffic_are_discovered_and_merged(real_prometheus):
    """Tempo, Istio and Linkerd edges with traffic become dependencies; an idle edge does not."""
    end = int(time.time()) // 60 * 60 - 120
    url = real_prometheus(_history(end))
    window = TimeRange.ending(datetime.fromtimestamp(end, tz=timezone.utc), timedelta(minutes=30))
    cfg = parse_config({"services": {"frontend": {}, "cart": {"depends_on": ["frontend"]}}})
    async with open_deps(load_settings(None, PROMETHEUS_URL=url), config=cfg) as deps:
        found, live = await probe_edges(deps, window, window.before(timedelta(hours=1)))
        edges = edges_of(found)
    assert {src.name for src in live} == {"tempo service graphs", "istio", "linkerd"}
    assert edges == {("frontend", "checkout"), ("checkout", "payments-api"), ("payments-api", "payments-db"),
                     ("cart", "redis")}
    graph = merge_graph(cfg.dependencies(), edges)
    assert graph["frontend"] == ["checkout"] and graph["cart"] == ["frontend", "redis"]
    assert graph["payments-api"] == ["payments-db"] and graph["payments-db"] == []


async def test_no_service_graph_metrics_adds_nothing(real_prometheus):
    """A Prometheus without service-graph metrics yields no edges and no error."""
    end = int(time.time()) // 60 * 60 - 120
    url = real_prometheus("# TYPE up gauge\n" + "\n".join(f'up{{job="x"}} 1 {t}' for t in range(end - 600, end, 15))
                          + "\n# EOF\n")
    window = TimeRange.ending(datetime.fromtimestamp(end, tz=timezone.utc), timedelta(minutes=5))
    async with open_deps(load_settings(None, PROMETHEUS_URL=url), config=parse_config({})) as deps:
        found, live = await probe_edges(deps, window, window.before(timedelta(hours=1)))
        assert edges_of(found) == set() and live == []
