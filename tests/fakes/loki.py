"""A fake Loki HTTP API: in-memory streams, a LogQL subset, Loki's exact JSON shapes and plain-text errors.

    with FakeLoki() as loki:                          # or `async with`, or the `loki_server` fixture
        loki.push({"app": "checkout", "namespace": "shop"}, [(ts_ns, "GET /cart 500"), ...])
        LokiBackend(client, loki.url) ...
        loki.requests_to("/loki/api/v1/query_range")[0].param("limit")

Serves `/loki/api/v1/query_range` (log queries: `{a="b", c=~"d.*"}` plus `|=`, `!=`, `|~`, `!~` line filters;
metric queries: `count_over_time(...[5m])` / `rate(...)`, optionally inside `sum(...)` or `sum by (l) (...)`),
`/loki/api/v1/labels` and `/loki/api/v1/label/{name}/values`. Anything else in a query is a 400 with a
plain-text `parse error at line 1, col N: ...` body, as Loki answers. `start`/`end` accept nanoseconds, seconds
(with a `.`) or RFC 3339; `end` is exclusive for log lines, as in Loki.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from aiohttp import web

from . import FakeServer

__all__ = ["FakeLoki", "LogQLError", "parse_logql", "loki_stats"]

_TOKEN = re.compile(r'(?P<ws>\s+)|(?P<str>"(?:[^"\\]|\\.)*"|`[^`]*`)|(?P<dur>\d+(?:ms|s|m|h|d|w))'
                    r"|(?P<op>\|=|\|~|!=|=~|!~|[={},()\[\]|])|(?P<ident>[A-Za-z_][A-Za-z0-9_]*)")
_KINDS = {"str": "STRING", "ident": "IDENTIFIER", "dur": "DURATION", "eof": "$end"}
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_MAX_ENTRIES = 5000


def _zeros(names: str, **extra: Any) -> dict[str, Any]:
    return {**dict.fromkeys(names.split(), 0), **extra}


_STORE = _zeros(
    "chunksDownloadTime congestionControlLatency totalChunksRef totalChunksDownloaded chunkRefsFetchTime "
    "pipelineWrapperFilteredLines", queryReferencedStructuredMetadata=False, queryUsedV2Engine=False,
    chunk=_zeros("compressedBytes decompressedBytes decompressedLines decompressedStructuredMetadataBytes headChunkBytes "
                 "headChunkLines headChunkStructuredMetadataBytes postFilterLines totalDuplicates"),
    dataobj=_zeros("pageBatches pagesDownloaded pagesDownloadedBytes pagesScanned postFilterRows postPredicateRows "
                   "postPredicateDecompressedBytes postPredicateStructuredMetadataBytes prePredicateDecompressedRows "
                   "prePredicateDecompressedBytes prePredicateDecompressedStructuredMetadataBytes totalPageDownloadTime "
                   "totalRowsAvailable wireBytesTransferred"))
_CACHE = _zeros("entriesFound entriesRequested entriesStored bytesReceived bytesSent requests downloadTime "
                "queryLengthServed")


def loki_stats(lines: int = 0, exec_time: float = 0.0) -> dict[str, Any]:
    """The `data.stats` object Loki returns with every query (zeros except the summary counts)."""
    caches = "chunk index statsResult seriesResult labelResult volumeResult instantMetricResult result logResult taskResult"
    return {
        "index": _zeros("bloomFilterTime chunkRefsLookupTime postFilterChunks totalChunks totalStreams shardsDuration",
                        usedBloomFilters=False),
        "ingester": _zeros("totalBatches totalChunksMatched totalLinesSent totalReached", store=_STORE),
        "querier": _zeros("querierExecTime", store=_STORE),
        "cache": {k: _CACHE for k in caches.split()},
        "summary": _zeros("bytesProcessedPerSecond linesProcessedPerSecond queueTime shards splits subqueries "
                          "totalBytesProcessed totalStructuredMetadataBytesProcessed", execTime=exec_time,
                          totalEntriesReturned=lines, totalLinesProcessed=lines, totalPostFilterLines=lines),
    }


class LogQLError(ValueError):
    """A query the fake cannot parse; str() is the plain-text body Loki would send."""


@dataclass
class _LogQuery:
    matchers: list[tuple[str, str, str]]  # (label, op, value)
    filters: list[tuple[str, str]]  # (op, text)
    fn: str | None = None  # count_over_time | rate
    range_s: float = 0.0
    by: tuple[str, ...] | None = None  # None: no sum; (): sum over everything

    def selects(self, labels: Mapping[str, str]) -> bool:
        for name, op, value in self.matchers:
            have = labels.get(name, "")
            ok = have == value if op in ("=", "!=") else re.fullmatch(value, have) is not None
            if ok != (op in ("=", "=~")):
                return False
        return True

    def keeps(self, line: str) -> bool:
        for op, text in self.filters:
            hit = text in line if op in ("|=", "!=") else re.search(text, line) is not None
            if hit != (op in ("|=", "|~")):
                return False
        return True


def _unquote(tok: str) -> str:
    """A LogQL string literal's value: backquoted raw, or double-quoted with Go escapes (the JSON subset)."""
    try:
        return tok[1:-1] if tok.startswith("`") else json.loads(tok)
    except ValueError:
        raise LogQLError(f"invalid string literal {tok}") from None


