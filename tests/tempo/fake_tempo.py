"""A Tempo HTTP API on a real TCP port that answers as Tempo's docs say (`../shared/fixtures/tempo/http-api.md`) and
checks the request parameters as Tempo does: published OTLP traces (e.g. `trace-with-failed-requests.json`,
verbatim) are stored as they are and served from `/api/v2/traces/<id>` (wrapped in `{"trace", "status"}`) and
`/api/traces/<id>`; `/api/search?q=` evaluates the TraceQL filter per span (the sandbox's evaluator) and answers
`traces` with `spanSets`; `/api/v2/search/tag/<tag>/values` answers `tagValues`. Bad parameters or TraceQL: a
plain-text 400 with Tempo's wording. `tenant` / `token`: requests without that X-Scope-OrgID / bearer token get
401. `v1_only`: the v2 trace route is a 404 page, as on a Tempo older than 2.5."""

from __future__ import annotations

import base64
import copy
import json
import re
from pathlib import Path
from typing import Any

from aiohttp import web

from sre_bot.sandbox.traceql import SpanView, TraceQLError, compile_traceql
from tests.fakes import FakeServer

FIXTURES = Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures" / "tempo"
_HEX = re.compile(r"^[0-9a-f]+$")


def fixture_trace() -> dict[str, Any]:
    """The published OTLP trace with failed requests, read from ../shared at test time (never copied)."""
    return json.loads((FIXTURES / "trace-with-failed-requests.json").read_text())


def _hex(raw: str) -> str:
    return raw.lower() if _HEX.match(raw.lower()) and len(raw) in (16, 32) else base64.b64decode(raw).hex()


def _attrs(items: Any) -> dict[str, str]:
    out = {}
    for a in items or []:
        v = a.get("value") or {}
        out[a["key"]] = str(next(iter(v.values()))) if v else ""
    return out


def _spans(otlp: dict[str, Any]) -> list[tuple[dict[str, str], dict[str, Any]]]:
    out = []
    for rs in otlp.get("resourceSpans") or otlp.get("batches") or []:
        res = _attrs((rs.get("resource") or {}).get("attributes"))
        for ss in rs.get("scopeSpans") or rs.get("instrumentationLibrarySpans") or []:
            out.extend((res, sp) for sp in ss.get("spans") or [])
    return out


def _view(res: dict[str, str], sp: dict[str, Any]) -> SpanView:
    code = (sp.get("status") or {}).get("code")
    status = "error" if code in ("STATUS_CODE_ERROR", 2) else "ok" if code in ("STATUS_CODE_OK", 1) else "unset"
    kind = str(sp.get("kind") or "SPAN_KIND_UNSPECIFIED").removeprefix("SPAN_KIND_").lower()
    return SpanView(name=sp.get("name", ""), status=status, kind=kind,
                    duration_ns=int(sp["endTimeUnixNano"]) - int(sp["startTimeUnixNano"]), resource=res,
                    attributes=_attrs(sp.get("attributes")))


def _int(request: web.Request, name: str) -> int | None:
    raw = request.query.get(name)
    if raw is None:
        return None
    if not re.fullmatch(r"\d+", raw):
        raise TraceQLError(f"invalid {name}: strconv.ParseInt: parsing {raw!r}: invalid syntax")
    return int(raw)


