"""The Nezha day's pod logs, read in place and served through a Loki wire-format HTTP server on loopback.

    with serve_logs(Path("../shared/benchmarks/nezha"), "2023-01-29") as url:
        LokiBackend(client, url).query_range('{namespace="trainticket", app="ts-food-service"}', window)

Source: `<day>/log/HH_MM_log.csv.gz` and `<day>/normal/*_log.csv.gz` (`Timestamp, TimeUnixNano, Node, PodName,
Container, TraceID, SpanID, Log`). What this module does with them:

- The line is the `log` field of the container runtime's JSON in `Log`, its trailing newline dropped; the time is
  `TimeUnixNano`. Two rows of 2023-01-29 hold a JSON object followed by a fragment of another line (the runtime's
  writes interleaved); the first object is taken.
- Consecutive minute files overlap by a few seconds (and one file spans three minutes): a row seen twice (same
  time, pod and line) is kept once.
- Streams are labelled `{namespace, app, pod, container}`, `app` = the pod name without its two trailing hash parts
  (the ground truth's service name), as a Kubernetes promtail config would label them.
- The files only cover the minutes around each fault (about one minute before and two after the injection) and
  one normal minute: a query over other times finds nothing, as Loki would after a retention gap.

The server answers `/loki/api/v1/query_range` (log queries and `count_over_time`/`rate` metric queries, with
`sum/count/min/max/avg by/without`), `/loki/api/v1/query` (metric queries), `/loki/api/v1/labels`,
`/loki/api/v1/label/<name>/values` and `/ready`, with the LogQL subset and wire format of the sandbox's Loki
(`sre_bot/sandbox/logql.py`): `limit` (default 100, at most 5000), `direction`, `start`/`end` in ns (end
exclusive for log lines), errors as plain-text 400s. Each stream keeps its lines sorted by time, so a window is two
bisections per stream.
"""

from __future__ import annotations

import asyncio
import bisect
import csv
import gzip
import heapq
import json
import math
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from sre_bot.sandbox.logql import LogQLError, LogQuery, RangeAggregation, VectorAggregation, parse_logql
from sre_bot.sandbox.loki_api import Refused as _Refused
from sre_bot.sandbox.loki_api import limit_direction, matrix_json, result_body
from sre_bot.sandbox.matchers import matches_all
from sre_bot.sandbox.wire import json_response, parse_duration

__all__ = ["LogStream", "DayLogs", "load_logs", "serve_logs", "service_of_pod"]

_POD_RE = re.compile(r"(.+)-[a-z0-9]{6,10}-[a-z0-9]{5}")
_DECODER = json.JSONDecoder()
csv.field_size_limit(1 << 24)


def service_of_pod(pod: str) -> str:
    """`ts-food-service-f5756978c-k8vqf` → `ts-food-service` (the pod name without its two hash parts)."""
    m = _POD_RE.fullmatch(pod)
    return m.group(1) if m else pod


@dataclass
class LogStream:
    labels: dict[str, str]
    ts: list[int] = field(default_factory=list)  # ns, ascending
    lines: list[str] = field(default_factory=list)

    def span(self, start_ns: int, end_ns: int) -> tuple[int, int]:
        """Indexes [i, j) of the entries with start <= ts < end."""
        return bisect.bisect_left(self.ts, start_ns), bisect.bisect_left(self.ts, end_ns)


@dataclass
class DayLogs:
    streams: list[LogStream]
    files: int
    rows: int
    duplicates: int
    quirks: list[str]

    @property
    def lines(self) -> int:
        return sum(len(s.ts) for s in self.streams)

    def services(self) -> list[str]:
        return sorted({s.labels["app"] for s in self.streams})


def _line(raw: str) -> str:
    try:
        obj, _ = _DECODER.raw_decode(raw)
    except ValueError:
        return raw
    text = obj.get("log", raw) if isinstance(obj, dict) else raw
    return str(text).rstrip("\n")


def load_logs(data_dir: Path, day: str, *, namespace: str = "trainticket") -> DayLogs:
    """Every log row of the day (fault minutes and normal minutes), deduplicated, as labelled sorted streams."""
    folder = data_dir / day
    files = sorted((folder / "log").glob("*_log.csv.gz")) + sorted((folder / "normal").glob("*_log.csv.gz"))
    seen: set[tuple[int, str, str]] = set()
    by_key: dict[tuple[str, str], list[tuple[int, str]]] = {}
    rows = dups = 0
    for path in files:
        with gzip.open(path, "rt", encoding="utf-8", newline="") as fh:
            for r in csv.DictReader(fh):
                rows += 1
                ts, pod, line = int(r["TimeUnixNano"]), r["PodName"], _line(r["Log"])
                key = (ts, pod, line)
                if key in seen:
                    dups += 1
                    continue
                seen.add(key)
                by_key.setdefault((pod, r["Container"]), []).append((ts, line))
    streams = []
    for (pod, container), entries in sorted(by_key.items()):
        entries.sort()
        labels = {"namespace": namespace, "app": service_of_pod(pod), "pod": pod, "container": container}
        streams.append(LogStream(labels, [t for t, _ in entries], [x for _, x in entries]))
    quirks = [f"{dups} of {rows} rows repeat an earlier row (overlapping minute files) and are served once"
              ] if dups else []
    return DayLogs(streams=streams, files=len(files), rows=rows, duplicates=dups, quirks=quirks)


