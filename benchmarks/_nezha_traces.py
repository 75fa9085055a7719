"""Nezha spans -> the series Tempo's metrics-generator would write, as OpenMetrics text for promtool.

    text = trace_openmetrics(day_folder)        # service-graph + span-metric families (no `# EOF`)
    text += edge_latency_openmetrics(metric/)   # OnlineBoutique's per-edge p50 gauges (no `# EOF`)

Read in place from `<day>/trace/HH_MM_trace.csv.gz` (and `<day>/normal/*_trace.csv.gz`), one gzip file at a time:
memory holds one file's spans and the per-bin increments, never the whole day.

What is written, and how it matches Tempo (`modules/generator/processor/servicegraphs`, `.../spanmetrics`):

- **Edges.** Tempo pairs a `SPAN_KIND_CLIENT` span with the `SPAN_KIND_SERVER` span whose parent is that client
  span. Nezha has no span kind, so a span whose parent is in another service is the server side and its parent
  the client side: client = the parent's service, server = the child's. Checked on both days: every cross-service
  parent is the caller's client span (OnlineBoutique's gRPC client spans are named after the callee's method,
  `hipstershop.CurrencyService/Convert` -> `grpc.hipstershop.CurrencyService/Convert`; TrainTicket's are
  `HTTP GET` / `HTTP POST` spans, a few `<default> send`), never a server span calling out directly.
  Client seconds = the parent span's end - start; server seconds = the child's (Tempo's `spanDurationSec`).
- **Virtual node.** A root span (the request came from outside) is counted on the edge `user -> <its service>`
  with `connection_type="virtual_node"` (client seconds observed as 0, as Tempo does when the client side is
  missing); ordinary edges have no `connection_type` label (Tempo's "unset", an empty value).
- **Failed requests.** Nezha's spans carry no status, so nothing says a request failed:
  `traces_service_graph_request_failed_total` is not written and span metrics have
  `status_code="STATUS_CODE_UNSET"`.
- **Span kind** for span metrics: `SPAN_KIND_SERVER` when the parent is in another service or the span is a root,
  else `SPAN_KIND_CLIENT` when it has a child in another service, else `SPAN_KIND_INTERNAL`.
- **Buckets.** Tempo's defaults: service graphs `ExponentialBuckets(0.1, 2, 8)` (0.1 .. 12.8 s), span metrics
  `ExponentialBuckets(0.002, 2, 14)` (0.002 .. 16.384 s), plus `+Inf`.
- **Time.** A span counts in the 15 s collection interval (Tempo's default) holding its end time. Samples are
  cumulative and written at the end of every covered interval, plus one at the start of each covered block; a
  file covers the intervals between its first and last span end. Minutes with no trace file have no samples
  (a gap, not a flat counter); a counter resumes after a gap from where it stopped (never backwards). A series
  starts with 0 at the start of the block it first appears in, so `rate()` sees its first requests.
"""

from __future__ import annotations

import csv
import gzip
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ._nezha_data import _unix, service_of

__all__ = ["INTERVAL_S", "GRAPH_BUCKETS", "SPAN_BUCKETS", "Span", "TraceExport", "read_spans", "trace_files",
           "trace_openmetrics", "edge_latency_openmetrics", "EDGE_GAUGE", "VIRTUAL_CLIENT"]

INTERVAL_S = 15  # Tempo metrics-generator's default collection interval
GRAPH_BUCKETS = tuple(round(0.1 * 2**i, 6) for i in range(8))
SPAN_BUCKETS = tuple(round(0.002 * 2**i, 6) for i in range(14))
VIRTUAL_CLIENT = "user"  # Tempo's name for an uninstrumented caller
EDGE_GAUGE = "nezha_edge_latency_p50_seconds"
_GRAPH = "traces_service_graph_request"
_SPAN = "traces_spanmetrics"
_FILE_RE = re.compile(r"(\d\d)_(\d\d)_trace\.csv\.gz")


