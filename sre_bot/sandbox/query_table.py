"""Which PromQL the simulated Prometheus answers, and with which series: exactly what sre-bot sends, nothing more.

Answered, each derived from the bot's own code for the configured services and signals:
- a service's signal query (`Config.signal_queries`): one series with no labels, as `sum(...)` gives;
- a scope query, one signal for several services (`tools.signals.scope_signals`, rewritten by `promql_scope`,
  e.g. `sum by (service) (rate(http_requests_total{service=~"a|b"}[5m]))`): recognised with
  `tools.signals.resolve_scope_query`, then accepted only if `tools.signals.scope_queries` renders the very same
  text for the services it selects (so a regex that is not a list of escaped service names, a name the config
  does not have, names out of the bot's sorted order, or a hand-written variant is refused). One series per
  selected service that has the signal, labelled with the grouping labels only (`{service="a"}`, or
  `{container="a", namespace="shop"}` for container signals) as the `by (...)` aggregation gives, sorted by
  labels as Prometheus sorts a matrix. A configured service the regexes select beyond the bot's batch (its
  namespace and container both listed) is answered too, as a real Prometheus would;
- the call-graph queries (`Config.call_graph.sources`: Tempo service graphs, Istio, the file's own): no series,
  HTTP 200. The simulated shop produces no
  traces and no mesh metrics, so the honest answer is the one a Prometheus without them gives;
- `up` and `up{...}`.
Whitespace outside string literals is ignored for the per-service and call-graph queries; a scope query must be
formatted as the bot renders it. Anything else is refused with a message naming the simulator.
"""

from __future__ import annotations

from collections import OrderedDict

from ..config import Config
from ..tools.signals import resolve_scope_query, scope_queries
from .generate import World
from .matchers import Matcher, MatcherError, matches_all, parse_selector
from .wire import SIMULATOR

__all__ = ["QueryTable", "normalize_query", "Answer"]

Answer = list[tuple[dict[str, str], str, str]]  # (result labels, service, signal); empty: no series
_CACHE = 256
_DURATION = r"(?:\d+(?:ms|s|m|h|d|w|y))+"


def normalize_query(q: str) -> str:
    """The query without whitespace outside string literals, so formatting differences do not matter."""
    out, quote, i = [], "", 0
    while i < len(q):
        c = q[i]
        if quote:
            out.append(c)
            if c == "\\" and quote != "`" and i + 1 < len(q):
                out.append(q[i + 1])
                i += 1
            elif c == quote:
                quote = ""
        elif c in "\"'`":
            quote = c
            out.append(c)
        elif not c.isspace():
            out.append(c)
        i += 1
    return "".join(out)


class QueryTable:
    """What the simulator answers (see the module docstring) and the series each query gives."""

    def __init__(self, config: Config, world: World) -> None:
        self.config = config
        self.world = world
        self.signals: dict[str, tuple[str, str]] = {}
        self.examples: list[str] = []
        for svc in config.services:
            for rs in config.signal_queries(svc):
                self.signals[normalize_query(rs.query)] = (svc.name, rs.name)
                if len(self.examples) < 2:
                    self.examples.append(rs.query)
        self.signal_names = list(config.all_signals)
        self.service_names = config.service_names
        self.scope_example = next((q for qs in scope_queries(config, config.services).values()
                                   for q, names in qs if len(names) > 1), None)
        self.edge_queries = {normalize_query(q) for src in config.call_graph.sources
                             for q in (src.requests, src.errors, src.latency_client, src.latency_server) if q}
        self._scope_cache: OrderedDict[str, Answer | None] = OrderedDict()

    def up_series(self) -> list[tuple[dict[str, str], str]]:
        out = []
        for svc in self.world.services:
            ns = self.world.namespace(svc.name)
            labels = {"__name__": "up", "instance": f"{svc.name}.{ns}.svc:8080", "job": svc.name,
                      "namespace": ns, "service": svc.name}
            out.append((labels, svc.name))
        return out

    def resolve(self, query: str) -> Answer:
        """[(result labels, service, signal)]; ValueError with the simulator's message for anything else."""
        q = query.strip()
        if not q:
            raise ValueError("1:1: parse error: no expression found in input")
        key = normalize_query(q)
        if key in self.signals:
            svc, sig = self.signals[key]
            return [({}, svc, sig)]
        if key == "up" or key.startswith("up{"):
            matchers: list[Matcher] = []
            if key != "up":
                try:
                    matchers, end = parse_selector(q, q.index("{"))
                except MatcherError as e:
                    raise ValueError(f"1:3: parse error: {e}") from None
                if q[end:].strip():
                    raise ValueError(self.refusal())
            return [(labels, svc, "up") for labels, svc in self.up_series() if matches_all(matchers, labels)]
        if key in self.edge_queries:
            return []  # no service graph in the simulated shop: no series, as without Tempo or Istio
        scope = self.scope(q)
        if scope is not None:
            return scope
        raise ValueError(self.refusal())

    def scope(self, query: str) -> Answer | None:
        """The series of a scope query the bot renders, or None when `query` is not one."""
        if query in self._scope_cache:
            self._scope_cache.move_to_end(query)
            return self._scope_cache[query]
        answer = self._scope(query)
        self._scope_cache[query] = answer
        if len(self._scope_cache) > _CACHE:
            self._scope_cache.popitem(last=False)
        return answer

    def _scope(self, query: str) -> Answer | None:
        found = resolve_scope_query(self.config, query)
        if found is None:
            return None
        signal, members = found
        if not members:
            return None
        rendered = scope_queries(self.config, [svc for svc, _ in members]).get(signal, [])
        if normalize_query(query) not in {normalize_query(q) for q, _ in rendered}:
            return None  # not the text the bot renders for these services: refuse rather than guess
        out: Answer = []
        seen: set[tuple[tuple[str, str], ...]] = set()
        for svc, labels in members:
            ident = tuple(sorted(labels.items()))
            if ident not in seen:  # two services with the same labels are one series in a real Prometheus
                seen.add(ident)
                out.append((dict(labels), svc.name, signal))
        return sorted(out, key=lambda item: sorted(item[0].items()))  # a range query's series come sorted

    def refusal(self) -> str:
        scope = f" (e.g. {self.scope_example})" if self.scope_example else ""
        return (f"{SIMULATOR}: this query is not one the simulated shop answers (this is not a real Prometheus). "
                f"It answers exactly the signal queries sre-bot renders from its config (signals "
                f"{', '.join(self.signal_names)} for services {', '.join(self.service_names)}, e.g. "
                f"{' or '.join(self.examples)}), the same signals for several of those services at once exactly "
                f"as sre-bot's scope queries render them{scope}, the call-graph queries (no series: the shop has "
                f"no service graph) and up / up{{...}}")
