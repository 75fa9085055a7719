"""Traces, pure: the critical path of a trace and the span that dominates it (no I/O, no clock).

The critical path is the chain of spans that determines the end-to-end duration. It is walked backwards from the
root's end (as Jaeger's trace view does): at each span the child that finished last before the cursor is on the
path, the time between that child's end and the cursor is the parent's own ("self") time, and the cursor moves to
the child's start. Concurrent children that finished earlier are therefore off the path; a child that outlives its
parent (clock skew between hosts) is clipped to the parent's bounds; a span whose parent is not in the trace
(an orphan: the parent was dropped or not yet flushed) hangs under the root. Every nanosecond of the root's
duration is attributed to exactly one span, so the path's duration is the root's and never exceeds the trace's.

    walk(span, lo, hi):  cursor = hi
        for child in children by end, latest first:
            if child.start >= cursor: skip
            self time of span: [min(child.end, cursor), cursor)
            walk(child, max(child.start, lo), min(child.end, cursor)); cursor = max(child.start, lo)
        self time of span: [lo, cursor)
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

__all__ = ["Span", "Trace", "Segment", "CriticalPath", "critical_path", "span_kind_label"]


@dataclass(frozen=True)
class Span:
    """One span: ids as lowercase hex, times in Unix nanoseconds, `kind` as OTLP names it without the prefix."""

    span_id: str
    parent_id: str | None
    service: str
    name: str
    start_ns: int
    end_ns: int
    kind: str = "unspecified"  # server | client | internal | producer | consumer | unspecified
    error: bool = False
    status_message: str = ""
    attributes: dict[str, str] = field(default_factory=dict)

    @property
    def duration_ns(self) -> int:
        return max(0, self.end_ns - self.start_ns)


@dataclass(frozen=True)
class Trace:
    trace_id: str
    spans: tuple[Span, ...]

    @property
    def start_ns(self) -> int:
        return min((s.start_ns for s in self.spans), default=0)

    @property
    def end_ns(self) -> int:
        return max((max(s.end_ns, s.start_ns) for s in self.spans), default=0)

    @property
    def duration_ns(self) -> int:
        return self.end_ns - self.start_ns

    def errors(self, service: str | None = None) -> list[Span]:
        return [s for s in self.spans if s.error and (service is None or s.service == service)]


@dataclass(frozen=True)
class Segment:
    """A stretch of the critical path spent in one span's own code (not waiting for a child on the path)."""

    span_id: str
    start_ns: int
    end_ns: int


@dataclass(frozen=True)
class CriticalPath:
    root: Span
    segments: tuple[Segment, ...]  # ordered by start, disjoint, covering the root exactly
    self_ns: dict[str, int]  # span id -> its time on the path
    path: tuple[Span, ...]  # the spans on the path, root first, in the order the path enters them
    dominant: Span
    orphans: int  # spans whose parent is not in the trace (hung under the root)
    clipped: int  # children that started before or ended after their parent (clock skew), clipped

    @property
    def duration_ns(self) -> int:
        return sum(seg.end_ns - seg.start_ns for seg in self.segments)

    @property
    def dominant_share(self) -> float:
        d = self.duration_ns
        return self.self_ns.get(self.dominant.span_id, 0) / d if d > 0 else 1.0


def _root(spans: tuple[Span, ...], ids: set[str]) -> Span:
    """The span with no parent in the trace that covers most of it (the earliest, then the longest)."""
    tops = [s for s in spans if not s.parent_id or s.parent_id not in ids] or list(spans)
    with_no_parent = [s for s in tops if not s.parent_id] or tops
    return min(with_no_parent, key=lambda s: (-s.duration_ns, s.start_ns, s.span_id))


def critical_path(trace: Trace) -> CriticalPath | None:
    """The critical path of `trace` and its dominant span (most self time on the path); None for no spans."""
    if not trace.spans:
        return None
    by_id: dict[str, Span] = {}
    for s in trace.spans:
        by_id.setdefault(s.span_id, s)
    ids = set(by_id)
    root = _root(trace.spans, ids)
    children: dict[str, list[Span]] = defaultdict(list)
    orphans = 0
    for s in by_id.values():
        if s.span_id == root.span_id:
            continue
        if s.parent_id and s.parent_id in ids and s.parent_id != s.span_id:
            children[s.parent_id].append(s)
        else:
            orphans += 1
            children[root.span_id].append(s)
    for kids in children.values():
        kids.sort(key=lambda c: (max(c.end_ns, c.start_ns), c.start_ns, c.span_id), reverse=True)
    segments: list[Segment] = []
    entered: list[tuple[int, int, str]] = []  # (start on the path, depth, span id)
    clipped = 0
    visited: set[str] = set()
    stack: list[tuple[Span, int, int, int]] = [(root, root.start_ns, max(root.end_ns, root.start_ns), 0)]
    while stack:
        span, lo, hi, depth = stack.pop()
        if span.span_id in visited:  # a parent cycle in bad data: its time stays with the caller
            segments.append(Segment(span.span_id, lo, hi))
            continue
        visited.add(span.span_id)
        entered.append((lo, depth, span.span_id))
        cursor = hi
        for c in children.get(span.span_id, ()):
            c_end = max(c.end_ns, c.start_ns)
            if c.start_ns >= cursor or c_end <= lo:
                continue
            if c.start_ns < lo or c_end > hi:
                clipped += 1
            cs, ce = max(c.start_ns, lo), min(c_end, cursor)
            if ce <= cs:  # an instant span: no time of its own to put on the path
                continue
            if cursor > ce:
                segments.append(Segment(span.span_id, ce, cursor))
            stack.append((c, cs, ce, depth + 1))
            cursor = cs
            if cursor <= lo:
                break
        if cursor > lo:
            segments.append(Segment(span.span_id, lo, cursor))
    segments.sort(key=lambda g: (g.start_ns, g.end_ns))
    self_ns: dict[str, int] = defaultdict(int)
    for g in segments:
        self_ns[g.span_id] += g.end_ns - g.start_ns
    entered.sort()
    path = tuple(by_id[i] for i in dict.fromkeys(sid for _, _, sid in entered))
    dominant = max(path, key=lambda s: (self_ns.get(s.span_id, 0), -s.start_ns)) if self_ns else root
    return CriticalPath(root=root, segments=tuple(segments), self_ns=dict(self_ns), path=path, dominant=dominant,
                        orphans=orphans, clipped=clipped)


def span_kind_label(span: Span) -> str:
    """What the span is, in a word: `db`, `messaging`, `http` or its OTLP kind (`server`, `client`, …)."""
    a = span.attributes
    if "db.system" in a or "db.statement" in a or "db.query.text" in a:
        return "db"
    if "messaging.system" in a:
        return "messaging"
    if span.kind in ("client", "server") and any(k.startswith(("http.", "url.")) for k in a):
        return f"http {span.kind}"
    return span.kind
