"""Service dependencies discovered from service-graph metrics, where the cluster has them.

Tempo/Grafana Agent's `traces_service_graph_request_total{client, server}` and Istio's
`istio_requests_total{source_workload, destination_workload}` both say who calls whom; an edge with traffic in the
window means "client depends on server". Best effort: a Prometheus without these metrics (or one that refuses the
query, or does not answer within its share of the answer's deadline: `deadline.best_effort`) simply adds no edges,
and the configured `depends_on` still holds.
"""

from __future__ import annotations

import asyncio

from ..deadline import best_effort
from ..deps import Deps
from ..errors import BackendError
from ..models import TimeRange
from ..windows import format_duration

__all__ = ["discover_edges", "merge_graph", "SERVICE_GRAPH_QUERIES"]

SERVICE_GRAPH_QUERIES = (
    ("client", "server", "sum by (client, server) (increase(traces_service_graph_request_total[{range}]))"),
    ("source_workload", "destination_workload",
     "sum by (source_workload, destination_workload) (increase(istio_requests_total[{range}]))"),
)


async def discover_edges(deps: Deps, window: TimeRange) -> set[tuple[str, str]]:
    """(caller, callee) pairs with traffic in the window, from whichever service-graph metrics exist."""
    if deps.prometheus is None:
        return set()
    rng = format_duration(window.duration)

    async def one(src: str, dst: str, template: str) -> set[tuple[str, str]]:
        try:
            series = await deps.prometheus.query(template.format(range=rng), at=window.end)  # type: ignore[union-attr]
        except BackendError:
            return set()
        return {(s.labels[src], s.labels[dst]) for s in series
                if s.labels.get(src) and s.labels.get(dst) and s.labels[src] != s.labels[dst] and (s.last or 0) > 0}

    with best_effort():
        found = await asyncio.gather(*(one(*q) for q in SERVICE_GRAPH_QUERIES))
    return set().union(*found)


def merge_graph(configured: dict[str, list[str]], edges: set[tuple[str, str]]) -> dict[str, list[str]]:
    """The configured graph plus discovered edges (configured order first, discovered ones sorted after)."""
    graph = {k: list(v) for k, v in configured.items()}
    for caller, callee in sorted(edges):
        graph.setdefault(caller, [])
        graph.setdefault(callee, [])
        if callee not in graph[caller]:
            graph[caller].append(callee)
    return graph