class FakeTempo(FakeServer):
    name = "tempo"

    def __init__(self, *, tenant: str | None = None, token: str | None = None, v1_only: bool = False) -> None:
        super().__init__()
        self.tenant, self.token, self.v1_only = tenant, token, v1_only
        self.traces: dict[str, dict[str, Any]] = {}  # hex trace id -> OTLP JSON as published
        self._failures: list[tuple[int, str]] = []
        self.broken: dict[str, tuple[int, str]] = {}  # trace id -> the status and text its reads answer

    def add(self, otlp: dict[str, Any]) -> str:
        """Store an OTLP trace verbatim; returns its id as hex."""
        [(_, first), *_] = _spans(otlp)
        tid = _hex(first["traceId"])
        self.traces[tid] = copy.deepcopy(otlp)
        return tid

    def fail_next(self, status: int, text: str, times: int = 1) -> None:
        self._failures.extend([(status, text)] * times)

    def _routes(self, app: web.Application) -> None:
        app.router.add_get("/api/search", self._search)
        app.router.add_get("/api/v2/traces/{id}", self._trace_v2)
        app.router.add_get("/api/traces/{id}", self._trace_v1)
        app.router.add_get("/api/v2/search/tag/{tag}/values", self._tag_values)

    def _refusal(self, request: web.Request) -> web.Response | None:
        if self.tenant and request.headers.get("X-Scope-OrgID") != self.tenant:
            return web.Response(status=401, text="no org id")
        if self.token and request.headers.get("Authorization") != f"Bearer {self.token}":
            return web.Response(status=401, text="Unauthorized")
        if self._failures:
            status, text = self._failures.pop(0)
            return web.Response(status=status, text=text)
        return None

    def _window(self, request: web.Request) -> tuple[int, int] | None:
        start, end = _int(request, "start"), _int(request, "end")
        if (start is None) != (end is None):
            raise TraceQLError("invalid start and end: both or neither must be given")
        if start is not None and end is not None and end <= start:
            raise TraceQLError(f"http parameter start must be before end. received start={start} end={end}")
        return (start, end) if start is not None and end is not None else None

    async def _search(self, request: web.Request) -> web.Response:
        if refused := self._refusal(request):
            return refused
        try:
            window = self._window(request)
            limit, spss = _int(request, "limit") or 20, _int(request, "spss") or 3
            if "q" not in request.query:
                raise TraceQLError("this fake serves TraceQL search (q=) only")
            pred = compile_traceql(request.query["q"])
        except TraceQLError as e:
            return web.Response(status=400, text=str(e))
        hits = []
        for tid, otlp in self.traces.items():
            spans = _spans(otlp)
            start = min(int(sp["startTimeUnixNano"]) for _, sp in spans)
            end = max(int(sp["endTimeUnixNano"]) for _, sp in spans)
            if window and not window[0] * 10**9 <= start < window[1] * 10**9:
                continue
            matched = [(r, sp) for r, sp in spans if pred(_view(r, sp))]
            if not matched:
                continue
            roots = [(r, sp) for r, sp in spans if not sp.get("parentSpanId")]
            hit: dict[str, Any] = {"traceID": tid.lstrip("0"), "startTimeUnixNano": str(start),
                                   "durationMs": (end - start) // 10**6}
            if roots:
                hit |= {"rootServiceName": roots[0][0].get("service.name", ""), "rootTraceName": roots[0][1]["name"]}
            hit["spanSets"] = [{"spans": [{
                "spanID": _hex(sp["spanId"]), "startTimeUnixNano": sp["startTimeUnixNano"],
                "durationNanos": str(int(sp["endTimeUnixNano"]) - int(sp["startTimeUnixNano"])),
                "attributes": ([{"key": "status", "value": {"stringValue": "error"}}]
                               if _view(r, sp).status == "error" else [])} for r, sp in matched[:spss]],
                "matched": len(matched)}]
            hits.append(hit)
        body: dict[str, Any] = {"metrics": {"inspectedTraces": len(self.traces), "totalBlocks": 1}}
        if hits:
            body["traces"] = hits[:limit]
        return web.json_response(body)

    def _find(self, request: web.Request) -> dict[str, Any] | web.Response:
        if refused := self._refusal(request):
            return refused
        try:
            self._window(request)
        except TraceQLError as e:
            return web.Response(status=400, text=str(e))
        tid = request.match_info["id"].lower()
        if not _HEX.match(tid):
            return web.Response(status=400, text=f"invalid trace id: {tid}")
        if tid.rjust(32, "0") in self.broken:
            status, text = self.broken[tid.rjust(32, "0")]
            return web.Response(status=status, text=text)
        found = self.traces.get(tid.rjust(32, "0")) or self.traces.get(tid)
        if found is None:
            return web.Response(status=404, text="trace not found")
        return found

    async def _trace_v2(self, request: web.Request) -> web.Response:
        if self.v1_only:
            return web.Response(status=404, text="404 page not found")
        found = self._find(request)
        return found if isinstance(found, web.Response) else web.json_response({"trace": found,
                                                                                 "status": "COMPLETE"})

    async def _trace_v1(self, request: web.Request) -> web.Response:
        found = self._find(request)
        return found if isinstance(found, web.Response) else web.json_response(found)

    async def _tag_values(self, request: web.Request) -> web.Response:
        if refused := self._refusal(request):
            return refused
        tag = request.match_info["tag"]
        scope, _, key = tag.partition(".")
        values = sorted({(r if scope == "resource" else _attrs(sp.get("attributes"))).get(key, "")
                         for otlp in self.traces.values() for r, sp in _spans(otlp)} - {""})
        return web.json_response({"tagValues": [{"type": "string", "value": v} for v in values],
                                  "metrics": {"inspectedBytes": "1024"}})
