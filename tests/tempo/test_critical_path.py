"""The pure critical path (`analysis/traces.py`): concurrent children, orphans, clock skew, and its bounds."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from sre_bot.analysis.traces import Span, Trace, critical_path, span_kind_label
from sre_bot.backends.tempo import parse_otlp
from tests.tempo.fake_tempo import FIXTURES

MS = 1_000_000


def _s(sid: str, parent: str | None, start: int, end: int, service: str = "svc", **kw) -> Span:
    return Span(span_id=sid, parent_id=parent, service=service, name=sid, start_ns=start * MS, end_ns=end * MS, **kw)


def test_sequential_children_each_on_the_path():
    """Two calls one after another are both on the path; the parent's own time is the gaps between them."""
    cp = critical_path(Trace("t", (_s("root", None, 0, 100), _s("a", "root", 10, 40), _s("b", "root", 50, 90))))
    assert cp is not None
    assert [s.span_id for s in cp.path] == ["root", "a", "b"]
    assert cp.self_ns == {"root": 30 * MS, "a": 30 * MS, "b": 40 * MS}
    assert cp.dominant.span_id == "b" and cp.duration_ns == 100 * MS


def test_concurrent_children_only_the_last_to_finish_counts():
    """Of two concurrent calls, the one that finishes last is on the path; the shorter one is hidden behind it."""
    spans = (_s("root", None, 0, 100), _s("fast", "root", 10, 30), _s("slow", "root", 10, 95),
             _s("db", "slow", 20, 90, service="payments-db", attributes={"db.system": "postgresql"}))
    cp = critical_path(Trace("t", spans))
    assert cp is not None
    assert [s.span_id for s in cp.path] == ["root", "slow", "db"]
    assert "fast" not in cp.self_ns
    assert cp.dominant.service == "payments-db" and round(cp.dominant_share, 2) == 0.70
    assert span_kind_label(cp.dominant) == "db"


def test_partly_overlapping_child_is_clipped_at_the_cursor():
    """A child that overlaps the next one on the path counts only until that one starts."""
    spans = (_s("root", None, 0, 100), _s("a", "root", 0, 60), _s("b", "root", 50, 100))
    cp = critical_path(Trace("t", spans))
    assert cp is not None
    assert cp.self_ns == {"b": 50 * MS, "a": 50 * MS}


def test_orphans_hang_under_the_root():
    """A span whose parent never arrived still counts: it is placed under the root."""
    spans = (_s("root", None, 0, 100), _s("lost", "missing-parent", 20, 90, service="payments-api"))
    cp = critical_path(Trace("t", spans))
    assert cp is not None
    assert cp.orphans == 1 and cp.dominant.span_id == "lost" and cp.self_ns["lost"] == 70 * MS


def test_clock_skew_child_outliving_its_parent_is_clipped():
    """A child that starts before or ends after its parent (host clocks differ) is clipped to the parent."""
    spans = (_s("root", None, 0, 100), _s("call", "root", 10, 60), _s("server", "call", 5, 80, service="other"))
    cp = critical_path(Trace("t", spans))
    assert cp is not None
    assert cp.clipped == 1 and cp.duration_ns == 100 * MS
    assert cp.self_ns["server"] == 50 * MS and cp.self_ns["root"] == 50 * MS and "call" not in cp.self_ns


def test_a_parent_cycle_in_bad_data_terminates():
    """Spans that name each other as parents (corrupt data) do not loop forever."""
    spans = (_s("root", None, 0, 100), _s("a", "b", 10, 50), _s("b", "a", 20, 40))
    cp = critical_path(Trace("t", spans))
    assert cp is not None and cp.duration_ns == 100 * MS


def test_no_spans_no_path():
    """An empty trace has no critical path."""
    assert critical_path(Trace("t", ())) is None


def test_published_trace_with_failed_requests():
    """The published OTLP sample: the root covers 15.3 ms of a 25.6 ms trace; its late child is clipped."""
    trace = parse_otlp("e8b6dff9", json.loads((FIXTURES / "trace-with-failed-requests.json").read_text()))
    cp = critical_path(trace)
    assert cp is not None
    assert len(trace.spans) == 15 and len(trace.errors()) == 3
    assert cp.root.name == "requester" and cp.duration_ns <= trace.duration_ns
    assert {s.service for s in cp.path} == {"mythical-requester", "mythical-server"}
    assert cp.clipped == 1


@st.composite
def _traces(draw) -> Trace:
    n = draw(st.integers(1, 25))
    spans = []
    for i in range(n):
        start = draw(st.integers(0, 1000))
        end = start + draw(st.integers(0, 500))
        parent = None if i == 0 else draw(st.one_of(st.just(None), st.just("ghost"),
                                                    st.integers(0, i - 1).map(lambda k: f"s{k}")))
        spans.append(Span(span_id=f"s{i}", parent_id=parent, service=f"svc{i % 3}", name=f"op{i}",
                          start_ns=start, end_ns=end))
    return Trace("t", tuple(draw(st.permutations(spans))))


@settings(max_examples=300, deadline=None)
@given(_traces())
def test_the_path_never_exceeds_the_trace(trace: Trace):
    """Property: the path's duration never exceeds the trace's; its segments are disjoint and lie in the root."""
    cp = critical_path(trace)
    assert cp is not None
    assert cp.duration_ns <= trace.duration_ns
    assert cp.duration_ns == cp.root.duration_ns
    prev = cp.root.start_ns
    for seg in cp.segments:
        assert prev <= seg.start_ns < seg.end_ns <= cp.root.end_ns
        prev = seg.end_ns
    assert 0.0 <= cp.dominant_share <= 1.0
    assert sum(cp.self_ns.values()) == cp.duration_ns
