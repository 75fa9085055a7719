"""A Prometheus HTTP API (v1) that answers exactly the PromQL sre-bot renders for its configured signals.

The table `rendered query -> (service, signal)` comes from `Config.signal_queries(svc)` for every configured
service (whitespace outside string literals ignored), plus `up` / `up{...}`. Any other query gets Prometheus's
own `bad_data` envelope (HTTP 400) saying this is the simulator and what it answers. Values are the generated
signals sampled at the asked times; bodies, numbers and errors are shaped like Prometheus 2.42's.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from aiohttp import web

from ..config import Config
from .generate import World
from .matchers import Matcher, MatcherError, matches_all, parse_selector
from .openmetrics import BUCKETS
from .wire import SIMULATOR, json_response, params, parse_duration, parse_time, prom_time, prom_value

__all__ = ["create_app", "QueryTable", "normalize_query", "MAX_POINTS"]

MAX_POINTS = 11_000


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
    """What the simulator answers: each configured service's rendered signal queries, and `up`."""

    def __init__(self, config: Config, world: World) -> None:
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

    def up_series(self) -> list[tuple[dict[str, str], str]]:
        out = []
        for svc in self.world.services:
            ns = self.world.namespace(svc.name)
            labels = {"__name__": "up", "instance": f"{svc.name}.{ns}.svc:8080", "job": svc.name,
                      "namespace": ns, "service": svc.name}
            out.append((labels, svc.name))
        return out

    def resolve(self, query: str) -> list[tuple[dict[str, str], str, str]]:
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
        raise ValueError(self.refusal())

    def refusal(self) -> str:
        return (f"{SIMULATOR}: this query is not one the simulated shop answers (this is not a real Prometheus). "
                f"It answers exactly the signal queries sre-bot renders from its config (signals "
                f"{', '.join(self.signal_names)} for services {', '.join(self.service_names)}, e.g. "
                f"{' or '.join(self.examples)}) and up / up{{...}}")


def _error(message: str, *, status: int = 400, kind: str = "bad_data") -> web.Response:
    return json_response({"status": "error", "errorType": kind, "error": message}, status=status)


def _success(data: Any) -> web.Response:
    return json_response({"status": "success", "data": data})


def create_app(world: World, config: Config) -> web.Application:
    table = QueryTable(config, world)

    def value_of(svc: str, sig: str, t: float) -> float | None:
        if not world.has(svc, sig):
            return None
        lo, hi = world.clip(t, t)
        return world.value(svc, sig, t) if lo <= t <= hi else None

    async def query(request: web.Request) -> web.Response:
        p = await params(request)
        try:
            t = parse_time(p["time"]) if p.get("time") else world.now()
        except ValueError as e:
            return _error(f'invalid parameter "time": {e}')
        try:
            series = table.resolve(p.get("query", ""))
        except ValueError as e:
            return _error(f'invalid parameter "query": {e}')
        result = []
        for labels, svc, sig in series:
            v = value_of(svc, sig, t)
            if v is not None:
                result.append({"metric": labels, "value": [prom_time(t), prom_value(v)]})
        return _success({"resultType": "vector", "result": result})

    async def query_range(request: web.Request) -> web.Response:
        p = await params(request)
        parsed: dict[str, float] = {}
        for name, parse in (("start", parse_time), ("end", parse_time), ("step", parse_duration)):
            try:
                parsed[name] = parse(p.get(name, ""))
            except ValueError as e:
                return _error(f'invalid parameter "{name}": {e}')
        start, end, step = parsed["start"], parsed["end"], parsed["step"]
        if end < start:
            return _error('invalid parameter "end": end timestamp must not be before start time')
        if step <= 0:
            return _error('invalid parameter "step": zero or negative query resolution step widths are not '
                          "accepted. Try a positive integer")
        if (end - start) / step > MAX_POINTS:
            return _error("exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query "
                          "resolution (?step=XX)")
        try:
            series = table.resolve(p.get("query", ""))
        except ValueError as e:
            return _error(f'invalid parameter "query": {e}')
        result = []
        for labels, svc, sig in series:
            if not world.has(svc, sig):
                continue
            points = world.sample(svc, sig, start, end, step)
            if points:
                result.append({"metric": labels, "values": [[prom_time(t), prom_value(v)] for t, v in points]})
        return _success({"resultType": "matrix", "result": result})

    def label_values(name: str) -> list[str]:
        svcs = [s.name for s in world.services]
        values: dict[str, list[str]] = {
            "service": svcs, "job": svcs, "container": svcs,
            "namespace": sorted({world.namespace(s) for s in svcs}),
            "instance": [labels["instance"] for labels, _ in table.up_series()],
            "code": ["200", "500"],
            "le": [prom_value(b) for b in BUCKETS] + ["+Inf"],
            "__name__": sorted(["up", "http_requests_total", "http_request_duration_seconds_bucket",
                                "http_request_duration_seconds_count", "http_request_duration_seconds_sum",
                                "container_cpu_usage_seconds_total", "container_memory_working_set_bytes",
                                *(c.gauge for c in world.scenario.signals.values() if c.gauge)]),
        }
        return sorted(set(values.get(name, [])))

    async def label_values_handler(request: web.Request) -> web.Response:
        return _success(label_values(request.match_info["name"]))

    async def labels(request: web.Request) -> web.Response:
        return _success(sorted(["__name__", "code", "container", "instance", "job", "le", "namespace", "service"]))

    async def buildinfo(request: web.Request) -> web.Response:
        return _success({"version": "2.42.0", "revision": "sre-bot-sandbox", "branch": "sandbox",
                         "buildUser": "sre-bot", "buildDate": "20260101-00:00:00", "goVersion": "go1.19.8"})

    async def ready(request: web.Request) -> web.Response:
        return web.Response(text="Prometheus Server is Ready.\n")

    async def healthy(request: web.Request) -> web.Response:
        return web.Response(text="Prometheus Server is Healthy.\n")

    async def graph(request: web.Request) -> web.Response:
        expr = request.query.get("g0.expr", "")
        when = datetime.fromtimestamp(world.now(), tz=timezone.utc).isoformat()
        return web.Response(text=f"{SIMULATOR} (Prometheus API only, no UI) at {when}\n\nquery: {expr}\n\n"
                                 f"Ask /api/v1/query_range?query=...&start=...&end=...&step=... for the data.\n")

    app = web.Application()
    for path, handler in (("/api/v1/query", query), ("/api/v1/query_range", query_range)):
        app.router.add_get(path, handler)
        app.router.add_post(path, handler)
    app.router.add_get("/api/v1/label/{name}/values", label_values_handler)
    app.router.add_get("/api/v1/labels", labels)
    app.router.add_get("/api/v1/status/buildinfo", buildinfo)
    app.router.add_get("/-/ready", ready)
    app.router.add_get("/-/healthy", healthy)
    app.router.add_get("/graph", graph)
    return app
