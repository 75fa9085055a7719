"""A Loki HTTP API over the generated log lines: query_range (streams and metric matrices), labels, ready.

Wire format as Loki's: nanosecond string timestamps for log lines, float seconds in matrices, a `stats` object
with Loki's keys, `limit` (default 100, at most 5000) and `direction` (default backward); errors are plain text
with HTTP 400. The LogQL understood is described in `logql.py`.
"""

from __future__ import annotations

import bisect
import math
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from aiohttp import web

from .generate import World
from .logql import LogQLError, LogQuery, RangeAggregation, VectorAggregation, parse_logql
from .logs import LogEntry
from .matchers import matches_all
from .wire import SIMULATOR, json_response, params, parse_duration, parse_time, prom_time, prom_value

__all__ = ["create_app", "stats", "limit_direction", "result_body", "matrix_json", "Refused", "MAX_LIMIT", "MAX_SCAN"]

MAX_LIMIT = 5000
MAX_SCAN = 400_000  # lines a single query may look at
STREAM_LABELS = ("app", "container", "job", "namespace", "pod", "stream")
_STORE = {"chunksDownloadTime": 0, "congestionControlLatency": 0, "totalChunksRef": 0, "totalChunksDownloaded": 0,
          "chunkRefsFetchTime": 0, "queryReferencedStructuredMetadata": False, "queryUsedV2Engine": False,
          "pipelineWrapperFilteredLines": 0}
_CHUNK = ("compressedBytes", "decompressedBytes", "decompressedLines", "decompressedStructuredMetadataBytes",
          "headChunkBytes", "headChunkLines", "headChunkStructuredMetadataBytes", "postFilterLines", "totalDuplicates")
_DATAOBJ = ("pageBatches", "pagesDownloaded", "pagesDownloadedBytes", "pagesScanned", "postFilterRows",
            "postPredicateRows", "postPredicateDecompressedBytes", "postPredicateStructuredMetadataBytes",
            "prePredicateDecompressedRows", "prePredicateDecompressedBytes",
            "prePredicateDecompressedStructuredMetadataBytes", "totalPageDownloadTime", "totalRowsAvailable",
            "wireBytesTransferred")
_CACHES = ("chunk", "index", "statsResult", "seriesResult", "labelResult", "volumeResult", "instantMetricResult",
           "result", "logResult", "taskResult")
_CACHE = ("entriesFound", "entriesRequested", "entriesStored", "bytesReceived", "bytesSent", "requests",
          "downloadTime", "queryLengthServed")


class Refused(Exception):
    """A request Loki would answer with a plain-text 400."""


def limit_direction(p: Mapping[str, str]) -> tuple[int, bool]:
    """A query_range's `limit` and whether it reads newest first, checked as Loki checks them."""
    try:
        limit = int(p.get("limit") or 100)
    except ValueError:
        raise Refused(f"cannot parse limit {p.get('limit')!r}") from None
    if limit <= 0:
        raise Refused("limit must be a positive value")
    if limit > MAX_LIMIT:
        raise Refused(f"max entries limit per query exceeded, limit > max_entries_limit_per_query "
                      f"({limit} > {MAX_LIMIT})")
    direction = (p.get("direction") or "backward").lower()
    if direction not in ("backward", "forward"):
        raise Refused(f"invalid direction {p.get('direction')!r}")
    return limit, direction == "backward"


def stats(*, scanned: int = 0, scanned_bytes: int = 0, returned: int = 0, exec_s: float = 0.0) -> dict[str, Any]:
    """Loki's `stats` object (3.x keys); the sandbox fills the summary and the line counts."""

    def store() -> dict[str, Any]:
        chunk = dict.fromkeys(_CHUNK, 0)
        chunk.update(decompressedLines=scanned, decompressedBytes=scanned_bytes, postFilterLines=returned)
        return {**_STORE, "chunk": chunk, "dataobj": dict.fromkeys(_DATAOBJ, 0)}

    def per_s(n: float) -> int:
        return int(n / exec_s) if exec_s > 0 else 0

    return {
        "index": {"bloomFilterTime": 0, "chunkRefsLookupTime": 0, "postFilterChunks": 0, "totalChunks": 0,
                  "totalStreams": 0, "usedBloomFilters": False, "shardsDuration": 0},
        "ingester": {"store": store(), "totalBatches": 0, "totalChunksMatched": 0, "totalLinesSent": 0,
                     "totalReached": 0},
        "querier": {"querierExecTime": 0, "store": store()},
        "cache": {name: dict.fromkeys(_CACHE, 0) for name in _CACHES},
        "summary": {"bytesProcessedPerSecond": per_s(scanned_bytes), "execTime": exec_s,
                    "linesProcessedPerSecond": per_s(scanned), "queueTime": 0, "shards": 1, "splits": 0,
                    "subqueries": 0, "totalBytesProcessed": scanned_bytes, "totalEntriesReturned": returned,
                    "totalLinesProcessed": scanned, "totalStructuredMetadataBytesProcessed": 0,
                    "totalPostFilterLines": returned},
    }