@dataclass(frozen=True, slots=True)
class Span:
    span_id: str
    parent_id: str  # "" for a root span
    service: str
    name: str
    end_s: float
    seconds: float  # end - start


def trace_files(day: Path) -> list[Path]:
    """The day's minute files (`trace/HH_MM_trace.csv.gz`, then `normal/`), in time order of their names."""
    files = [*day.glob("trace/*_trace.csv.gz"), *day.glob("normal/*_trace.csv.gz")]
    return sorted(files, key=lambda p: (p.name, p.parent.name))


def read_spans(path: Path) -> list[Span]:
    """One file's spans (the file is streamed through gzip; only its rows are kept)."""
    out = []
    with gzip.open(path, "rt", encoding="utf-8", newline="") as f:
        for r in csv.DictReader(f):
            start, end = int(r["StartTimeUnixNano"]), int(r["EndTimeUnixNano"])
            parent = r["ParentID"].strip()
            out.append(Span(span_id=r["SpanID"], parent_id="" if parent in ("root", "") else parent,
                            service=service_of(r["PodName"]), name=r["OperationName"], end_s=end / 1e9,
                            seconds=max(end - start, 0) / 1e9))
    return out


class _Hist:
    """Per-interval increments of one histogram series: count, sum, per-bucket (non-cumulative) counts."""

    __slots__ = ("bins", "buckets")

    def __init__(self, buckets: tuple[float, ...]) -> None:
        self.buckets = buckets
        self.bins: dict[int, list[float]] = {}

    def observe(self, b: int, v: float) -> None:
        row = self.bins.get(b)
        if row is None:
            row = self.bins[b] = [0.0] * (len(self.buckets) + 3)
        row[0] += 1
        row[1] += v
        for i, le in enumerate(self.buckets):
            if v <= le:
                row[2 + i] += 1
                break
        else:
            row[2 + len(self.buckets)] += 1  # above the largest bound: only +Inf


@dataclass
class TraceExport:
    """The OpenMetrics families (no `# EOF`) and what went into them."""

    text: str
    files: int
    spans: int
    edges: dict[tuple[str, str], int]  # (client, server) -> requests
    operations: int  # span-metric series (service, span_name, span_kind)
    intervals: int  # covered 15 s intervals
    blocks: int  # runs of consecutive covered intervals
    orphans: int  # spans whose parent is not in their file (counted as roots)
    samples: int
    notes: list[str] = field(default_factory=list)


def _esc(v: str) -> str:
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(pairs: Iterable[tuple[str, str]]) -> str:
    return ",".join(f'{k}="{_esc(v)}"' for k, v in pairs if v != "")


def _fmt(v: float) -> str:
    return repr(int(v)) if v == int(v) and abs(v) < 1e15 else repr(v)