def parse_logql(query: str) -> _LogQuery:
    """Parse the supported LogQL subset; raises LogQLError with a Loki-like message."""
    toks: list[tuple[str, str, int]] = []
    pos = 0
    while pos < len(query):
        m = _TOKEN.match(query, pos)
        if not m:
            raise LogQLError(f"parse error at line 1, col {pos + 1}: syntax error: unexpected character {query[pos]!r}")
        if m.lastgroup != "ws":
            toks.append((m.lastgroup or "", m.group(), pos + 1))
        pos = m.end()
    toks.append(("eof", "", len(query) + 1))
    p = _Parser(toks)
    q = p.query()
    p.expect("eof")
    if not any(op in ("=", "=~") and not re.fullmatch(v if op == "=~" else re.escape(v), "") for _, op, v in q.matchers):
        raise LogQLError("parse error : queries require at least one regexp or equality matcher that does not have an "
                         "empty-compatible value. For instance, app=~\".*\" does not meet this requirement, but "
                         "app=~\".+\" will")
    return q


class _Parser:
    def __init__(self, toks: list[tuple[str, str, int]]) -> None:
        self.toks, self.i = toks, 0

    def accept(self, text: str) -> bool:
        if self.toks[self.i][1] != text:
            return False
        self.i += 1
        return True

    def expect(self, kind: str, text: str | None = None) -> str:
        k, t, col = self.toks[self.i]
        if k != kind or (text is not None and t != text):
            raise LogQLError(f"parse error at line 1, col {col}: syntax error: unexpected {_KINDS.get(k, t)}, "
                             f"expecting {text or _KINDS[kind]} (the fake Loki supports stream selectors, line "
                             "filters, count_over_time, rate and sum)")
        self.i += 1
        return t

    def query(self) -> _LogQuery:
        if self.accept("sum"):
            by = self.by()
            self.expect("op", "(")
            q = self.range_fn()
            self.expect("op", ")")
            q.by = by or self.by()
            return q
        return self.range_fn() if self.toks[self.i][0] == "ident" else self.log_query()

    def by(self) -> tuple[str, ...]:
        if not self.accept("by"):
            return ()
        self.expect("op", "(")
        names = [self.expect("ident")]
        while self.accept(","):
            names.append(self.expect("ident"))
        self.expect("op", ")")
        return tuple(names)

    def range_fn(self) -> _LogQuery:
        fn = self.toks[self.i][1]
        self.expect("ident", fn if fn in ("count_over_time", "rate") else "count_over_time")
        self.expect("op", "(")
        q = self.log_query()
        self.expect("op", "[")
        num, unit = re.fullmatch(r"(\d+)(\D+)", self.expect("dur")).groups()  # type: ignore[union-attr]
        self.expect("op", "]")
        self.expect("op", ")")
        q.fn, q.range_s = fn, int(num) * _UNITS[unit]
        return q

    def log_query(self) -> _LogQuery:
        self.expect("op", "{")
        matchers: list[tuple[str, str, str]] = []
        while not matchers or self.accept(","):
            name = self.expect("ident")
            op = next((o for o in ("=", "!=", "=~", "!~") if self.accept(o)), None) or self.expect("op", "=")
            matchers.append((name, op, self.string(regex=op in ("=~", "!~"))))
        self.expect("op", "}")
        filters = []
        while (op := self.toks[self.i][1]) in ("|=", "!=", "|~", "!~") and self.accept(op):
            filters.append((op, self.string(regex=op in ("|~", "!~"))))
        return _LogQuery(matchers, filters)

    def string(self, *, regex: bool) -> str:
        col = self.toks[self.i][2]
        value = _unquote(self.expect("str"))
        if regex:
            try:
                re.compile(value)
            except re.error as e:
                raise LogQLError(f"parse error at line 1, col {col}: error parsing regexp: {e}") from None
        return value


def _to_ns(value: int | float | datetime) -> int:
    if isinstance(value, datetime):
        value = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return (value - datetime(1970, 1, 1, tzinfo=timezone.utc)) // timedelta(microseconds=1) * 1000
    return value if isinstance(value, int) else int(value * 1e9)


def _param_ns(raw: str | None, default: int) -> int:
    """Loki's timestamp parameter: ns integer, seconds with '.', seconds when <= 10 digits, or RFC 3339."""
    if not raw:
        return default
    if re.fullmatch(r"\d+\.\d*", raw):
        return int(float(raw) * 1e9)
    if raw.isdigit():
        return int(raw) * 10**9 if len(raw) <= 10 else int(raw)
    return _to_ns(datetime.fromisoformat(raw.replace("Z", "+00:00")))


def _number(ts_ns: int) -> int | float:
    secs = ts_ns / 1e9
    return int(secs) if secs == int(secs) else round(secs, 3)


