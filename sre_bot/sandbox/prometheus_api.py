"""A Prometheus HTTP API (v1) that answers exactly the PromQL sre-bot renders for its configured signals.

`query_table.QueryTable` says which queries those are and which series each gives: every service's signal
queries, the scope queries that fetch one signal for many services (one series per service, labelled by the
grouping labels), the call-graph queries (no series: the shop has no service graph), and `up` / `up{...}`. Other
queries get what a real Prometheus would answer: PromQL that does not parse, its `bad_data` envelope (HTTP 400)
with the parse error (`query_table.syntax_error`; on `/query` prefixed `invalid parameter "query": `, on
`/query_range` not, as 2.42 does); valid PromQL, no series (HTTP 200) with a `warnings` entry, the API's own field,
saying this is the simulator and what it answers. Values are the generated signals sampled at the asked times;
bodies, numbers and errors are shaped like Prometheus 2.42's.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from aiohttp import web

from ..config import Config
from .generate import World
from .openmetrics import BUCKETS
from .query_table import QueryTable, normalize_query
from .wire import SIMULATOR, json_response, params, parse_duration, parse_time, prom_time, prom_value

__all__ = ["create_app", "QueryTable", "normalize_query", "MAX_POINTS"]

MAX_POINTS = 11_000


def _error(message: str, *, status: int = 400, kind: str = "bad_data") -> web.Response:
    return json_response({"status": "error", "errorType": kind, "error": message}, status=status)


def _success(data: Any, warning: str | None = None) -> web.Response:
    body: dict[str, Any] = {"status": "success", "data": data}
    if warning:
        body["warnings"] = [warning]
    return json_response(body)


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
            series, warning = table.lookup(p.get("query", ""))
        except ValueError as e:
            return _error(f'invalid parameter "query": {e}')
        result = []
        for labels, svc, sig in series:
            v = value_of(svc, sig, t)
            if v is not None:
                result.append({"metric": labels, "value": [prom_time(t), prom_value(v)]})
        return _success({"resultType": "vector", "result": result}, warning)

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
            series, warning = table.lookup(p.get("query", ""))
        except ValueError as e:
            return _error(str(e))  # a range query's parse error has no `invalid parameter` prefix in 2.42
        result = []
        for labels, svc, sig in series:
            if not world.has(svc, sig):
                continue
            points = world.sample(svc, sig, start, end, step)
            if points:
                result.append({"metric": labels, "values": [[prom_time(t), prom_value(v)] for t, v in points]})
        return _success({"resultType": "matrix", "result": result}, warning)

    def label_values(name: str) -> list[str]:
        svcs = [s.name for s in world.services]
        values: dict[str, list[str]] = {
            "service": svcs, "job": svcs, "container": svcs,
            "namespace": sorted({world.namespace(s) for s in svcs}),
            "instance": [labels["instance"] for labels, _ in table.up_series()],
            "code": ["200", "500"],
            "le": [prom_value(b) for b in BUCKETS] + ["+Inf"],
            "__name__": table.metric_names(),
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