def _key(labels: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(labels.items()))


class _Engine:
    def __init__(self, world: World) -> None:
        self.world = world

    def services(self, q: LogQuery) -> list[str]:
        """Services whose streams can match the selector (pod matchers are checked per line)."""
        out = []
        for svc in self.world.services:
            rep = dict(self.world.logs(svc.name).labels(""))
            if all(m.matches(rep) for m in q.matchers if m.name != "pod") and svc.logs.templates:
                out.append(svc.name)
        return out

    def lines(self, q: LogQuery, start: float, end: float, *, newest_first: bool, limit: int | None,
              counter: list[int]) -> Iterator[LogEntry]:
        """Matching lines in [start, end), in time order; `counter` accumulates [lines scanned, bytes scanned]."""
        pod_check = any(m.name == "pod" for m in q.matchers)
        end_ns = int(end * 1e9)
        for ns, labels, line in self.world.log_entries(self.services(q), start, end, newest_first=newest_first):
            if ns >= end_ns:
                continue  # Loki's end is exclusive
            counter[0] += 1
            counter[1] += len(line)
            if counter[0] > MAX_SCAN:
                raise Refused(f"{SIMULATOR}: the query would scan more than {MAX_SCAN} lines; narrow the window")
            if (pod_check and not matches_all(q.matchers, labels)) or not q.keep(line):
                continue
            yield ns, labels, line
            if limit is not None:
                limit -= 1
                if limit <= 0:
                    return

    def streams(self, q: LogQuery, start: float, end: float, limit: int, newest_first: bool,
                counter: list[int]) -> list[dict[str, Any]]:
        grouped: dict[int, tuple[dict[str, str], list[list[str]]]] = {}
        for ns, labels, line in self.lines(q, start, end, newest_first=newest_first, limit=limit, counter=counter):
            grouped.setdefault(id(labels), (labels, []))[1].append([str(ns), line])
        out = [{"stream": dict(labels), "values": values} for labels, values in grouped.values()]
        return sorted(out, key=lambda s: _key(s["stream"]))

    def matrix(self, expr: RangeAggregation | VectorAggregation, start: float, end: float, step: float,
               counter: list[int]) -> dict[tuple, list[tuple[float, float]]]:
        if isinstance(expr, VectorAggregation):
            inner = self.matrix(expr.inner, start, end, step, counter)
            groups: dict[tuple, dict[float, list[float]]] = defaultdict(lambda: defaultdict(list))
            for key, points in inner.items():
                labels = dict(key)
                if expr.by is not None:
                    labels = {k: v for k, v in labels.items() if k in expr.by}
                elif expr.without is not None:
                    labels = {k: v for k, v in labels.items() if k not in expr.without}
                else:
                    labels = {}
                for t, v in points:
                    groups[_key(labels)][t].append(v)
            fns: dict[str, Callable[[list[float]], float]] = {
                "sum": sum, "count": len, "min": min, "max": max, "avg": lambda xs: sum(xs) / len(xs)}
            fn = fns[expr.op]
            return {k: [(t, float(fn(vs))) for t, vs in sorted(byt.items())] for k, byt in groups.items()}
        r = expr.range_s
        series: dict[int, tuple[dict[str, str], list[float]]] = {}
        for ns, labels, _line in self.lines(expr.inner, start - r, end + 1e-9, newest_first=False, limit=None,
                                           counter=counter):
            series.setdefault(id(labels), (labels, []))[1].append(ns / 1e9)
        steps = [start + k * step for k in range(int(math.floor((end - start) / step + 1e-9)) + 1)]
        out: dict[tuple, list[tuple[float, float]]] = {}
        for labels, ts in series.values():
            points = []
            for t in steps:
                n = bisect.bisect_right(ts, t) - bisect.bisect_right(ts, t - r)
                if n:
                    points.append((t, n / r if expr.func == "rate" else float(n)))
            if points:
                out[_key(labels)] = points
        return out


