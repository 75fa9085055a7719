"""Slow and failed traces of a service as evidence: each trace's critical path and the span that dominates it.

One TraceQL search finds the service's traces in the window that failed or ran longer than `slow`; the slowest
few and the failed few are then read whole (concurrently) and their critical path worked out
(`analysis/traces.py`). Each becomes one quotable item: "trace 3f2a9c01…: 2.41 s, 78% in `payments-db` `SELECT`
(db), status error", linked to Grafana Explore (or Tempo's API). A trace that could not be read is its own `error`
item; the others still count."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from ..analysis.traces import CriticalPath, Trace, critical_path, span_kind_label
from ..backends.tempo import TraceHit, traceql_string
from ..deps import Deps
from ..errors import BackendError
from ..models import Evidence, TimeRange, evidence_id
from ._common import analyse, failure, not_configured

__all__ = ["traceql_for", "slow_and_failed_traces", "trace_item", "one_trace", "DEFAULT_SLOW", "fmt_ns", "short_id"]

DEFAULT_SLOW = timedelta(milliseconds=500)
OFFLOAD_SPANS = 2000  # a bigger trace's critical path is worked out off the event loop (~50k spans/s in Python)
_NAME_MAX = 60


def fmt_ns(ns: int) -> str:
    """A duration for people: 412 ms, 2.41 s, 95 s."""
    s = ns / 1e9
    if s < 1:
        return f"{ns / 1e6:.3g} ms" if ns < 10_000_000 else f"{round(ns / 1e6):d} ms"
    return f"{s:.2f} s" if s < 10 else f"{s:.1f} s" if s < 100 else f"{round(s):d} s"


def _go_duration(d: timedelta) -> str:
    ms = int(d / timedelta(milliseconds=1))
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


def traceql_for(service: str, slow: timedelta = DEFAULT_SLOW) -> str:
    """The service's failed or slow traces: `{ resource.service.name = "x" && (status = error || duration > p) }`."""
    return (f"{{ resource.service.name = {traceql_string(service)} && (status = error || duration > "
            f"{_go_duration(slow)}) }}")


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _NAME_MAX else text[: _NAME_MAX - 1] + "…"


def short_id(trace_id: str) -> str:
    """The first 8 hex digits people recognise (Tempo and Grafana show ids without leading zeros)."""
    return (trace_id.lstrip("0") or "0")[:8]


def _links(deps: Deps, trace_id: str, window: TimeRange | None) -> dict[str, str]:
    url = deps.links.trace(trace_id, window)
    if url is None:
        return {}
    return {"Grafana" if deps.links.grafana_url else "Tempo": url}


def trace_item(deps: Deps, trace: Trace, cp: CriticalPath, *, service: str, query: str,
               window: TimeRange | None) -> Evidence:
    """One trace as an evidence item: its duration, the dominant span's share of the path, its errors."""
    d = cp.dominant
    share = round(cp.dominant_share * 100)
    kind = span_kind_label(d)
    errors = trace.errors()
    own_errors = [s for s in errors if s.service == service]
    first_err = next(iter(own_errors or errors), None)
    quote = (f"trace {short_id(trace.trace_id)}…: {fmt_ns(trace.duration_ns)}, {share}% in `{d.service}` "
             f"`{_short(d.name)}` ({kind})")
    if first_err is not None:
        where = "" if first_err.span_id == d.span_id else f" at `{first_err.service}` `{_short(first_err.name)}`"
        msg = f": {_short(first_err.status_message)}" if first_err.status_message else ""
        quote += f", status error{where}{msg}"
    statement = d.attributes.get("db.statement") or d.attributes.get("db.query.text")
    if statement:
        quote += f"\n{kind} statement: {_short(statement)}"
    path = " → ".join(f"{s.service} {_short(s.name)}" for s in cp.path[:8]) + (" → …" if len(cp.path) > 8 else "")
    quote += f"\ncritical path ({fmt_ns(cp.duration_ns)}): {path}"
    notes = []
    if cp.orphans:
        notes.append(f"{cp.orphans} span(s) without their parent hung under the root")
    if cp.clipped:
        notes.append(f"{cp.clipped} span(s) outside their parent's time (clock skew) clipped")
    links = _links(deps, trace.trace_id, window)
    return Evidence(
        id=evidence_id("tempo", query, window, trace.trace_id), source="tempo", kind="trace",
        label=f"{service} trace {short_id(trace.trace_id)}", query=query, window=window, quote=quote,
        url=next(iter(links.values()), None), extra_urls=links, service=service,
        partial="; ".join(notes) or None,
        data={"trace_id": trace.trace_id, "duration_s": trace.duration_ns / 1e9,
              "critical_path_s": cp.duration_ns / 1e9, "dominant_service": d.service, "dominant_span": d.name,
              "dominant_kind": kind, "dominant_share": cp.dominant_share,
              "dominant_self_s": cp.self_ns.get(d.span_id, 0) / 1e9, "error": bool(errors),
              "error_spans": len(errors), "spans": len(trace.spans), "root_service": cp.root.service,
              "root_span": cp.root.name, "path": [f"{s.service}:{s.name}" for s in cp.path]},
    )


