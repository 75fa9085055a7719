"""A Tempo HTTP API over simulated traces: TraceQL search, trace by id (v2 and v1), tag values, ready.

Traces follow the scenario's call graph: every `SAMPLE_EVERY` seconds one request enters at each service nothing
depends on and walks `depends_on` (a server span per service, a client span per call; the first two calls of a
service run concurrently, the rest one after another). A span's own time is drawn from the service's latency
signal at that moment and it fails with the service's error ratio, so while the scenario's root cause is slow or
failing its spans are the slow and failed ones. Deterministic: ids and draws are a function of (seed, time), and
an id names its tick and entry service, so a trace by id is built alone.

Wire format as Tempo's (see `backends/tempo.py`): search answers `traces` with `spanSets`, times as nanosecond
strings, ids as hex (search) and base64 (OTLP); bad parameters and bad TraceQL are plain-text 400s.
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from .generate import World
from .signals import stable_key, uniform
from .traceql import SpanView, TraceQLError, compile_traceql

__all__ = ["create_app", "SimSpan", "SimTrace", "simulated_traces", "find_simulated", "routes", "TraceSource"]

SAMPLE_EVERY = 10.0  # seconds between simulated requests at each entry service
MAX_LIMIT = 1000
_DB_STATEMENT = "SELECT id, status FROM payments WHERE order_id = $1 FOR UPDATE"


@dataclass
class SimSpan:
    span_id: str  # 16 hex
    parent_id: str | None
    service: str
    name: str
    kind: str  # server | client
    start_ns: int
    end_ns: int
    error: bool = False
    attributes: dict[str, str] = field(default_factory=dict)

    def view(self) -> SpanView:
        return SpanView(name=self.name, status="error" if self.error else "unset", kind=self.kind,
                        duration_ns=self.end_ns - self.start_ns, resource={"service.name": self.service},
                        attributes=self.attributes)


@dataclass
class SimTrace:
    trace_id: str  # 32 hex
    spans: list[SimSpan]

    @property
    def root(self) -> SimSpan:
        return self.spans[0]


TraceSource = Callable[[float, float], Iterable[SimTrace]]  # [start, end) in Unix seconds -> traces


def _hex(n: int, digits: int) -> str:
    return f"{n % (1 << (4 * digits)):0{digits}x}"


class _Builder:
    def __init__(self, world: World, t: float, key: int) -> None:
        self.world, self.t, self.key, self.n = world, t, key, 0
        self.spans: list[SimSpan] = []

    def _u(self) -> float:
        self.n += 1
        return uniform(self.key, self.n)

    def _self_time(self, service: str) -> float:
        w = self.world
        p95 = w.value(service, "latency_p95", self.t) if w.has(service, "latency_p95") else 0.02
        return max(0.0005, p95 * (0.35 + 0.5 * self._u()) / 2)

    def _failed(self, service: str) -> bool:
        w = self.world
        ratio = w.value(service, "error_ratio", self.t) if w.has(service, "error_ratio") else 0.0
        return self._u() < ratio

    def service(self, name: str, parent: str | None, start_ns: int, depth: int) -> int:
        """The server span of `name` (and its calls) starting at `start_ns`; returns its end."""
        spec = self.world.service(name)
        sid = _hex(stable_key(self.key, "span", len(self.spans)), 16)
        db = spec.kind == "database"
        span = SimSpan(sid, parent, name, "query" if db else f"{'GET' if depth else 'POST'} /{name}",
                       "server", start_ns, start_ns,
                       attributes={"db.system": "postgresql", "db.statement": _DB_STATEMENT} if db
                       else {"http.request.method": "POST", "url.path": f"/{name}"})
        if db:
            span.name = "SELECT payments"
        self.spans.append(span)
        own = int(self._self_time(name) * 1e9)
        cursor = start_ns + own // 2
        calls = list(spec.depends_on) if depth < 6 else []
        ends = []
        for i, dep in enumerate(calls):
            cid = _hex(stable_key(self.key, "call", len(self.spans)), 16)
            call = SimSpan(cid, sid, name, f"{'SELECT' if self.world.service(dep).kind == 'database' else 'POST'} "
                           f"{dep}", "client", cursor, cursor, attributes={"peer.service": dep})
            self.spans.append(call)
            end = self.service(dep, cid, cursor + 200_000, depth + 1) + 200_000
            call.end_ns = end
            call.error = any(s.error for s in self.spans if s.parent_id == cid)
            ends.append(end)
            if i != 0 or len(calls) == 1:  # the first call overlaps the second (concurrent fan-out)
                cursor = max(ends)
        cursor = max([cursor, *ends])
        span.end_ns = cursor + own - own // 2
        span.error = self._failed(name) or (db is False and any(
            s.error for s in self.spans if s.parent_id is not None and s.kind == "client" and s.service == name)
            and self._u() < 0.5)
        return span.end_ns


def _entries(world: World) -> list[str]:
    called = {d for s in world.services for d in s.depends_on}
    return [s.name for s in world.services if s.name not in called] or [world.services[0].name]


def _one(world: World, k: int, i: int, entry: str) -> SimTrace:
    """The request that entered at `entry` (the i-th entry service) at tick `k`: its id says both (12 hex digits
    of tick, 4 of entry, then 16 seeded), so a trace is found by id without generating the others."""
    key = stable_key(world.scenario.seed, "trace", entry, k)
    b = _Builder(world, k * SAMPLE_EVERY, key)
    b.service(entry, None, int(k * SAMPLE_EVERY * 1e9), 0)
    return SimTrace(f"{k:012x}{i:04x}{_hex(stable_key(key, 'id'), 16)}", b.spans)


def simulated_traces(world: World) -> TraceSource:
    def source(start: float, end: float) -> Iterator[SimTrace]:
        lo, hi = world.clip(start, end)
        if hi <= lo:
            return
        entries = _entries(world)
        for k in range(math.ceil(lo / SAMPLE_EVERY), math.floor(hi / SAMPLE_EVERY) + 1):
            for i, entry in enumerate(entries):
                yield _one(world, k, i, entry)
    return source


def find_simulated(world: World) -> Callable[[str], SimTrace | None]:
    """A trace of `simulated_traces` by its id, or None (not one of ours, before retention, after the clock)."""
    def find(trace_id: str) -> SimTrace | None:
        tid = trace_id.lower().rjust(32, "0")
        try:
            k, i = int(tid[:12], 16), int(tid[12:16], 16)
        except ValueError:
            return None
        entries = _entries(world)
        lo, hi = world.clip(k * SAMPLE_EVERY, k * SAMPLE_EVERY)
        if i >= len(entries) or hi < lo:
            return None
        trace = _one(world, k, i, entries[i])
        return trace if trace.trace_id == tid else None
    return find


# -- the HTTP API ----------------------------------------------------------------------------------------------

def _bad(text: str) -> web.Response:
    return web.Response(status=400, text=text)


def _int_param(request: web.Request, name: str, default: int | None) -> int | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    if not re.fullmatch(r"\d+", raw):
        raise TraceQLError(f"invalid {name}: strconv.ParseInt: parsing {raw!r}: invalid syntax")
    return int(raw)


def _window(request: web.Request, now: float) -> tuple[float, float]:
    start, end = _int_param(request, "start", None), _int_param(request, "end", None)
    if (start is None) != (end is None):
        raise TraceQLError("invalid start and end: both or neither must be given")
    if start is None or end is None:
        return now - 3600, now + 1
    if end <= start:
        raise TraceQLError(f"http parameter start must be before end. received start={start} end={end}")
    return float(start), float(end)


def _b64(hex_id: str) -> str:
    return base64.b64encode(bytes.fromhex(hex_id)).decode()


def otlp(trace: SimTrace) -> dict[str, Any]:
    """The trace as OTLP JSON, as Tempo serves it (ids base64, times nanosecond strings, one resource each)."""
    by_service: dict[str, list[SimSpan]] = {}
    for s in trace.spans:
        by_service.setdefault(s.service, []).append(s)
    return {"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": svc}}]},
        "scopeSpans": [{"scope": {"name": "sre-bot-sandbox"}, "spans": [{
            "traceId": _b64(trace.trace_id), "spanId": _b64(s.span_id),
            **({"parentSpanId": _b64(s.parent_id)} if s.parent_id else {}),
            "name": s.name, "kind": f"SPAN_KIND_{s.kind.upper()}",
            "startTimeUnixNano": str(s.start_ns), "endTimeUnixNano": str(s.end_ns),
            "attributes": [{"key": k, "value": {"stringValue": v}} for k, v in s.attributes.items()],
            "status": {"code": "STATUS_CODE_ERROR", "message": "request failed"} if s.error else {},
        } for s in spans]}],
    } for svc, spans in by_service.items()]}


def routes(source: TraceSource, now: Callable[[], float], *, find: Callable[[str], SimTrace | None] | None = None,
           ) -> list[web.RouteDef]:
    """The Tempo routes over `source` (shared by the sandbox and the tests' wire-format server)."""

    def lookup(trace_id: str, request: web.Request) -> SimTrace | None:
        if find is not None:
            return find(trace_id)
        lo, hi = _window(request, now())
        if request.query.get("start") is None:
            lo = hi - 86400
        return next((t for t in source(lo, hi) if t.trace_id == trace_id.lower().rjust(32, "0")), None)

    async def search(request: web.Request) -> web.Response:
        try:
            lo, hi = _window(request, now())
            limit = min(_int_param(request, "limit", 20) or 20, MAX_LIMIT)
            spss = _int_param(request, "spss", 3) or 3
            q = request.query.get("q")
            if q is None:
                raise TraceQLError("only TraceQL search (q=) is served by this Tempo")
            pred = compile_traceql(q)
        except TraceQLError as e:
            return _bad(str(e))
        hits: list[dict[str, Any]] = []
        for tr in source(lo, hi):
            matched = [s for s in tr.spans if pred(s.view())]
            if not matched or not (lo * 1e9 <= tr.root.start_ns < hi * 1e9):
                continue
            root = tr.root
            hits.append({
                "traceID": tr.trace_id.lstrip("0") or "0", "rootServiceName": root.service,
                "rootTraceName": root.name, "startTimeUnixNano": str(root.start_ns),
                "durationMs": max(1, (max(s.end_ns for s in tr.spans) - root.start_ns) // 1_000_000),
                "spanSets": [{"spans": [{
                    "spanID": s.span_id, "startTimeUnixNano": str(s.start_ns),
                    "durationNanos": str(s.end_ns - s.start_ns),
                    "attributes": [{"key": "status", "value": {"stringValue": "error"}}] if s.error else [],
                } for s in matched[:spss]], "matched": len(matched)}],
            })
        hits.sort(key=lambda h: int(h["startTimeUnixNano"]), reverse=True)  # newest first, as Tempo's frontend
        return web.json_response({"traces": hits[:limit], "metrics": {"inspectedTraces": len(hits),
                                                                     "completedJobs": 1, "totalJobs": 1}})

    async def trace_v2(request: web.Request) -> web.Response:
        try:
            tr = lookup(request.match_info["id"], request)
        except TraceQLError as e:
            return _bad(str(e))
        if tr is None:
            return web.Response(status=404, text="trace not found")
        return web.json_response({"trace": otlp(tr), "status": "COMPLETE"})

    async def trace_v1(request: web.Request) -> web.Response:
        try:
            tr = lookup(request.match_info["id"], request)
        except TraceQLError as e:
            return _bad(str(e))
        if tr is None:
            return web.Response(status=404, text="trace not found")
        return web.json_response(otlp(tr))

    async def tag_values(request: web.Request) -> web.Response:
        tag = request.match_info["tag"]
        if tag not in ("resource.service.name", ".service.name", "service.name"):
            return web.json_response({"tagValues": [], "metrics": {}})
        try:
            lo, hi = _window(request, now())
        except TraceQLError as e:
            return _bad(str(e))
        names = sorted({s.service for tr in source(max(lo, hi - 600), hi) for s in tr.spans})
        return web.json_response({"tagValues": [{"type": "string", "value": n} for n in names],
                                  "metrics": {"inspectedBytes": "0"}})

    async def ready(request: web.Request) -> web.Response:
        return web.Response(text="ready")

    return [web.get("/api/search", search), web.get("/api/v2/traces/{id}", trace_v2),
            web.get("/api/traces/{id}", trace_v1), web.get("/api/v2/search/tag/{tag}/values", tag_values),
            web.get("/ready", ready)]


def create_app(world: World) -> web.Application:
    app = web.Application()
    app.add_routes(routes(simulated_traces(world), world.now, find=find_simulated(world)))
    return app
