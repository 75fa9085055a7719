"""Which PromQL the simulated Prometheus answers, and with which series: exactly what sre-bot sends, nothing more.

Answered, each derived from the bot's own code for the configured services and signals:
- a service's signal query (`Config.signal_queries`): one series with no labels, as `sum(...)` gives;
- a scope query, one signal for several services (`tools.signals.scope_signals`, rewritten by `promql_scope`,
  e.g. `sum by (service) (rate(http_requests_total{service=~"a|b"}[5m]))`): recognised with
  `tools.signals.resolve_scope_query`, then accepted only if `tools.signals.scope_queries` renders the very same
  text for the services it selects (so a regex that is not a list of escaped service names, a name the config
  does not have, names out of the bot's sorted order, or a hand-written variant gets no series). One series per
  selected service that has the signal, labelled with the grouping labels only (`{service="a"}`, or
  `{container="a", namespace="shop"}` for container signals) as the `by (...)` aggregation gives, sorted by
  labels as Prometheus sorts a matrix. A configured service the regexes select beyond the bot's batch (its
  namespace and container both listed) is answered too, as a real Prometheus would;
- the call-graph queries (`Config.call_graph.sources`: Tempo service graphs, Istio, the file's own): no series,
  HTTP 200. The simulated shop produces no
  traces and no mesh metrics, so the honest answer is the one a Prometheus without them gives;
- `up` and `up{...}`.
Whitespace outside string literals is ignored for the per-service and call-graph queries; a scope query must be
formatted as the bot renders it.

Anything else is answered as a real Prometheus would answer it. PromQL that does not parse gets Prometheus 2.42's
parse error (`syntax_error`: unbalanced brackets, unterminated strings, unknown function names, an empty query;
positions and wording taken from the real binary, not a full parser, so some bad queries pass it); valid PromQL
the simulator has no series for gets no series (HTTP 200), with a `warnings` entry (the API's own field) saying
this is the simulator and naming what it does answer (`unknown_note`).
"""

from __future__ import annotations

import re
from collections import OrderedDict

from ..config import Config
from ..tools.signals import resolve_scope_query, scope_queries
from .generate import World
from .matchers import Matcher, MatcherError, matches_all, parse_selector
from .wire import SIMULATOR

__all__ = ["QueryTable", "normalize_query", "syntax_error", "Answer", "FUNCTIONS"]

Answer = list[tuple[dict[str, str], str, str]]  # (result labels, service, signal); empty: no series
_CACHE = 256
_DURATION = r"(?:\d+(?:ms|s|m|h|d|w|y))+"


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# PromQL 2.42's functions (case-sensitive; `promql/parser/functions.go`), and the words that may stand before a
# parenthesis without being a function call (aggregations, grouping, set and vector-matching keywords; any case).
FUNCTIONS = _words("""
    abs absent absent_over_time acos acosh asin asinh atan atanh avg_over_time ceil changes clamp clamp_max clamp_min
    cos cosh count_over_time day_of_month day_of_week day_of_year days_in_month deg delta deriv exp floor
    histogram_count histogram_fraction histogram_quantile histogram_sum holt_winters hour idelta increase irate
    label_join label_replace last_over_time ln log10 log2 max_over_time min_over_time minute month pi predict_linear
    present_over_time quantile_over_time rad rate resets round scalar sgn sin sinh sort sort_desc sqrt
    stddev_over_time stdvar_over_time sum_over_time tan tanh time timestamp vector year""")
_KEYWORDS = _words("""
    sum min max avg group stddev stdvar count count_values bottomk topk quantile by without on ignoring group_left
    group_right and or unless atan2 bool start end""")
_IDENT = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_CLOSE = {")": "(", "]": "[", "}": "{"}
_CALL = re.compile(r"\s*\(")
_UNCLOSED = {"(": "unclosed left parenthesis", "[": "unclosed left bracket",
             "{": "unexpected end of input inside braces"}


def _at(query: str, i: int) -> str:
    """Prometheus's `line:column` of offset `i` (both from 1)."""
    line, line_start = query.count("\n", 0, i) + 1, query.rfind("\n", 0, i) + 1
    return f"{line}:{i - line_start + 1}"


def _closing(query: str, i: int, c: str, top: str | None) -> str | None:
    """The error for the closing bracket `c` at `i` when the innermost open one is `top` (None: it matches)."""
    if top == _CLOSE[c]:
        return None
    if top == "{":
        return f"{_at(query, i)}: parse error: unexpected character inside braces: '{c}'"
    if top == "[":
        return f'{_at(query, i)}: parse error: unexpected "{c}" in subquery or range, expected ":" or "]"'
    if c == ")":  # Prometheus reports a stray ')' one column on
        return f"{_at(query, i + 1)}: parse error: unexpected right parenthesis ')'"
    if c == "]":
        return f"{_at(query, i)}: parse error: unexpected right bracket ']'"
    return f"{_at(query, i)}: parse error: unexpected character: '}}'"


