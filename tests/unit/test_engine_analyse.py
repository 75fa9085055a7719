"""The pure engine, `analysis.engine.analyse`, on small hand-made typed evidence: roots and victims, deploys, logs,
the call graph (network delay), short history, changes seen before, idle services, ties, and the scope walk."""

from __future__ import annotations

import math

from sre_bot.analysis.anomaly import judge_signal
from sre_bot.analysis.engine import analyse
from sre_bot.analysis.evidence import DeployEvent, EdgeSeries, LogShift, SignalSeries
from sre_bot.services.investigate import scope_services

T0 = 1_700_000_000.0
STEP = 60.0
WSTART = T0 + 60 * STEP  # 60 baseline points, then a 30-point window
WINDOW = (WSTART, WSTART + 30 * STEP)


def pts(values: list[float], start: float = T0) -> tuple[tuple[float, float], ...]:
    return tuple((start + i * STEP, v) for i, v in enumerate(values))


def noisy(level: float, n: int, amp: float = 0.03, phase: float = 0.0) -> list[float]:
    return [level * (1 + amp * math.sin(i * 1.7 + phase)) for i in range(n)]


def step(before: float, after: float, at: int, n_window: int = 30) -> list[float]:
    """60 baseline points at `before`, then the window: `before` until minute `at`, then `after`."""
    return noisy(before, 60) + noisy(before, at) + noisy(after, n_window - at, phase=1.0)


def sig(service: str, values: list[float], *, title: str = "latency p95", unit: str = "seconds",
        signal: str | None = None, bad: str = "up", min_abs: float = 0.0) -> SignalSeries:
    return SignalSeries(evidence_id=f"{service}/{title}", service=service, signal=signal or title.replace(" ", "_"),
                        title=title, unit=unit, points=pts(values), bad=bad, min_abs=min_abs)  # type: ignore[arg-type]


GRAPH = {"frontend": ["checkout"], "checkout": ["payments-api"], "payments-api": ["payments-db"], "payments-db": [],
         "catalog": []}


def test_deepest_anomalous_dependency_is_the_root():
    """The whole chain is slow; the database's CPU rose first: it is the root, the callers are its victims."""
    ev = [sig("frontend", step(0.05, 0.9, 12)), sig("checkout", step(0.04, 0.8, 11)),
          sig("payments-api", step(0.03, 0.7, 10)), sig("payments-db", step(0.2, 0.95, 10), title="CPU", unit="cores")]
    r = analyse(ev, graph=GRAPH, focus="frontend", window=WINDOW)
    assert r.candidates[0].service == "payments-db"
    assert r.candidates[0].cause_kind == "resource_saturation"
    assert all(c.parts["root"] < 1 for c in r.candidates[1:])


def test_deploy_before_onset_is_blamed_and_after_is_not():
    """A deploy 2 min before the first anomaly makes its service the trigger; one after the onset is never blamed."""
    ev = [sig("checkout", step(0.04, 0.8, 10)), sig("payments-db", step(0.2, 0.9, 10), title="CPU", unit="cores")]
    before = DeployEvent(evidence_id="d1", service="checkout", at=WSTART + 8 * STEP, text="#3 rev abc", revision="abc")
    r = analyse([*ev, before], graph=GRAPH, focus="checkout", window=WINDOW)
    assert r.candidates[0].service == "checkout" and r.candidates[0].cause_kind == "bad_deploy"
    after = DeployEvent(evidence_id="d2", service="checkout", at=WSTART + 14 * STEP, text="#4 rev def")
    r = analyse([*ev, after], graph=GRAPH, focus="checkout", window=WINDOW)
    assert r.candidates[0].service == "payments-db"
    checkout = next(c for c in r.candidates if c.service == "checkout")
    assert checkout.parts["deploy"] == 0 and any("not blamed" in x for x in checkout.reasons)


def test_deploy_upstream_of_the_asked_service_is_a_candidate():
    """Asked about the database, the caller's deploy two hops up that opened the timeline is named."""
    ev = [sig("payments-db", step(0.2, 0.9, 10), title="CPU", unit="cores"),
          sig("checkout", step(10, 25, 9), title="request rate", unit="rps", bad="both"),
          DeployEvent(evidence_id="d1", service="checkout", at=WSTART + 8 * STEP, text="#7 rev 1234567")]
    r = analyse(ev, graph=GRAPH, focus="payments-db", window=WINDOW)
    assert "checkout" in [c.service for c in r.candidates[:2]]
    assert next(c for c in r.candidates if c.service == "checkout").cause_kind == "bad_deploy"