def _ns(raw: str | None, default: int) -> int:
    """Loki's time parameter: ns (more than 10 digits), seconds (integer or float) or RFC 3339."""
    if not raw:
        return default
    s = raw.strip()
    if re.fullmatch(r"-?\d+", s):
        return int(s) if len(s) > 10 else int(s) * 10**9
    try:
        return int(float(s) * 1e9)
    except ValueError:
        pass
    try:
        return int(datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp() * 1e9)
    except ValueError:
        raise _Refused(f"cannot parse {raw!r} to a valid timestamp") from None


class _Engine:
    def __init__(self, logs: DayLogs) -> None:
        self.logs = logs
        self.last_ns = max((s.ts[-1] for s in logs.streams if s.ts), default=0)
        self._memo: dict[tuple[Any, int], bytearray] = {}

    def _kept(self, q: LogQuery, k: int, i: int, j: int) -> list[int]:
        """Indexes in [i, j) of stream k whose line passes q's line filters; each line is tested once per
        distinct filter chain (a case-insensitive regex over every line of an hour costs seconds in Python)."""
        if not q.filters:
            return list(range(i, j))
        s = self.logs.streams[k]
        key = (tuple((op, text) for op, text, _ in q.filters), k)
        memo = self._memo.setdefault(key, bytearray(b"\x02") * len(s.ts))
        out = []
        for n in range(i, j):
            if memo[n] == 2:
                memo[n] = q.keep(s.lines[n])
            if memo[n]:
                out.append(n)
        return out

    def selected(self, q: LogQuery) -> list[LogStream]:
        return [s for s in self.logs.streams if matches_all(q.matchers, s.labels)]

    def entries(self, q: LogQuery, start: int, end: int, *, newest_first: bool, limit: int | None,
                counter: list[int]) -> Iterator[tuple[int, int, str]]:
        """(ts, stream index, line) of matching lines in [start, end), merged across streams in time order.
        Each stream's span is filtered first (a list comprehension), then only the matches are merged."""
        matched = []
        for k, s in enumerate(self.logs.streams):
            if not matches_all(q.matchers, s.labels):
                continue
            i, j = s.span(start, end)
            counter[0] += j - i
            counter[1] += sum(len(x) for x in s.lines[i:j])
            hits = self._kept(q, k, i, j)
            if newest_first:
                hits.reverse()
            matched.append([(-s.ts[n] if newest_first else s.ts[n], k, n) for n in hits])
        for key, k, n in heapq.merge(*matched):
            yield (-key if newest_first else key), k, self.logs.streams[k].lines[n]
            if limit is not None:
                limit -= 1
                if limit <= 0:
                    return

    def streams(self, q: LogQuery, start: int, end: int, limit: int, newest_first: bool,
                counter: list[int]) -> list[dict[str, Any]]:
        grouped: dict[int, list[list[str]]] = {}
        for ts, k, line in self.entries(q, start, end, newest_first=newest_first, limit=limit, counter=counter):
            grouped.setdefault(k, []).append([str(ts), line])
        return [{"stream": dict(self.logs.streams[k].labels), "values": v} for k, v in sorted(grouped.items())]

    def matrix(self, expr: RangeAggregation | VectorAggregation, start: int, end: int, step: int,
               counter: list[int]) -> dict[tuple[tuple[str, str], ...], list[tuple[float, float]]]:
        if isinstance(expr, VectorAggregation):
            inner = self.matrix(expr.inner, start, end, step, counter)
            groups: dict[tuple[tuple[str, str], ...], dict[float, list[float]]] = {}
            for key, points in inner.items():
                labels = dict(key)
                if expr.by is not None:
                    labels = {k: v for k, v in labels.items() if k in expr.by}
                elif expr.without is not None:
                    labels = {k: v for k, v in labels.items() if k not in expr.without}
                else:
                    labels = {}
                acc = groups.setdefault(tuple(sorted(labels.items())), {})
                for t, v in points:
                    acc.setdefault(t, []).append(v)
            fns: dict[str, Any] = {"sum": sum, "count": len, "min": min, "max": max,
                                   "avg": lambda xs: sum(xs) / len(xs)}
            fn = fns[expr.op]
            return {k: [(t, float(fn(vs))) for t, vs in sorted(byt.items())] for k, byt in groups.items()}
        rng = int(expr.range_s * 1e9)
        steps = list(range(start, end + 1, step))
        out: dict[tuple[tuple[str, str], ...], list[tuple[float, float]]] = {}
        for k, s in enumerate(self.logs.streams):
            if not matches_all(expr.inner.matchers, s.labels):
                continue
            i, j = s.span(start - rng + 1, end + 1)
            counter[0] += j - i
            counter[1] += sum(len(x) for x in s.lines[i:j])
            kept = [s.ts[n] for n in self._kept(expr.inner, k, i, j)]
            if not kept:
                continue
            points = []
            for t in steps:  # Loki's range (t - range, t]
                n = bisect.bisect_right(kept, t) - bisect.bisect_right(kept, t - rng)
                if n:
                    points.append((t / 1e9, n / expr.range_s if expr.func == "rate" else float(n)))
            if points:
                out[tuple(sorted(s.labels.items()))] = points
        return out


