"""The call graph as evidence: per-edge request rate, errors and latency as the caller and the callee see them.

Sources are the config's `call_graph` (`config.CallGraphConfig`): Tempo's metrics-generator service graphs and
Istio's standard metrics built in, plus the file's own queries. Each query is one range query for every edge at
once, so the cost does not grow with the number of services; the request rate is read first (`probe_edges`), and
a source's latencies and errors only when it had requests. Best effort: a source the cluster does not have
returns nothing and adds nothing; a failing query is an `error` item the answer names. The same series give the
graph (an edge with requests or latency data is "client depends on server").
"""

from __future__ import annotations

import asyncio

from ..config import EdgeMetrics
from ..deadline import best_effort
from ..deps import Deps
from ..errors import BackendError
from ..models import Evidence, TimeRange, evidence_id
from ._common import failure, fmt_value

__all__ = ["probe_edges", "edge_series", "edges_of", "METRIC_TITLES"]

METRIC_TITLES = {"requests": ("request rate", "rps"), "errors": ("failed requests", "rps"),
                 "latency_client": ("latency as the caller sees it", "seconds"),
                 "latency_server": ("latency as the callee sees it", "seconds")}


def _queries(src: EdgeMetrics) -> list[tuple[str, str]]:
    return [(m, q) for m, q in (("requests", src.requests), ("errors", src.errors),
                                ("latency_client", src.latency_client), ("latency_server", src.latency_server)) if q]


async def probe_edges(deps: Deps, window: TimeRange, baseline: TimeRange,
                      ) -> tuple[list[Evidence], list[EdgeMetrics]]:
    """The first look: each source's request rate (all of a source's queries when it has none). Returns the
    evidence and the sources that had data, whose other metrics `edge_series` then fetches — so a cluster
    without Tempo or Istio pays one query per preset, not four."""
    sources = deps.config.call_graph.sources
    jobs = [(src, m, q) for src in sources for m, q in _queries(src) if m == "requests" or not src.requests]
    found = await _fetch(deps, window, baseline, jobs)
    live = [src for src in sources if src.requests and any(e.data.get("source") == src.name for e in found)]
    return found, live


async def edge_series(deps: Deps, window: TimeRange, baseline: TimeRange, sources: list[EdgeMetrics] | None = None,
                      ) -> list[Evidence]:
    """Every edge's errors and latencies (not the request rate `probe_edges` read) from `sources` (default: all
    configured), over the baseline and the window (kind "edge"; data: client, server, metric, points, source,
    unit). Sources that return nothing add nothing."""
    srcs = deps.config.call_graph.sources if sources is None else sources
    jobs = [(src, m, q) for src in srcs for m, q in _queries(src) if m != "requests"]
    return await _fetch(deps, window, baseline, jobs)


async def _fetch(deps: Deps, window: TimeRange, baseline: TimeRange, jobs: list[tuple[EdgeMetrics, str, str]],
                 ) -> list[Evidence]:
    if deps.prometheus is None or not jobs:
        return []
    whole = TimeRange(start=baseline.start, end=window.end)
    step = deps.prometheus.step_for(whole)

    async def one(src: EdgeMetrics, metric: str, query: str) -> list[Evidence]:
        assert deps.prometheus is not None
        try:
            series = await deps.prometheus.query_range(query, whole, step=step)
        except BackendError as e:
            if src in deps.config.call_graph.edges:  # the user's own query failing is worth saying
                return [failure("prometheus", "edge", f"call graph ({src.name}) {metric}", query, window, e)]
            return []
        title, unit = METRIC_TITLES[metric]
        out = []
        for s in series:
            client, server = s.labels.get(src.client_label), s.labels.get(src.server_label)
            if not client or not server or client == server or not s.points:
                continue
            pts = [[p.t, p.v] for p in s.points]
            win_vals = [p.v for p in s.points if p.t >= window.start.timestamp()]
            base_vals = [p.v for p in s.points if p.t < window.start.timestamp()]
            now = win_vals[-1] if win_vals else None
            base_med = sorted(base_vals)[len(base_vals) // 2] if base_vals else None
            label = f"{client} → {server} {title}"
            quote = f"{label}: now {fmt_value(now, unit)}" + (
                f", baseline median {fmt_value(base_med, unit)}" if base_med is not None else ", no baseline data")
            out.append(Evidence(
                id=evidence_id("prometheus", f"{query}#{client}->{server}", window), source="prometheus",
                kind="edge", label=label, query=query, window=window, quote=quote,
                url=deps.prometheus.graph_url(query, whole), service=server,
                data={"client": client, "server": server, "metric": metric, "points": pts, "source": src.name,
                      "unit": unit, "step": step,
                      "virtual": client in src.virtual_nodes or server in src.virtual_nodes}))
        return out

    with best_effort():  # discovery too: a share of the answer's time, never all of it
        found = await asyncio.gather(*(one(*j) for j in jobs))
    return [e for group in found for e in group]


def edges_of(items: list[Evidence]) -> set[tuple[str, str]]:
    """(client, server) pairs with data among `edge` evidence items (a request rate must show some traffic),
    between services: a virtual node such as Tempo's `user` is traffic into a service, not a service to check."""
    return {(e.data["client"], e.data["server"]) for e in items
            if e.kind == "edge" and e.data.get("points") and not e.data.get("virtual")
            and (e.data.get("metric") != "requests" or any(v > 0 for _, v in e.data["points"]))}
