"""Grafana Tempo's HTTP API: TraceQL search, a trace by id, tag values; through an injected httpx client.

Wire format (Tempo's HTTP API docs): `GET /api/search?q=<TraceQL>&start&end&limit&spss` (start/end in Unix
seconds) answers `{"traces": [{"traceID", "rootServiceName", "rootTraceName", "startTimeUnixNano" (a string),
"durationMs", "spanSets": [{"spans": [{"spanID", "startTimeUnixNano", "durationNanos", "attributes"}],
"matched"}]}]}` (`traces` left out when nothing matched). `GET /api/v2/traces/<id>` answers `{"trace": <OTLP
JSON>, "status"}`; the older `/api/traces/<id>` (tried when v2 is 404 on an old Tempo) answers the OTLP JSON itself:
`resourceSpans` (or `batches`) → `scopeSpans` (or `instrumentationLibrarySpans`) → `spans`, ids base64 (Tempo) or
hex (OTLP/HTTP), kind and status code as names (`SPAN_KIND_CLIENT`, `STATUS_CODE_ERROR`) or numbers, nanosecond
times as strings. `GET /api/v2/search/tag/<scope.tag>/values` answers `{"tagValues": [{"type", "value"}]}`.
A bad TraceQL is a 400 with Tempo's parser message in plain text, raised as `QueryRejected` carrying it.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx

from ..analysis.traces import Span, Trace
from ..errors import NotFound
from ..metrics import Metrics
from ..models import TimeRange
from ._http import Target, auth_headers, json_body, malformed, send, timed

__all__ = ["TempoBackend", "TraceHit", "parse_otlp", "span_id_hex", "traceql_string"]

_HEX = re.compile(r"^[0-9a-fA-F]+$")
_KINDS = {0: "unspecified", 1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}
_TAG = re.compile(r"^(?:resource|span|event|link|instrumentation)?\.[A-Za-z0-9_.\-]+$|^[a-z]+$")


def traceql_string(value: str) -> str:
    """`value` as a double-quoted TraceQL string: a quote or backslash in it cannot end the string."""
    out = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    return '"' + out.replace("\t", "\\t") + '"'


def span_id_hex(raw: Any) -> str:
    """An OTLP id as lowercase hex: hex stays hex (16 or 32 digits), anything else is read as base64."""
    text = str(raw or "").strip()
    if not text:
        return ""
    if len(text) in (16, 32) and _HEX.match(text):
        return text.lower()
    try:
        return base64.b64decode(text, validate=True).hex()
    except (binascii.Error, ValueError):
        if _HEX.match(text):
            return text.lower()
        raise ValueError(f"id {text[:40]!r} is neither hex nor base64") from None


def _value(v: Any) -> str:
    """An OTLP AnyValue as text."""
    if not isinstance(v, dict):
        return "" if v is None else str(v)
    for k in ("stringValue", "intValue", "doubleValue", "boolValue"):
        if k in v:
            x = v[k]
            return str(x).lower() if k == "boolValue" else str(x)
    if "arrayValue" in v:
        return "[" + ", ".join(_value(x) for x in (v["arrayValue"] or {}).get("values") or []) + "]"
    return ""


def _attrs(items: Any) -> dict[str, str]:
    return {str(a.get("key")): _value(a.get("value")) for a in items or [] if isinstance(a, dict)}


def _kind(raw: Any) -> str:
    if isinstance(raw, int):
        return _KINDS.get(raw, "unspecified")
    return str(raw or "SPAN_KIND_UNSPECIFIED").removeprefix("SPAN_KIND_").lower()


def _is_error(status: Any) -> bool:
    code = (status or {}).get("code") if isinstance(status, dict) else None
    return code in (2, "2", "STATUS_CODE_ERROR", "ERROR")


def parse_otlp(trace_id: str, body: Any) -> Trace:
    """An OTLP JSON trace (`resourceSpans` or Tempo's older `batches`) as a `Trace`; ValueError when malformed."""
    if not isinstance(body, dict):
        raise ValueError("the trace is not a JSON object")
    spans: list[Span] = []
    for rs in body.get("resourceSpans") or body.get("batches") or []:
        res = _attrs(((rs or {}).get("resource") or {}).get("attributes"))
        service = res.get("service.name", "unknown")
        for ss in rs.get("scopeSpans") or rs.get("instrumentationLibrarySpans") or []:
            for sp in ss.get("spans") or []:
                try:
                    start, end = int(sp["startTimeUnixNano"]), int(sp.get("endTimeUnixNano") or sp["startTimeUnixNano"])
                    status = sp.get("status") or {}
                    spans.append(Span(
                        span_id=span_id_hex(sp["spanId"]), parent_id=span_id_hex(sp.get("parentSpanId")) or None,
                        service=service, name=str(sp.get("name") or "?"), start_ns=start, end_ns=end,
                        kind=_kind(sp.get("kind")), error=_is_error(status),
                        status_message=str(status.get("message") or ""), attributes=_attrs(sp.get("attributes"))))
                except (KeyError, TypeError, ValueError) as e:
                    raise ValueError(f"bad span ({e.__class__.__name__}: {e})") from e
    return Trace(trace_id=trace_id, spans=tuple(spans))


@dataclass(frozen=True)
class TraceHit:
    """One search result: the trace's summary and its matched spans (span ids, and whether any is an error)."""

    trace_id: str
    root_service: str
    root_name: str
    start_ns: int
    duration_ms: float
    matched_span_ids: tuple[str, ...]
    error: bool  # a matched span carries status = error


def _secs(t: datetime) -> str:
    return str(int(t.timestamp()))


def _window(window: TimeRange | None) -> dict[str, str]:
    # end rounded up: a trace in the window's last second is still inside
    return {"start": _secs(window.start), "end": str(int(window.end.timestamp()) + 1)} if window else {}


class TempoBackend:
    """Async Tempo client. Every method raises a `BackendError` subclass on failure."""

    name = "tempo"

    def __init__(self, client: httpx.AsyncClient, base_url: str, *, org_id: str | None = None,
                 token: str | None = None, metrics: Metrics | None = None) -> None:
        self._client = client
        self._target = Target(self.name, "Tempo", base_url.rstrip("/"))
        self._headers = auth_headers(token, {"X-Scope-OrgID": org_id} if org_id else None)
        self._metrics = metrics

    @property
    def base_url(self) -> str:
        return self._target.base_url

    async def _get(self, op: str, path: str, params: dict[str, str] | None = None) -> Any:
        resp = await send(self._client, self._target, op, path, params=params, headers=self._headers)
        return json_body(self._target, op, resp)

    async def search(self, traceql: str, window: TimeRange | None, *, limit: int = 20, spss: int = 3,
                     ) -> list[TraceHit]:
        """Traces matching a TraceQL query in the window, as Tempo ranks them (newest first, usually)."""
        op = "search"
        with timed(self._metrics, self.name, op):
            body = await self._get(op, "/api/search", {"q": traceql, **_window(window), "limit": str(limit),
                                                        "spss": str(spss)})
            if not isinstance(body, dict):
                raise malformed(self._target, op, "not a JSON object")
            try:
                return [self._hit(t) for t in body.get("traces") or []]
            except (AttributeError, KeyError, TypeError, ValueError) as e:
                raise malformed(self._target, op, f"bad trace entry ({e})") from e

    @staticmethod
    def _hit(t: dict[str, Any]) -> TraceHit:
        ids: list[str] = []
        error = False
        for ss in t.get("spanSets") or ([t["spanSet"]] if t.get("spanSet") else []):
            for sp in ss.get("spans") or []:
                ids.append(span_id_hex(sp.get("spanID")))
                attrs = _attrs(sp.get("attributes"))
                error = error or attrs.get("status") == "error"
        raw = str(t["traceID"])
        # Tempo drops leading zeros from the hex id in search results: padded back to its 128 bits
        tid = raw.lower().rjust(32, "0") if _HEX.match(raw) else span_id_hex(raw)
        return TraceHit(trace_id=tid,
                        root_service=str(t.get("rootServiceName") or "<root span not yet received>"),
                        root_name=str(t.get("rootTraceName") or ""), start_ns=int(t.get("startTimeUnixNano") or 0),
                        duration_ms=float(t.get("durationMs") or 0), matched_span_ids=tuple(ids), error=error)

    async def trace(self, trace_id: str, window: TimeRange | None = None) -> Trace:
        """One trace by its id (v2 endpoint; the v1 one when v2 is not there). `NotFound` when Tempo has none."""
        op = "trace"
        tid = trace_id.strip().lower()
        if not tid or not _HEX.match(tid) or len(tid) > 32:
            raise NotFound(f"{trace_id!r} is not a trace id (up to 32 hex digits)", backend=self.name, operation=op)
        with timed(self._metrics, self.name, op):
            params = _window(window)
            try:
                body = await self._get(op, f"/api/v2/traces/{quote(tid)}", params)
                otlp = body.get("trace") if isinstance(body, dict) else None
            except NotFound as e:
                if "trace not found" in str(e).lower():
                    raise
                body = await self._get(op, f"/api/traces/{quote(tid)}", params)
                otlp = body
            if otlp is None and isinstance(body, dict) and ("resourceSpans" in body or "batches" in body):
                otlp = body
            if not isinstance(otlp, dict):
                raise malformed(self._target, op, "no trace in the answer")
            try:
                trace = parse_otlp(tid, otlp)
            except ValueError as e:
                raise malformed(self._target, op, str(e)) from e
            if not trace.spans:
                raise NotFound(f"{self._target.where}: trace {tid} has no spans", backend=self.name, operation=op)
            return trace

    async def tag_values(self, tag: str, window: TimeRange | None = None, *, traceql: str | None = None,
                         ) -> list[str]:
        """Values seen for a scoped TraceQL tag (`resource.service.name`), sorted."""
        op = "tag_values"
        if not _TAG.match(tag):
            raise ValueError(f"not a TraceQL tag: {tag!r}")
        with timed(self._metrics, self.name, op):
            params = _window(window) | ({"q": traceql} if traceql else {})
            body = await self._get(op, f"/api/v2/search/tag/{quote(tag, safe='.')}/values", params)
            if not isinstance(body, dict):
                raise malformed(self._target, op, "not a JSON object")
            vals = body.get("tagValues") or []
            try:
                return sorted({str(v["value"]) for v in vals})
            except (KeyError, TypeError) as e:
                raise malformed(self._target, op, f"bad tag value ({e})") from e

    async def services(self, window: TimeRange | None = None) -> list[str]:
        return await self.tag_values("resource.service.name", window)

    async def ping(self) -> str:
        await self.services(None)
        return "ok"
