"""The service graph: the configured `depends_on` merged with edges the call-graph metrics show
(`tools/edges.py`: Tempo service graphs, Istio, the config's own)."""

from __future__ import annotations

__all__ = ["merge_graph"]


def merge_graph(configured: dict[str, list[str]], edges: set[tuple[str, str]]) -> dict[str, list[str]]:
    """The configured graph plus discovered edges (configured order first, discovered ones sorted after)."""
    graph = {k: list(v) for k, v in configured.items()}
    for caller, callee in sorted(edges):
        graph.setdefault(caller, [])
        graph.setdefault(callee, [])
        if callee not in graph[caller]:
            graph[caller].append(callee)
    return graph