def test_unrelated_anomalies_are_both_candidates_and_no_data_is_no_answer():
    ev = [sig("payments-db", step(0.2, 0.9, 5), title="CPU", unit="cores"), sig("catalog", step(0.05, 0.9, 5))]
    r = analyse(ev, graph=GRAPH, focus=None, window=WINDOW)
    assert {c.service for c in r.candidates} == {"payments-db", "catalog"}
    assert all(c.evidence_ids for c in r.candidates)
    assert analyse([], graph=GRAPH, focus="frontend", window=WINDOW).candidates == []


def test_new_log_template_adds_weight_and_gaps_lower_confidence():
    ev = [sig("payments-db", step(0.05, 0.5, 5)), sig("catalog", step(0.05, 0.5, 5)),
          LogShift(evidence_id="l1", service="catalog", kind="new", text="catalog new error template",
                   first_seen=WSTART + 5 * STEP, during=40)]
    r = analyse(ev, graph={}, focus=None, window=WINDOW)
    assert r.candidates[0].service == "catalog"
    degraded = analyse(ev, graph={}, focus=None, window=WINDOW, gaps=2)
    assert degraded.candidates[0].confidence < r.candidates[0].confidence


def _edge(client: str, server: str, client_lat: list[float], server_lat: list[float]) -> list[EdgeSeries]:
    return [EdgeSeries(evidence_id=f"{client}>{server}/c", client=client, server=server, metric="latency_client",
                       points=pts(client_lat)),
            EdgeSeries(evidence_id=f"{client}>{server}/s", client=client, server=server, metric="latency_server",
                       points=pts(server_lat))]


def test_network_delay_is_found_on_the_edges_not_the_service():
    """Delay injected at payment: calls into it (as its callers see them) go 4 ms → 750 ms while payment's own
    handling stays at 2 ms; the caller's other calls are fine. The caller, whose latency rose, is not blamed."""
    graph = {"frontend": ["checkout"], "checkout": ["payment", "cart", "email"], "payment": [], "cart": [],
             "email": []}
    ev = [*_edge("checkout", "payment", step(0.004, 0.75, 10), noisy(0.002, 90)),
          *_edge("checkout", "cart", noisy(0.005, 90), noisy(0.003, 90)),
          *_edge("checkout", "email", noisy(0.006, 90), noisy(0.004, 90)),
          *_edge("frontend", "checkout", step(0.05, 0.8, 10), step(0.045, 0.79, 10)),
          sig("checkout", step(0.05, 0.8, 10)), sig("frontend", step(0.06, 0.8, 10)),
          sig("payment", noisy(0.002, 90))]
    r = analyse(ev, graph=graph, focus="frontend", window=WINDOW)
    top = r.candidates[0]
    assert top.service == "payment" and top.cause_kind == "network"
    assert any(f.kind == "network" and f.server == "payment" for f in top.edges)


def test_short_history_is_judged_and_said():
    """Data that starts 3 minutes before the window: CPU 26% → 99% is still found, flagged as short history;
    with a single point before the change there is nothing to judge against, and that is said, not 'normal'."""
    values = [0.26, 0.27, 0.25] + [0.26, 0.26] + [0.99] * 10
    points = [(WSTART - 3 * STEP + i * STEP, v) for i, v in enumerate(values)]
    j = judge_signal(points, WSTART, min_abs=0.05)
    assert j.status == "anomalous" and j.anomaly is not None and j.anomaly.short_history
    one = [(WSTART + i * STEP, v) for i, v in enumerate([0.99] * 10)]
    j = judge_signal(one, WSTART, min_abs=0.05)
    assert j.status == "unjudged" and "history" in j.reason


def test_a_change_the_baseline_already_showed_counts_less_and_does_not_open_the_timeline():
    """email's latency has recurring 3-minute bumps to ~47 ms in its baseline and one in the window before the
    real fault; cart's CPU rises later, for the first time. cart is first, and the timeline opens at cart."""
    bumps = [0.047 if i % 15 in (0, 1, 2) else 0.005 for i in range(60)]
    email = bumps + [0.005, 0.047, 0.047, 0.047, 0.047] + [0.005] * 25
    ev = [sig("email", email), sig("cart", step(0.2, 0.9, 8), title="CPU", unit="cores")]
    r = analyse(ev, graph={}, focus=None, window=WINDOW)
    assert r.candidates[0].service == "cart"
    email_f = r.signal_findings.get("email", [])
    assert all(f.anomaly.seen_before for f in email_f)
    assert r.t0 == WSTART + 8 * STEP