def _nonempty(span: tuple[int, int]) -> bool:
    return span[0] < span[1]


def _text(message: str, status: int = 400) -> web.Response:
    return web.Response(text=message if message.endswith("\n") else message + "\n", status=status,
                        content_type="text/plain")


def create_app(logs: DayLogs) -> web.Application:
    """The Loki HTTP API over `logs`."""
    engine = _Engine(logs)

    def window(p: Any, default_s: float) -> tuple[int, int]:
        end = _ns(p.get("end"), engine.last_ns + 1)
        start = _ns(p.get("start"), end - int(default_s * 1e9))
        if end <= start:
            raise _Refused("end timestamp must not be before or equal to start time")
        return start, end

    async def query_range(request: web.Request) -> web.Response:
        started = time.perf_counter()
        p = request.query
        counter = [0, 0]
        try:
            expr = parse_logql(p.get("query", ""))
            start, end = window(p, 3600)
            if isinstance(expr, LogQuery):
                limit, newest_first = limit_direction(p)
                result = engine.streams(expr, start, end, limit, newest_first, counter)
                return result_body("streams", result, counter, started)
            raw_step = p.get("step") or p.get("interval")
            step_s = parse_duration(raw_step) if raw_step else max(math.ceil((end - start) / 1e9 / 250), 1)
            if step_s <= 0:
                raise _Refused("zero or negative query resolution step widths are not accepted. Try a positive integer")
            if (end - start) / 1e9 / step_s > 11_000:
                raise _Refused("exceeded maximum resolution of 11,000 points per timeseries. Try increasing the "
                               "value of the step parameter")
            m = engine.matrix(expr, start, end, int(step_s * 1e9), counter)
            return result_body("matrix", matrix_json(m, instant=False), counter, started)
        except (LogQLError, _Refused, ValueError) as e:
            return _text(str(e))

    async def query(request: web.Request) -> web.Response:
        started = time.perf_counter()
        counter = [0, 0]
        try:
            expr = parse_logql(request.query.get("query", ""))
            t = _ns(request.query.get("time"), engine.last_ns)
            if isinstance(expr, LogQuery):
                raise _Refused("log queries are not supported as an instant query type, please change your query "
                               "to a range query type")
            return result_body("vector", matrix_json(engine.matrix(expr, t, t, 10**9, counter), instant=True),
                        counter, started)
        except (LogQLError, _Refused, ValueError) as e:
            return _text(str(e))

    def in_window(request: web.Request) -> list[LogStream]:
        if "start" not in request.query and "end" not in request.query:
            return logs.streams
        start, end = window(request.query, 6 * 3600)
        return [s for s in logs.streams if _nonempty(s.span(start, end))]

    async def labels(request: web.Request) -> web.Response:
        try:
            streams = in_window(request)
        except _Refused as e:
            return _text(str(e))
        return json_response({"status": "success", "data": sorted({k for s in streams for k in s.labels})})

    async def label_values(request: web.Request) -> web.Response:
        try:
            streams = in_window(request)
        except _Refused as e:
            return _text(str(e))
        name = request.match_info["name"]
        return json_response({"status": "success",
                              "data": sorted({s.labels[name] for s in streams if name in s.labels})})

    async def ready(request: web.Request) -> web.Response:
        return web.Response(text="ready\n")

    app = web.Application()
    for path, handler in (("/loki/api/v1/query_range", query_range), ("/loki/api/v1/query", query)):
        app.router.add_get(path, handler)
    app.router.add_get("/loki/api/v1/labels", labels)
    app.router.add_get("/loki/api/v1/label/{name}/values", label_values)
    app.router.add_get("/ready", ready)
    return app


@contextmanager
def serve_app(app: web.Application) -> Iterator[str]:
    """Serve `app` on a free loopback port from a background thread; yields the base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    failed: list[BaseException] = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        runner = web.AppRunner(app, access_log=None)
        try:
            loop.run_until_complete(runner.setup())
            loop.run_until_complete(web.SockSite(runner, sock).start())
        except BaseException as e:  # reported to the caller below
            failed.append(e)
            ready.set()
            return
        ready.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    thread = threading.Thread(target=run, name="nezha-loki", daemon=True)
    thread.start()
    if not ready.wait(30) or failed:
        raise RuntimeError(f"the Loki log server did not start: {failed[0] if failed else 'timeout'}")
    try:
        yield url
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


@contextmanager
def serve_logs(data_dir: Path, day: str, *, namespace: str = "trainticket") -> Iterator[str]:
    """A Loki wire-format server over the day's pod logs on 127.0.0.1; yields its base URL."""
    with serve_app(create_app(load_logs(data_dir, day, namespace=namespace))) as url:
        yield url