def _pick(hits: list[TraceHit], slowest: int, failed: int) -> list[TraceHit]:
    by_time = sorted(hits, key=lambda h: (-h.duration_ms, h.trace_id))
    picked = by_time[:slowest] + [h for h in by_time if h.error][:failed]
    return list({h.trace_id: h for h in picked}.values())


async def _path(deps: Deps, trace: Trace) -> CriticalPath:
    cp = await analyse(deps, critical_path, trace) if len(trace.spans) > OFFLOAD_SPANS else critical_path(trace)
    assert cp is not None  # the backend never returns a trace without spans
    return cp


async def _read(deps: Deps, hit: TraceHit, service: str, query: str, window: TimeRange) -> Evidence:
    assert deps.tempo is not None
    label = f"{service} trace {short_id(hit.trace_id)}"
    try:
        trace = await deps.tempo.trace(hit.trace_id, window)
    except BackendError as e:
        return failure("tempo", "trace", label, hit.trace_id, window, e, service=service)
    cp = await _path(deps, trace)
    return trace_item(deps, trace, cp, service=service, query=query, window=window)


async def slow_and_failed_traces(deps: Deps, service: str, window: TimeRange, *, slow: timedelta = DEFAULT_SLOW,
                                 slowest: int = 3, failed: int = 3, limit: int = 50) -> list[Evidence]:
    """The slowest and the failed traces of `service` in `window`, slowest first; a `no_data` item when none."""
    label = f"{service} traces"
    if deps.tempo is None:
        return [not_configured("tempo", "trace", label, service=service)]
    query = traceql_for(service, slow)
    try:
        hits = await deps.tempo.search(query, window, limit=limit)
    except BackendError as e:
        return [failure("tempo", "trace", label, query, window, e, service=service)]
    if not hits:
        url = deps.links.traceql(query, window)
        return [Evidence(id=evidence_id("tempo", query, window), source="tempo", kind="trace", label=label,
                         query=query, window=window, status="no_data", service=service,
                         quote=f"no failed traces and none slower than {_go_duration(slow)} of {service} in "
                               f"{window.label()}", extra_urls={"Grafana": url} if url else {})]
    items = list(await asyncio.gather(*(_read(deps, h, service, query, window) for h in _pick(hits, slowest, failed))))
    n_err = sum(h.error for h in hits)
    more = len(hits) == limit
    head = (f"{len(hits)}{'+' if more else ''} trace(s) of {service} failed or ran over {_go_duration(slow)} in "
            f"{window.label()} ({n_err} with an error span); read {len(items)}")
    items.sort(key=lambda e: (e.status != "ok", -float(e.data.get("duration_s") or 0)))
    return [items[0].model_copy(update={"partial": "; ".join(x for x in (head, items[0].partial) if x)}), *items[1:]]


async def one_trace(deps: Deps, trace_id: str, window: TimeRange | None, *, service: str | None = None,
                    ) -> Evidence:
    """One trace by id, as an evidence item (its critical path and dominant span)."""
    label = f"trace {short_id(trace_id)}"
    if deps.tempo is None:
        return not_configured("tempo", "trace", label, service=service)
    try:
        trace = await deps.tempo.trace(trace_id, window)
    except BackendError as e:
        return failure("tempo", "trace", label, trace_id, window, e, service=service)
    cp = await _path(deps, trace)
    return trace_item(deps, trace, cp, service=service or cp.root.service, query=trace_id, window=window)