def test_idle_service_latency_is_not_judged():
    """A service with almost no requests: its latency jumping 5 ms → 26 s is not evidence, and is said so."""
    ev = [sig("quiet", step(0.005, 26.0, 5)), sig("quiet", noisy(0.01, 90, amp=0.5), title="request rate",
                                                  unit="rps", bad="both")]
    r = analyse(ev, graph={}, focus=None, window=WINDOW)
    assert r.candidates == []
    assert ("latency p95", "too little traffic to judge") in r.unjudged["quiet"]


def test_ties_are_broken_by_evidence_not_by_name():
    """Two services with the same strongest change: the one with more anomalous signals ranks first, whatever
    the names."""
    ev = [sig("aaa", step(0.05, 0.9, 5)), sig("zzz", step(0.05, 0.9, 5)),
          sig("zzz", step(0.05, 0.95, 5), title="latency p99")]
    r = analyse(ev, graph={}, focus=None, window=WINDOW)
    assert r.candidates[0].service == "zzz" and r.candidates[0].score > r.candidates[1].score


def test_scope_walks_the_graph_both_ways_nearest_first():
    """Asked about the database, the scope holds its callers and their callers (the checkout deploy two hops up),
    nearest first; unrelated services are not in it."""
    graph = {"frontend": ["checkout"], "checkout": ["payments-api"], "payments-api": ["payments-db"],
             "payments-db": [], "catalog": [], "search": ["catalog"]}
    scope = scope_services(graph, "payments-db", {})
    assert scope == ["payments-db", "payments-api", "checkout", "frontend"]
    assert scope_services(graph, None, {"x": "x"})[0] == "catalog"


def test_a_service_that_stops_calling_a_dependency_is_blamed_for_its_call_pattern():
    """frontend's own traffic holds at 9 req/s, but its calls to catalog per request fall from 4.7 to 1.8 (an early
    return skips them): frontend changed what it does, whatever catalog's own numbers say."""
    def req(client: str, server: str, values: list[float]) -> EdgeSeries:
        return EdgeSeries(evidence_id=f"{client}>{server}/r", client=client, server=server, metric="requests",
                          points=pts(values))
    graph = {"frontend": ["catalog", "cart"], "catalog": [], "cart": []}
    ev = [req("user", "frontend", noisy(9.0, 90)), req("frontend", "catalog", step(42.0, 16.0, 8)),
          req("frontend", "cart", noisy(8.0, 90))]
    r = analyse(ev, graph=graph, focus="frontend", window=WINDOW)
    top = r.candidates[0]
    assert top.service == "frontend" and top.cause_kind == "call_pattern"
    assert top.edges[0].kind == "calls" and top.edges[0].anomaly.direction == "down"


def test_latency_read_from_few_requests_weighs_less():
    """The same latency jump at a service serving 0.2 req/s and at one serving 5 req/s: the busy one's percentile
    is read from 25× more requests and ranks first."""
    ev = [sig("quietish", step(0.05, 0.9, 5)), sig("quietish", noisy(0.2, 90), title="request rate", unit="rps",
                                                      bad="both"),
          sig("busy", step(0.05, 0.9, 5)), sig("busy", noisy(5.0, 90), title="request rate", unit="rps", bad="both")]
    r = analyse(ev, graph={}, focus=None, window=WINDOW)
    assert [c.service for c in r.candidates] == ["busy", "quietish"]


def test_a_service_receiving_its_callers_extra_load_is_not_the_root():
    """frontend's request rate triples (a flash sale); catalog below it gets the traffic, burns CPU and slows.
    The load comes from above: frontend is first, catalog 'receiving their load'."""
    graph = {"frontend": ["catalog"], "catalog": []}
    ev = [sig("frontend", step(100, 300, 5), title="request rate", unit="rps", bad="both"),
          sig("frontend", step(0.2, 0.5, 5), title="CPU", unit="cores"),
          sig("catalog", step(100, 300, 6), title="request rate", unit="rps", bad="both"),
          sig("catalog", step(0.3, 0.9, 6), title="CPU", unit="cores"), sig("catalog", step(0.05, 0.4, 6))]
    r = analyse(ev, graph=graph, focus="frontend", window=WINDOW)
    assert r.candidates[0].service == "frontend"
    catalog = next(c for c in r.candidates if c.service == "catalog")
    assert any("receiving their load" in x for x in catalog.reasons)