def syntax_error(query: str) -> str | None:
    """Prometheus's parse error for `query` (`1:18: parse error: unclosed left parenthesis`) when a light check finds
    one: brackets balanced and properly nested, strings terminated, functions known, something there at all. None
    when it finds none (which does not prove the query valid: durations, operators and types are not checked)."""
    if not query.strip() or all(ln.strip().startswith("#") or not ln.strip() for ln in query.splitlines()):
        return "1:1: parse error: no expression found in input"
    stack: list[str] = []
    calls: list[tuple[int, str]] = []
    i, n = 0, len(query)
    while i < n:
        c = query[i]
        if c in "\"'`":
            j = i + 1
            while j < n and query[j] != c and (c == "`" or query[j] != "\n"):
                j += 2 if c != "`" and query[j] == "\\" else 1
            if j >= n or query[j] != c:
                kind = "raw string" if c == "`" else "quoted string"
                return f"{_at(query, i)}: parse error: unterminated {kind}"
            i = j + 1
            continue
        if c == "#":
            end = query.find("\n", i)
            i = n if end < 0 else end
            continue
        if c in "([{":
            if c != "{" and stack[-1:] == ["{"]:
                return f"{_at(query, i)}: parse error: unexpected character inside braces: '{c}'"
            if c != "[" and stack[-1:] == ["["]:
                return f'{_at(query, i)}: parse error: unexpected "{c}" in subquery or range, expected ":" or "]"'
            stack.append(c)
        elif c in _CLOSE:
            error = _closing(query, i, c, stack[-1] if stack else None)
            if error:
                return error
            stack.pop()
        elif stack[-1:] != ["{"] and (m := _IDENT.match(query, i)) and (i == 0 or not (
                query[i - 1].isalnum() or query[i - 1] in "_:.")):
            if _CALL.match(query, m.end()):
                calls.append((i, m.group(0)))
            i = m.end()
            continue
        i += 1
    if stack:
        return f"{_at(query, n)}: parse error: {_UNCLOSED[stack[-1]]}"
    for at, name in calls:
        if name not in FUNCTIONS and name.lower() not in _KEYWORDS:
            return f'{_at(query, at)}: parse error: unknown function with name "{name}"'
    return None


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

    def metric_names(self) -> list[str]:
        """The metric names the simulated shop's series have (what `/api/v1/label/__name__/values` lists)."""
        return sorted({"up", "http_requests_total", "http_request_duration_seconds_bucket",
                       "http_request_duration_seconds_count", "http_request_duration_seconds_sum",
                       "container_cpu_usage_seconds_total", "container_memory_working_set_bytes",
                       *(c.gauge for c in self.world.scenario.signals.values() if c.gauge)})

    def resolve(self, query: str) -> Answer:
        """[(result labels, service, signal)]: no series for a query the simulator does not know; ValueError with
        Prometheus's parse error for one that does not parse."""
        return self.lookup(query)[0]

    def lookup(self, query: str) -> tuple[Answer, str | None]:
        """(series, warning): the series `query` gives and, when the simulator does not know the query, the note
        for the response's `warnings`; ValueError with Prometheus's parse error when it does not parse."""
        q = query.strip()
        key = normalize_query(q)
        if key in self.signals:
            svc, sig = self.signals[key]
            return [({}, svc, sig)], None
        error = syntax_error(query)
        if error:
            raise ValueError(error)
        if key == "up" or key.startswith("up{"):
            matchers: list[Matcher] = []
            end = 2
            if key != "up":
                try:
                    matchers, end = parse_selector(q, q.index("{"))
                except MatcherError as e:
                    raise ValueError(f"1:3: parse error: {e}") from None
            if not q[end:].strip():
                return [(labels, svc, "up") for labels, svc in self.up_series() if matches_all(matchers, labels)], None
        if key in self.edge_queries:
            return [], None  # no service graph in the simulated shop: no series, as without Tempo or Istio
        scope = self.scope(q)
        if scope is not None:
            return scope, None
        return [], self.unknown_note()

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
            return None  # not the text the bot renders for these services: no series rather than a guess
        out: Answer = []
        seen: set[tuple[tuple[str, str], ...]] = set()
        for svc, labels in members:
            ident = tuple(sorted(labels.items()))
            if ident not in seen:  # two services with the same labels are one series in a real Prometheus
                seen.add(ident)
                out.append((dict(labels), svc.name, signal))
        return sorted(out, key=lambda item: sorted(item[0].items()))  # a range query's series come sorted

    def unknown_note(self) -> str:
        """What the simulator says beside an empty answer to a query it does not know: that it is one, and what it
        does answer."""
        example = f"; e.g. {self.examples[0]}" if self.examples else ""
        scope = f" (e.g. {self.scope_example})" if self.scope_example else ""
        return (f"{SIMULATOR}: no series for this query. This is not a real Prometheus: it simulates only the queries "
                f"sre-bot itself sends, that is each service's signal queries ({', '.join(self.signal_names)}"
                f"{example}), one signal for several services at once{scope}, the call-graph queries and up{{...}}. "
                f"Metrics: {', '.join(self.metric_names())}. Services: {', '.join(self.service_names)}")
