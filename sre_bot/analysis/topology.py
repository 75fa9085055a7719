"""The service topology correlation works on, and where each part of it came from. Pure (no I/O, no clock).

A team rarely writes its dependency graph down, so most of it is discovered (`incidents/topology.py` reads the
call-graph metrics the investigation already uses, and Argo CD's application trees) and the configured
`depends_on` goes on top. Alerts that fired together in past incidents add learned ties. Every edge keeps its source,
so an incident can say why two alerts were put together ("checkout calls payments-api: discovered from service-graph
metrics").

    topo = Topology.build(config={"checkout": ["payments-api"]},
                          discovered=[("frontend", "checkout")],
                          groups={"payments-api": "payments", "payments-db": "payments"},
                          ties={("cart", "redis"): Tie(together=7, seen=9)})
    topo.depends_on()          # {"checkout": ["payments-api"], "frontend": ["checkout"]}
    topo.source("checkout", "frontend")   # "discovered" (either direction)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["Topology", "Tie", "EdgeSource", "EDGE_SOURCES", "pair"]

EdgeSource = Literal["config", "discovered"]
EDGE_SOURCES: tuple[EdgeSource, ...] = ("config", "discovered")  # the first wins when both name an edge
SOURCE_TEXT = {"config": "configured depends_on", "discovered": "discovered from call-graph metrics"}


def pair(a: str, b: str) -> tuple[str, str]:
    """An unordered pair of services, as a key."""
    return (a, b) if a <= b else (b, a)


@dataclass(frozen=True)
class Tie:
    """Learned from past incidents: of the `seen` incidents where either service alerted, `together` had alerts
    on both (and were not split by a person). Counts may be decayed (fractional)."""

    together: float
    seen: float

    @property
    def strength(self) -> float:
        return self.together / self.seen if self.seen > 0 else 0.0


@dataclass(frozen=True)
class Topology:
    """Edges caller → callee with their source, groups of services that belong together (an Argo CD application's
    workloads), and learned ties between services."""

    edges: Mapping[tuple[str, str], EdgeSource] = field(default_factory=dict)  # (caller, callee) -> source
    groups: Mapping[str, str] = field(default_factory=dict)  # service -> group name
    ties: Mapping[tuple[str, str], Tie] = field(default_factory=dict)  # pair(a, b) -> learned tie
    # the services the config names (even with no edge, `search: {}`): a person's word that what it does not link
    # is apart (correlation's time rule does not join two of them)
    declared: frozenset[str] = frozenset()

    @classmethod
    def build(cls, *, config: Mapping[str, Sequence[str]] | None = None,
              discovered: Iterable[tuple[str, str]] = (), groups: Mapping[str, str] | None = None,
              ties: Mapping[tuple[str, str], Tie] | None = None) -> Topology:
        edges: dict[tuple[str, str], EdgeSource] = {}
        for caller, callees in (config or {}).items():
            for callee in callees:
                if caller != callee:
                    edges[(caller, callee)] = "config"
        for caller, callee in discovered:
            if caller != callee:
                edges.setdefault((caller, callee), "discovered")
        return cls(edges=edges, groups=dict(groups or {}),
                   ties={pair(*k): v for k, v in (ties or {}).items() if k[0] != k[1]},
                   declared=frozenset(s for k, v in (config or {}).items() for s in (k, *v)))

    def depends_on(self) -> dict[str, list[str]]:
        """service -> the services it calls (every source), sorted."""
        out: dict[str, list[str]] = {}
        for caller, callee in sorted(self.edges):
            out.setdefault(caller, []).append(callee)
            out.setdefault(callee, [])
        return out

    def source(self, a: str, b: str) -> EdgeSource | None:
        """Where the edge between `a` and `b` (either direction) came from; None without one."""
        return self.edges.get((a, b)) or self.edges.get((b, a))

    def tie(self, a: str, b: str) -> Tie | None:
        return self.ties.get(pair(a, b))

    def group_of(self, service: str) -> str | None:
        return self.groups.get(service)

    def services(self) -> list[str]:
        return sorted({s for e in self.edges for s in e} | set(self.groups) | {s for t in self.ties for s in t})

    def describe(self) -> list[str]:
        """One line per edge, group and tie, for people (`sre-bot correlate --show-graph`)."""
        lines = [f"{a} → {b}  ({SOURCE_TEXT[s]})" for (a, b), s in sorted(self.edges.items())]
        by_group: dict[str, list[str]] = {}
        for svc, g in sorted(self.groups.items()):
            by_group.setdefault(g, []).append(svc)
        lines += [f"group {g}: {', '.join(svcs)}  (Argo CD application)" for g, svcs in sorted(by_group.items())]
        lines += [f"{a} ~ {b}  (alerted together in {t.together:g} of {t.seen:g} past incidents)"
                  for (a, b), t in sorted(self.ties.items())]
        return lines