class FakeLoki(FakeServer):
    """In-memory Loki. `tenant`: when set, requests without that `X-Scope-OrgID` get Loki's 401 "no org id"."""

    name = "loki"

    def __init__(self, *, tenant: str | None = None) -> None:
        super().__init__()
        self.tenant = tenant
        self.streams: list[tuple[dict[str, str], list[tuple[int, str]]]] = []
        self._failures: list[tuple[int, str]] = []

    def push(self, labels: Mapping[str, str], entries: Iterable[tuple[int | float | datetime, str]]) -> None:
        """Add lines to the stream `labels`; a timestamp is ns (int), seconds (float) or a datetime."""
        rows = [(_to_ns(t), line) for t, line in entries]
        for have, existing in self.streams:
            if have == dict(labels):
                existing.extend(rows)
                return
        self.streams.append((dict(labels), rows))

    def fail_next(self, status: int, text: str, times: int = 1) -> None:
        """Answer the next `times` API requests with `status` and a plain-text body, as Loki does."""
        self._failures.extend([(status, text)] * times)

    def _routes(self, app: web.Application) -> None:
        app.router.add_get("/loki/api/v1/query_range", self._query_range)
        app.router.add_get("/loki/api/v1/labels", self._labels)
        app.router.add_get("/loki/api/v1/label/{name}/values", self._labels)

    def _refusal(self, request: web.Request) -> web.Response | None:
        if self.tenant and request.headers.get("X-Scope-OrgID") != self.tenant:
            return _error(401, "no org id")
        if self._failures:
            return _error(*self._failures.pop(0))
        return None

    def _window(self, request: web.Request, default_s: float) -> tuple[int, int]:
        now = time.time_ns()
        end = _param_ns(request.query.get("end"), now)
        return _param_ns(request.query.get("start"), end - int(default_s * 1e9)), end

    async def _query_range(self, request: web.Request) -> web.Response:
        if refused := self._refusal(request):
            return refused
        try:
            q = parse_logql(request.query.get("query", ""))
            start, end = self._window(request, 3600)
            limit = int(request.query.get("limit", "100"))
        except (LogQLError, ValueError) as e:
            return _error(400, str(e))
        if limit <= 0:
            return _error(400, "limit must be a positive value")
        if limit > _MAX_ENTRIES:
            return _error(400, f"max entries limit per query exceeded, limit > max_entries_limit ({limit} > {_MAX_ENTRIES})")
        t0 = time.perf_counter()
        if q.fn is None:
            data = self._streams(q, start, end, limit, request.query.get("direction", "backward"))
        else:
            data = self._matrix(q, start, end, float(request.query.get("step") or max((end - start) / 1e9 / 250, 1)))
        n = sum(len(r["values"]) for r in data["result"])
        data["stats"] = loki_stats(n, time.perf_counter() - t0)
        return web.json_response({"status": "success", "data": data})

    def _streams(self, q: _LogQuery, start: int, end: int, limit: int, direction: str) -> dict[str, Any]:
        hits = [(ts, i, line) for i, (labels, rows) in enumerate(self.streams) if q.selects(labels)
                for ts, line in rows if start <= ts < end and q.keeps(line)]
        hits.sort(key=lambda h: h[0], reverse=direction != "forward")
        by_stream: dict[int, list[list[str]]] = {}
        for ts, i, line in hits[:limit]:
            by_stream.setdefault(i, []).append([str(ts), line])
        return {"resultType": "streams",
                "result": [{"stream": self.streams[i][0], "values": v} for i, v in by_stream.items()]}

    def _matrix(self, q: _LogQuery, start: int, end: int, step_s: float) -> dict[str, Any]:
        series: dict[tuple[tuple[str, str], ...], dict[int, float]] = {}
        rng, step = int(q.range_s * 1e9), int(step_s * 1e9)
        for labels, rows in self.streams:
            if not q.selects(labels):
                continue
            key = tuple(sorted(labels.items() if q.by is None else ((k, labels.get(k, "")) for k in q.by)))
            key = tuple(kv for kv in key if kv[1])
            for t in range(start, end + 1, step):
                n = sum(1 for ts, line in rows if t - rng < ts <= t and q.keeps(line))
                if n:
                    acc = series.setdefault(key, {})
                    acc[t] = acc.get(t, 0) + (n / q.range_s if q.fn == "rate" else n)
        return {"resultType": "matrix", "result": [
            {"metric": dict(key), "values": [[_number(t), f"{v:g}"] for t, v in sorted(pts.items())]}
            for key, pts in series.items()]}

    async def _labels(self, request: web.Request) -> web.Response:
        if refused := self._refusal(request):
            return refused
        start, end = self._window(request, 6 * 3600)
        explicit = "start" in request.query or "end" in request.query
        name = request.match_info.get("name")
        found: set[str] = set()
        for labels, rows in self.streams:
            if explicit and not any(start <= ts < end for ts, _ in rows):
                continue
            found |= set(labels) if name is None else ({labels[name]} if name in labels else set())
        return web.json_response({"status": "success", "data": sorted(found)})


def _error(status: int, text: str) -> web.Response:
    """Loki's error answer: the message as a plain-text body."""
    return web.Response(status=status, text=text if text.endswith("\n") else text + "\n")