def result_body(result_type: str, result: list[Any], counter: list[int], started: float) -> web.Response:
    """A successful query answer with Loki's `stats` (lines and bytes scanned, entries returned, time taken)."""
    returned = sum(len(s.get("values", ())) for s in result) if result_type == "streams" else 0
    return json_response({"status": "success", "data": {
        "resultType": result_type, "result": result,
        "stats": stats(scanned=counter[0], scanned_bytes=counter[1], returned=returned,
                       exec_s=round(time.perf_counter() - started, 6))}})


def matrix_json(m: dict[tuple, list[tuple[float, float]]], *, instant: bool) -> list[dict[str, Any]]:
    """Metric-query series as Loki returns them: a vector (`instant`) or a matrix, sorted by labels."""
    out = []
    for key in sorted(m):
        pts = [[prom_time(t), prom_value(v)] for t, v in m[key]]
        out.append({"metric": dict(key), "value": pts[-1]} if instant else {"metric": dict(key), "values": pts})
    return out


def _text(message: str, status: int = 400) -> web.Response:
    return web.Response(text=message, status=status, content_type="text/plain")


def create_app(world: World) -> web.Application:
    engine = _Engine(world)

    def window(p: dict[str, str]) -> tuple[float, float]:
        try:
            end = parse_time(p["end"], loki=True) if p.get("end") else world.now()
            if p.get("start"):
                start = parse_time(p["start"], loki=True)
            else:
                start = end - (parse_duration(p["since"]) if p.get("since") else 3600.0)
        except ValueError as e:
            raise Refused(str(e)) from None
        if end <= start:
            raise Refused("end timestamp must not be before or equal to start time")
        return start, end

    async def query_range(request: web.Request) -> web.Response:
        started = time.perf_counter()
        p = await params(request)
        counter = [0, 0]
        try:
            expr = parse_logql(p.get("query", ""))
            start, end = window(p)
            if isinstance(expr, LogQuery):
                limit, newest_first = limit_direction(p)
                lines = engine.streams(expr, start, end, limit, newest_first, counter)
                return result_body("streams", lines, counter, started)
            raw_step = p.get("step") or p.get("interval")
            step = parse_duration(raw_step) if raw_step else max(math.ceil((end - start) / 250), 1)
            if step <= 0:
                raise Refused("zero or negative query resolution step widths are not accepted. Try a positive integer")
            if (end - start) / step > 11_000:
                raise Refused("exceeded maximum resolution of 11,000 points per timeseries. Try increasing the "
                               "value of the step parameter")
            return result_body("matrix", matrix_json(engine.matrix(expr, start, end, step, counter), instant=False),
                        counter, started)
        except (LogQLError, Refused, ValueError) as e:
            return _text(str(e))

    async def query(request: web.Request) -> web.Response:
        started = time.perf_counter()
        p = await params(request)
        counter = [0, 0]
        try:
            expr = parse_logql(p.get("query", ""))
            t = parse_time(p["time"], loki=True) if p.get("time") else world.now()
            if isinstance(expr, LogQuery):
                raise Refused("log queries are not supported as an instant query type, please change your query "
                               "to a range query type")
            vector = matrix_json(engine.matrix(expr, t, t, 1.0, counter), instant=True)
            return result_body("vector", vector, counter, started)
        except (LogQLError, Refused, ValueError) as e:
            return _text(str(e))

    def pods_in(svc: str, start: float, end: float) -> set[str]:
        times = [start] + [d.deployed_at for d in world.history(svc) if start < d.deployed_at <= end]
        return {p for t in times for p in world.pods(svc, t)}

    async def labels(request: web.Request) -> web.Response:
        return json_response({"status": "success", "data": list(STREAM_LABELS)})

    async def label_values(request: web.Request) -> web.Response:
        p = await params(request)
        try:
            start, end = window({**p, "since": p.get("since") or "6h"})
        except Refused as e:
            return _text(str(e))
        name = request.match_info["name"]
        values: set[str] = set()
        for svc in world.services:
            if not svc.logs.templates:
                continue
            for pod in pods_in(svc.name, *world.clip(start, end)):
                values.add(world.logs(svc.name).labels(pod).get(name, ""))
        values.discard("")
        return json_response({"status": "success", "data": sorted(values)})

    async def ready(request: web.Request) -> web.Response:
        return web.Response(text="ready\n")

    app = web.Application()
    for path, handler in (("/loki/api/v1/query_range", query_range), ("/loki/api/v1/query", query)):
        app.router.add_get(path, handler)
        app.router.add_post(path, handler)
    app.router.add_get("/loki/api/v1/labels", labels)
    app.router.add_get("/loki/api/v1/label/{name}/values", label_values)
    app.router.add_get("/ready", ready)
    return app
