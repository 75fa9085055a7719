"""The service dependency graph (service -> the services it depends on), walked. Pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

__all__ = ["depends_on_closure"]


def depends_on_closure(graph: Mapping[str, Sequence[str]], start: str) -> set[str]:
    """Every service `start` depends on, directly or transitively (`start` itself only if a cycle leads back)."""
    seen: set[str] = set()
    stack = list(graph.get(start, ()))
    while stack:
        s = stack.pop()
        if s not in seen:
            seen.add(s)
            stack.extend(graph.get(s, ()))
    return seen