def _blocks(covered: set[int]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for b in sorted(covered):
        if out and b == out[-1][1] + 1:
            out[-1] = (out[-1][0], b)
        else:
            out.append((b, b))
    return out


def _emit_series(lines: list[str], name: str, labels: str, blocks: list[tuple[int, int]], first: int,
                 bins: dict[int, list[float]], index: int, *, cumulative_from: int | None = None) -> int:
    """Cumulative samples of `bins[*][index]` (or of indexes `cumulative_from..index` summed, for a bucket)."""
    total, n = 0.0, 0
    lab = "{" + labels + "}" if labels else ""
    for lo, hi in blocks:
        if hi < first:
            continue
        lines.append(f"{name}{lab} {_fmt(total)} {lo * INTERVAL_S}\n")
        n += 1
        for b in range(lo, hi + 1):
            row = bins.get(b)
            if row is not None:
                total += sum(row[cumulative_from:index + 1]) if cumulative_from is not None else row[index]
            lines.append(f"{name}{lab} {_fmt(total)} {(b + 1) * INTERVAL_S}\n")
            n += 1
    return n


def _emit_hist(lines: list[str], name: str, base: list[tuple[str, str]], hist: _Hist,
               blocks: list[tuple[int, int]]) -> int:
    if not hist.bins:
        return 0
    first = min(hist.bins)
    labels = _labels(base)
    n = 0
    for i, le in enumerate((*hist.buckets, math.inf)):
        le_text = "+Inf" if math.isinf(le) else repr(le)
        n += _emit_series(lines, f"{name}_bucket", _labels([*base, ("le", le_text)]), blocks, first, hist.bins,
                          2 + i, cumulative_from=2)
    n += _emit_series(lines, f"{name}_sum", labels, blocks, first, hist.bins, 1)
    n += _emit_series(lines, f"{name}_count", labels, blocks, first, hist.bins, 0)
    return n


def _classify(spans: list[Span]) -> Iterator[tuple[Span, Span | None, str]]:
    """Each span with its parent (None for a root or an orphan) and its span kind."""
    by_id = {s.span_id: s for s in spans}
    calls_out: set[str] = set()
    for s in spans:
        p = by_id.get(s.parent_id) if s.parent_id else None
        if p is not None and p.service != s.service:
            calls_out.add(p.span_id)
    for s in spans:
        p = by_id.get(s.parent_id) if s.parent_id else None
        if p is None or p.service != s.service:
            kind = "SPAN_KIND_SERVER"
        elif s.span_id in calls_out:
            kind = "SPAN_KIND_CLIENT"
        else:
            kind = "SPAN_KIND_INTERNAL"
        yield s, p, kind


def trace_openmetrics(day: Path, files: list[Path] | None = None) -> TraceExport:
    """Service-graph and span-metric families for every trace file of `day` (OpenMetrics, without `# EOF`)."""
    files = trace_files(day) if files is None else files
    graph_total: dict[tuple[str, str, str], dict[int, list[float]]] = {}
    graph_client: dict[tuple[str, str, str], _Hist] = {}
    graph_server: dict[tuple[str, str, str], _Hist] = {}
    span_lat: dict[tuple[str, str, str], _Hist] = {}
    covered: set[int] = set()
    n_spans = orphans = 0
    for path in files:
        spans = read_spans(path)
        if not spans:
            continue
        n_spans += len(spans)
        ends = [s.end_s for s in spans]
        covered.update(range(int(min(ends) // INTERVAL_S), int(max(ends) // INTERVAL_S) + 1))
        for s, p, kind in _classify(spans):
            b = int(s.end_s // INTERVAL_S)
            if s.parent_id and p is None:
                orphans += 1
            if p is None:
                key = (VIRTUAL_CLIENT, s.service, "virtual_node")
                client_s = 0.0
            elif p.service != s.service:
                key = (p.service, s.service, "")
                client_s = p.seconds
            else:
                key = None
            if key is not None:
                row = graph_total.setdefault(key, {})
                row.setdefault(b, [0.0])[0] += 1
                graph_client.setdefault(key, _Hist(GRAPH_BUCKETS)).observe(b, client_s)
                graph_server.setdefault(key, _Hist(GRAPH_BUCKETS)).observe(b, s.seconds)
            span_lat.setdefault((s.service, s.name, kind), _Hist(SPAN_BUCKETS)).observe(b, s.seconds)
        del spans
    blocks = _blocks(covered)
    lines: list[str] = []
    samples = 0

    def graph_labels(k: tuple[str, str, str]) -> list[tuple[str, str]]:
        return [("client", k[0]), ("server", k[1]), ("connection_type", k[2])]

    lines.append(f"# TYPE {_GRAPH} counter\n# HELP {_GRAPH} Total count of requests between two nodes "
                 f"(from Nezha spans).\n")
    for k in sorted(graph_total):
        samples += _emit_series(lines, f"{_GRAPH}_total", _labels(graph_labels(k)), blocks, min(graph_total[k]),
                                graph_total[k], 0)
    for side, hists, what in (("client", graph_client, "client"), ("server", graph_server, "server")):
        name = f"{_GRAPH}_{side}_seconds"
        lines.append(f"# TYPE {name} histogram\n# HELP {name} Time for a request between two nodes as seen from "
                     f"the {what} (from Nezha spans).\n")
        for k in sorted(hists):
            samples += _emit_hist(lines, name, graph_labels(k), hists[k], blocks)
    calls = f"{_SPAN}_calls"
    lines.append(f"# TYPE {calls} counter\n# HELP {calls} Total count of the span (from Nezha spans).\n")
    for k in sorted(span_lat):
        samples += _emit_series(lines, f"{calls}_total", _labels(_span_labels(k)), blocks, min(span_lat[k].bins),
                                span_lat[k].bins, 0)
    lat = f"{_SPAN}_latency"
    lines.append(f"# TYPE {lat} histogram\n# HELP {lat} Duration of the span (from Nezha spans).\n")
    for k in sorted(span_lat):
        samples += _emit_hist(lines, lat, _span_labels(k), span_lat[k], blocks)
    edges = {(k[0], k[1]): int(sum(r[0] for r in v.values())) for k, v in graph_total.items()}
    notes = []
    if orphans:
        notes.append(f"{orphans} spans whose parent is not in their file were counted as roots")
    return TraceExport(text="".join(lines), files=len(files), spans=n_spans, edges=edges, operations=len(span_lat),
                       intervals=len(covered), blocks=len(blocks), orphans=orphans, samples=samples, notes=notes)


def _span_labels(k: tuple[str, str, str]) -> list[tuple[str, str]]:
    return [("service", k[0]), ("span_name", k[1]), ("span_kind", k[2]), ("status_code", "STATUS_CODE_UNSET")]


def _split_edge(column: str, services: set[str]) -> tuple[str, str] | None:
    """`frontend_currencyservice` -> (frontend, currencyservice), when both halves are known services."""
    for i, ch in enumerate(column):
        if ch == "_" and column[:i] in services and column[i + 1:] in services:
            return column[:i], column[i + 1:]
    return None


def edge_latency_openmetrics(metric: Path, services: set[str]) -> tuple[str, int]:
    """`source_50.csv` / `destination_50.csv` (per-edge p50 a minute, seconds, as the caller's and the callee's
    sidecar report it) as `nezha_edge_latency_p50_seconds{client, server, reporter}`; ("", 0) when absent.
    Empty cells become NaN samples (a gap)."""
    series: dict[tuple[str, str, str], list[tuple[float, float]]] = {}
    for reporter in ("source", "destination"):
        path = metric / f"{reporter}_50.csv"
        if not path.exists():
            continue
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.reader(f)
            header = next(reader)
            cols = {i: _split_edge(c, services) for i, c in enumerate(header) if i >= 2}
            for row in reader:
                t = round(_unix(row[0]), 3)
                for i, edge in cols.items():
                    if edge is None or i >= len(row):
                        continue
                    try:
                        v = float(row[i])
                    except ValueError:
                        v = math.nan
                    series.setdefault((edge[0], edge[1], reporter), []).append((t, v))
    if not series:
        return "", 0
    lines = [f"# TYPE {EDGE_GAUGE} gauge\n# HELP {EDGE_GAUGE} Per-edge latency p50 in seconds, as the caller "
             f"(reporter=source) or the callee (reporter=destination) sees it (Nezha source_50/destination_50).\n"]
    n = 0
    for (client, server, reporter), points in sorted(series.items()):
        lab = _labels([("client", client), ("server", server), ("reporter", reporter)])
        seen: set[float] = set()
        for t, v in sorted(points):
            if t in seen:
                continue
            seen.add(t)
            lines.append(f"{EDGE_GAUGE}{{{lab}}} {'NaN' if math.isnan(v) else repr(v)} {t:.3f}\n")
            n += 1
    return "".join(lines), n


def minute_of(path: Path) -> str:
    """`03_53_trace.csv.gz` -> `03:53` (for progress lines)."""
    m = _FILE_RE.fullmatch(path.name)
    return f"{m.group(1)}:{m.group(2)}" if m else path.name
