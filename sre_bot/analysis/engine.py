"""The investigation engine: typed evidence in, ranked root-cause candidates out. Pure (no I/O, no clock).

    analyse(evidence, graph=..., focus=..., window=(start, end)) -> Analysis

How it decides, in order:

1. **Judge every series** (`anomaly.judge_signal`): anomalous, normal, or not judged and why (no data, too few
   points, no history). Latency and error signals of a service whose request rate stayed under `MIN_RPS` are not
   judged either: the p99 of three requests a minute is noise, not evidence.
2. **Read the call graph** (per-edge metrics, `EdgeSeries`). For an edge with both sides' latency, the caller's
   latency minus the callee's is the time spent between them (network, proxies, queues). When that gap rises on
   edges into *and* out of one service while other edges stay flat, the network at that service is the likely
   cause — the service's own metrics barely move in a network delay. Each slow edge's blame is shared between its
   two ends in proportion to how many of each end's edges are slow. A callee's own (server-side) latency rising on
   its incoming edges is a latency anomaly of that callee; failed requests on an edge are errors of the callee.
3. **Score each service**, continuously (no saturation, no alphabetical ties): the strongest finding's
   `log1p(z / Z)` plus a third of the others', weighted by kind (a resource used up, errors, a new log template,
   a network share and a deploy are *intrinsic*: they start where they are seen; latency and request rate
   *propagate*: a slow dependency makes its callers slow, a failing entry starves everything below it). A change
   the series already showed in its own baseline counts a quarter.
4. **Walk the graph**: a service whose anomalies are all of the propagating kind, with an anomalous dependency that
   began no later than it did, is more likely a victim; the deepest anomalous service with intrinsic evidence is
   the likely root. Services neither upstream nor downstream of the asked-about one count less; a deploy before
   the first anomaly anywhere opens the timeline and is the trigger wherever it is.
5. **Confidence** is the score squashed to (0, 1), discounted when the runner-up is close and when evidence could
   not be gathered. The calibration issue maps it onto measured accuracy; below `MIN_CONFIDENCE`, or with no
   finding at all, the answer is "insufficient evidence".
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from statistics import median
from typing import Literal

from .anomaly import Z_THRESHOLD, Judgement, SignalAnomaly, judge_signal
from .evidence import AlertEvent, DeployEvent, EdgeSeries, EngineEvidence, LogShift, SignalSeries
from .graph import depends_on_closure

__all__ = ["analyse", "Analysis", "Candidate", "SignalFinding", "EdgeFinding", "CauseKind", "MIN_CONFIDENCE",
           "DEPLOY_LOOKBACK_S", "MIN_RPS", "WEIGHTS"]

MIN_CONFIDENCE = 0.2
DEPLOY_LOOKBACK_S = 30 * 60
DEPLOY_GRACE_S = 60  # a deploy this close after the onset still counts (clock skew, scrape interval)
MIN_RPS = 0.05  # below one request per 20 s, latency and error ratios are not judged
RELIABLE_RPS = 1.0  # from this request rate a latency percentile weighs in full
NETWORK_MIN_S = 0.005  # a caller-minus-callee gap must grow by at least 5 ms to be a network finding

# How much one finding of each kind weighs. Intrinsic kinds start where they are seen; propagating ones travel.
WEIGHTS: dict[str, float] = {"availability": 1.3, "resource": 1.0, "errors": 0.9, "network": 1.2, "logs": 1.0,
                             "calls": 0.9,
                             "deploy": 1.0, "latency": 0.7, "traffic": 0.35, "other": 0.5}
INTRINSIC = frozenset({"availability", "resource", "network", "deploy"})
AVAILABILITY_FLOOR = 2.5  # a target that went down weighs at least like a z of ~45: it is categorical
SEEN_BEFORE = 0.4  # weight of a change the series already showed in its baseline, twice
EXPLAINED = 0.15  # a propagating finding (latency, errors, traffic, logs) below an anomalous dependency
SHARED = 0.7  # an intrinsic finding of a service whose dependency is anomalous too
PROPAGATING = frozenset({"latency", "errors", "logs", "traffic", "calls", "other"})
# which kinds of a dependency's findings can cause which kinds of its callers' findings
CAUSED_BY: dict[str, frozenset[str]] = {
    "latency": frozenset({"latency", "resource", "network", "availability", "errors", "logs"}),
    # a dependency that fails, is down or has used up a resource (connections, disk, memory) makes its callers fail
    "errors": frozenset({"errors", "logs", "availability", "resource"}),
    "logs": frozenset({"errors", "logs", "availability", "resource"}),
    "calls": frozenset({"errors", "logs", "availability", "resource"}),  # a caller stops calling what fails
    "traffic": frozenset({"latency", "resource", "network", "availability", "errors", "logs", "traffic"}),
    "other": frozenset({"latency", "resource", "network", "availability", "errors", "logs", "traffic"}),
}
SIBLING = 0.6  # neither upstream nor downstream of the asked-about service
RECOVERED_S = 5 * 60  # a candidate whose every change ended this long before the window's end is a past episode
RECOVERED = 0.5  # and its confidence is halved

CauseKind = Literal["bad_deploy", "resource_saturation", "error_spike", "latency", "traffic_spike", "network",
                    "log_errors", "call_pattern", "anomaly"]


@dataclass(frozen=True)
class SignalFinding:
    series: SignalSeries
    anomaly: SignalAnomaly
    weight: float  # kind weight × log1p(z / Z) × (SEEN_BEFORE if seen before)

    @property
    def role(self) -> str:
        return self.series.role


@dataclass(frozen=True)
class EdgeFinding:
    """A slow or failing call: which edge, what moved, and how much of it is blamed on `service`."""

    service: str  # the service this finding is counted for
    client: str
    server: str
    kind: Literal["network", "latency", "errors", "calls"]
    anomaly: SignalAnomaly
    evidence_ids: tuple[str, ...]
    share: float  # of the edge's blame, for `service` (network findings are shared between the two ends)
    weight: float
    server_before: float | None = None  # the callee's own latency, before and after (network findings)
    server_after: float | None = None


@dataclass
class Candidate:
    service: str
    score: float  # raw, unbounded; the order
    onset: float
    cause_kind: CauseKind
    parts: dict[str, float]
    reasons: list[str] = field(default_factory=list)
    evidence_ids: list[str] = field(default_factory=list)
    signals: list[SignalFinding] = field(default_factory=list)
    edges: list[EdgeFinding] = field(default_factory=list)
    logs: list[LogShift] = field(default_factory=list)
    deploys: list[DeployEvent] = field(default_factory=list)
    confidence: float = 0.0
    over_at: float | None = None  # every change it shows had ended (by this time) minutes before the window's end

    @property
    def score01(self) -> float:
        return round(1 - math.exp(-self.score / 2), 4)


@dataclass(frozen=True)
class Analysis:
    candidates: list[Candidate]
    judgements: dict[str, Judgement]  # evidence id of each signal series -> its judgement
    signal_findings: dict[str, list[SignalFinding]]  # service -> its anomalous signals
    edge_findings: list[EdgeFinding]
    unjudged: dict[str, list[tuple[str, str]]]  # service -> (signal title, why not judged)
    idle: frozenset[str]  # services under the traffic floor
    t0: float | None  # the first (new) anomaly anywhere
    elsewhere: list[str]  # anomalous services not connected to the asked-about one (when it looks normal)


def _g(z: float) -> float:
    return math.log1p(max(abs(z), 0.0) / Z_THRESHOLD)


def _judge(s: SignalSeries | None, points: Sequence[tuple[float, float]], window_start: float, *,
           bad: Literal["up", "down", "both"] = "up", min_abs: float = 0.0) -> Judgement:
    return judge_signal(list(points), window_start, bad=bad, min_abs=min_abs,
                        seasonal=list(s.seasonal) if s is not None else None,
                        expected=s.expected if s is not None else None)


def _traffic(signals: Sequence[SignalSeries]) -> dict[str, float]:
    """Each service's median request rate over the baseline and the window (services with a traffic signal)."""
    by_service: dict[str, list[float]] = defaultdict(list)
    for s in signals:
        if s.role == "traffic":
            by_service[s.service].extend(v for _, v in s.points if not (math.isnan(v) or math.isinf(v)))
    return {svc: median(vals) for svc, vals in by_service.items() if vals}


def _reliability(rps: float | None) -> float:
    """How far a latency percentile can be trusted at this request rate: a p95 of a minute is read from
    rps × 60 requests, and its noise shrinks as the square root of that count (full weight from 1 req/s)."""
    if rps is None:
        return 1.0
    return math.sqrt(min(1.0, max(rps, 0.0) / RELIABLE_RPS))


def _idle(signals: Sequence[SignalSeries]) -> set[str]:
    """Services whose request rate (any traffic signal) stayed under MIN_RPS before and during the window."""
    out = set()
    by_service: dict[str, list[float]] = defaultdict(list)
    for s in signals:
        if s.role == "traffic":
            by_service[s.service].extend(v for _, v in s.points if not (math.isnan(v) or math.isinf(v)))
    for svc, vals in by_service.items():
        if not vals or median(vals) < MIN_RPS:
            out.add(svc)
    return out


def _aligned_gap(client: Sequence[tuple[float, float]], server: Sequence[tuple[float, float]],
                 ) -> list[tuple[float, float]]:
    srv = {t: v for t, v in server}
    return [(t, v - srv[t]) for t, v in client if t in srv and not math.isnan(v) and not math.isnan(srv[t])]


def _edge_findings(edges: Sequence[EdgeSeries], window_start: float, idle_edges: set[tuple[str, str]],
                   ) -> list[EdgeFinding]:
    by_edge: dict[tuple[str, str], dict[str, EdgeSeries]] = defaultdict(dict)
    for e in edges:
        if e.client != e.server:
            by_edge[(e.client, e.server)][e.metric] = e
    slow: dict[tuple[str, str], tuple[SignalAnomaly, tuple[str, ...], float | None, float | None]] = {}
    judged: dict[str, int] = defaultdict(int)  # edges of a service whose network could be judged
    out: list[EdgeFinding] = []
    for (c, s), metrics in by_edge.items():
        if (c, s) in idle_edges:
            continue
        cl, sv, er = metrics.get("latency_client"), metrics.get("latency_server"), metrics.get("errors")
        if er is not None:
            j = _judge(None, er.points, window_start, min_abs=MIN_RPS)
            if j.anomaly is not None:
                out.append(EdgeFinding(service=s, client=c, server=s, kind="errors", anomaly=j.anomaly,
                                       evidence_ids=(er.evidence_id,), share=1.0, weight=0.0))
        if sv is not None:
            j = _judge(None, sv.points, window_start, min_abs=0.01)
            if j.anomaly is not None:
                out.append(EdgeFinding(service=s, client=c, server=s, kind="latency", anomaly=j.anomaly,
                                       evidence_ids=(sv.evidence_id,), share=1.0, weight=0.0))
        if cl is not None and sv is not None:
            gap = _aligned_gap(cl.points, sv.points)
            j = _judge(None, gap, window_start, min_abs=NETWORK_MIN_S)
            if j.status != "unjudged":
                judged[c] += 1
                judged[s] += 1
            if j.anomaly is not None:
                srv_j = _judge(None, sv.points, window_start, min_abs=0.01)
                srv_after = srv_j.anomaly.after if srv_j.anomaly else None
                srv_vals = [v for t, v in sv.points if t >= j.anomaly.onset and not math.isnan(v)]
                slow[(c, s)] = (j.anomaly, (cl.evidence_id, sv.evidence_id),
                                srv_j.anomaly.before if srv_j.anomaly else None,
                                srv_after if srv_after is not None else (median(srv_vals) if srv_vals else None))
    # share each slow edge's blame between its ends by how many of each end's judged edges are slow
    slow_count: dict[str, int] = defaultdict(int)
    for c, s in slow:
        slow_count[c] += 1
        slow_count[s] += 1
    for (c, s), (a, ids, sb, sa) in slow.items():
        pc = slow_count[c] / max(judged[c], 1)
        ps = slow_count[s] / max(judged[s], 1)
        # a service with one edge that is slow is as suspect as the other end with all its edges slow; the
        # callee end wins a tie (a delay injected at a service shows on the calls into it)
        total = pc + ps * 1.01
        for svc, p in ((c, pc), (s, ps * 1.01)):
            share = p / total if total else 0.5
            if share >= 0.2:
                out.append(EdgeFinding(service=svc, client=c, server=s, kind="network", anomaly=a, evidence_ids=ids,
                                       share=round(share, 3), weight=0.0, server_before=sb, server_after=sa))
    return out


def _call_pattern(edges: Sequence[EdgeSeries], window_start: float, idle_edges: set[tuple[str, str]],
                  ) -> list[EdgeFinding]:
    """A service that changed what it calls: the calls it makes to a dependency per request it receives (its
    fan-out) moved while its own traffic did not explain it — a code path taken or skipped (an early return, an
    exception before the call). Needs the request rate of every edge into the service."""
    reqs = [e for e in edges if e.metric == "requests" and e.client != e.server]
    incoming: dict[str, dict[float, float]] = defaultdict(lambda: defaultdict(float))
    for e in reqs:
        for t, v in e.points:
            if not math.isnan(v):
                incoming[e.server][t] += v
    out = []
    for e in reqs:
        inc = incoming.get(e.client)
        if not inc or (e.client, e.server) in idle_edges:
            continue
        ratio = [(t, v / inc[t]) for t, v in e.points if not math.isnan(v) and inc.get(t, 0.0) >= MIN_RPS]
        base = [v for t, v in ratio if t < window_start]
        if len(base) < 3:
            continue
        j = judge_signal(ratio, window_start, bad="both", min_abs=0.25 * median(base))
        if j.anomaly is not None:
            out.append(EdgeFinding(service=e.client, client=e.client, server=e.server, kind="calls",
                                   anomaly=j.anomaly, evidence_ids=(e.evidence_id,), share=1.0, weight=0.0))
    return out


def _weighted(f: EdgeFinding) -> EdgeFinding:
    kind_w = WEIGHTS[f.kind]
    w = kind_w * _g(f.anomaly.z_eff) * f.share * (SEEN_BEFORE if f.anomaly.seen_before else 1.0)
    return EdgeFinding(**{**f.__dict__, "weight": round(w, 4)})


def _combine(weights: list[float]) -> float:
    """The strongest, plus a third of the rest: many weak findings never outrank one decisive one by count alone,
    yet two services with equal strongest findings are told apart by what else they show."""
    if not weights:
        return 0.0
    ws = sorted(weights, reverse=True)
    return ws[0] + sum(ws[1:]) / 3


def _log_strength(lg: LogShift) -> float:
    """A template never seen before weighs like a strong signal change, more with more lines (a handful of new
    lines is weaker than hundreds); a surge of a known one less."""
    base = 1.2 if lg.kind == "new" else 0.6
    return base + 0.15 * math.log1p(max(lg.during, 0) / 5)


def _factor(kind: str, explained: bool, covered: set[str]) -> float:
    """How much of a finding of `kind` is left once anomalous dependencies explain what they can."""
    if kind in covered:
        return EXPLAINED
    if kind in INTRINSIC:
        return SHARED if explained else 1.0
    return 1.0


def _kind(c: Candidate) -> CauseKind:
    if c.parts.get("deploy", 0) >= 0.5:
        return "bad_deploy"
    best: tuple[float, str] = (0.0, "anomaly")
    for f in c.signals:
        best = max(best, (f.weight, {"resource": "resource_saturation", "errors": "error_spike", "latency": "latency",
                                     "traffic": "traffic_spike" if f.anomaly.direction == "up" else "anomaly",
                                     }.get(f.role, "anomaly")))
    for e in c.edges:
        best = max(best, (e.weight, {"network": "network", "errors": "error_spike", "latency": "latency",
                                     "calls": "call_pattern"}[e.kind]))
    if c.logs:
        best = max(best, (c.parts.get("logs", 0.0), "log_errors"))
    return best[1]  # type: ignore[return-value]


def analyse(evidence: Sequence[EngineEvidence], *, graph: Mapping[str, Sequence[str]], focus: str | None,
            window: tuple[float, float], gaps: int = 0) -> Analysis:
    """Rank root-cause candidates from typed evidence. `window` is (start, end) in unix seconds; `graph` maps a
    service to the services it depends on; `gaps` counts systems that failed to answer (lowers confidence)."""
    w_start, _w_end = window
    signals = [e for e in evidence if isinstance(e, SignalSeries)]
    edges = [e for e in evidence if isinstance(e, EdgeSeries)]
    deploys = [e for e in evidence if isinstance(e, DeployEvent)]
    logs = [e for e in evidence if isinstance(e, LogShift)]
    _alerts = [e for e in evidence if isinstance(e, AlertEvent)]

    idle = _idle(signals)
    rates = _traffic(signals)
    judgements: dict[str, Judgement] = {}
    unjudged: dict[str, list[tuple[str, str]]] = defaultdict(list)
    found: dict[str, list[SignalFinding]] = defaultdict(list)
    for s in signals:
        if s.service in idle and s.role in ("latency", "errors"):
            j = Judgement("unjudged", reason="too little traffic to judge")
        else:
            j = _judge(s, s.points, w_start, bad=s.bad, min_abs=s.min_abs)
        judgements[s.evidence_id] = j
        if j.status == "unjudged":
            unjudged[s.service].append((s.title, j.reason))
        elif j.anomaly is not None:
            a = j.anomaly
            g = max(_g(a.z), AVAILABILITY_FLOOR) if s.role == "availability" and a.direction == "down" else _g(a.z_eff)
            w = WEIGHTS.get(s.role, 0.5) * g * (SEEN_BEFORE if a.seen_before else 1.0)
            if s.role == "latency":
                w *= _reliability(rates.get(s.service))
            found[s.service].append(SignalFinding(series=s, anomaly=a, weight=round(w, 4)))

    idle_edges = {(e.client, e.server) for e in edges if e.metric == "requests"
                  and (vals := [v for _, v in e.points if not math.isnan(v)])
                  and median(vals) < MIN_RPS}
    edge_found = [_weighted(f) for f in [*_edge_findings(edges, w_start, idle_edges),
                                         *_call_pattern(edges, w_start, idle_edges)]]
    by_svc_edges: dict[str, list[EdgeFinding]] = defaultdict(list)
    for f in edge_found:
        by_svc_edges[f.service].append(f)
    log_by: dict[str, list[LogShift]] = defaultdict(list)
    for lg in logs:
        log_by[lg.service].append(lg)

    # onsets: the first new (not seen-before) finding of each service
    def onset_of(svc: str) -> float | None:
        times = [f.anomaly.onset for f in found.get(svc, []) if not f.anomaly.seen_before]
        times += [f.anomaly.onset for f in by_svc_edges.get(svc, []) if not f.anomaly.seen_before]
        times += [lg.first_seen for lg in log_by.get(svc, []) if lg.first_seen is not None]
        if not times:
            times = [f.anomaly.onset for f in found.get(svc, [])] + [f.anomaly.onset for f in by_svc_edges.get(svc, [])]
        return min(times) if times else None

    anomalous = {s for s in set(found) | set(by_svc_edges) | set(log_by) if found.get(s) or by_svc_edges.get(s)
                 or log_by.get(s)}
    onsets = {s: o for s in anomalous if (o := onset_of(s)) is not None}
    # the timeline opens at the first new change: a recurring pattern seen in the baseline does not open it
    fresh = [o for s, o in onsets.items() if any(not f.anomaly.seen_before for f in found.get(s, []))
             or any(not f.anomaly.seen_before for f in by_svc_edges.get(s, [])) or log_by.get(s)]
    t0 = min(fresh or onsets.values()) if onsets else None
    recent_deploys = [d for d in deploys if t0 is not None and -DEPLOY_GRACE_S <= t0 - d.at <= DEPLOY_LOOKBACK_S
                      or t0 is None and w_start - DEPLOY_LOOKBACK_S <= d.at <= _w_end]
    # a service with a deploy just before the first anomaly anywhere is a candidate even if it looks normal
    candidates_set = anomalous | ({d.service for d in recent_deploys} if anomalous else set())
    if not candidates_set:
        return Analysis([], judgements, dict(found), [], dict(unjudged), frozenset(idle), None, [])

    # with no edge known around the focus, nothing can be said about up or downstream: every service counts
    placed = bool(focus) and (bool(graph.get(focus or "")) or any(focus in ds for ds in graph.values()))
    if not placed:
        focus = None
    downstream_of_focus = depends_on_closure(graph, focus) if focus else set()
    edged = {s for s, ds in graph.items() if ds} | {d for ds in graph.values() for d in ds}
    unplaced = {s for s in candidates_set if s not in edged}  # no edge says where it sits: could be below
    upstream_of_focus = {s for s in graph if focus and focus in depends_on_closure(graph, s)} if focus else set()
    closures = {s: depends_on_closure(graph, s) for s in candidates_set}

    more_traffic = {svc for svc in candidates_set
                    if any(f.role == "traffic" and f.anomaly.direction == "up" and not f.anomaly.seen_before
                           for f in found.get(svc, []))}
    triggers = {d.service for d in deploys if t0 is not None and -DEPLOY_GRACE_S <= t0 - d.at <= DEPLOY_LOOKBACK_S}
    load_sources = more_traffic | triggers
    kinds_of: dict[str, set[str]] = {}
    for svc in candidates_set:
        ks = {f.role for f in found.get(svc, []) if not f.anomaly.seen_before}
        ks |= {f.kind for f in by_svc_edges.get(svc, []) if not f.anomaly.seen_before}
        if log_by.get(svc):
            ks.add("logs")
        kinds_of[svc] = ks
    out: list[Candidate] = []
    for svc in candidates_set:
        sig = sorted(found.get(svc, []), key=lambda f: -f.weight)
        edg = sorted(by_svc_edges.get(svc, []), key=lambda f: -f.weight)
        lgs = log_by.get(svc, [])
        log_w = WEIGHTS["logs"] * max((_log_strength(lg) for lg in lgs), default=0.0)
        dep_w, dep_ids, reasons = 0.0, [], []
        own_onset = onsets.get(svc, t0 if t0 is not None else w_start)
        trigger = False
        for d in deploys:
            if d.service != svc:
                continue
            gap = own_onset - d.at
            if -DEPLOY_GRACE_S <= gap <= DEPLOY_LOOKBACK_S:
                dep_w = max(dep_w, math.exp(-max(gap, 0) / 900))
                dep_ids.append(d.evidence_id)
                reasons.append(f"deploy {int(max(gap, 0) // 60)} min before its first anomaly: {d.text}")
                if t0 is not None and -DEPLOY_GRACE_S <= t0 - d.at <= DEPLOY_LOOKBACK_S:
                    trigger = True
            elif gap < -DEPLOY_GRACE_S and d.at - own_onset < DEPLOY_LOOKBACK_S:
                reasons.append(f"deploy after the anomaly began, not blamed: {d.text}")
        kinds = {f.role for f in sig if not f.anomaly.seen_before} | {
            "network" if f.kind == "network" else f.kind for f in edg if not f.anomaly.seen_before}
        if lgs:
            kinds.add("logs")
        if dep_w:
            kinds.add("deploy")
        intrinsic = bool(kinds & INTRINSIC)
        # explained away: an anomalous dependency that began no later carries the findings of this service it can
        # cause — a slow dependency its callers' latency, a failing one their errors and error logs
        bad_deps = sorted(d for d in closures[svc] & anomalous
                          if d != svc and onsets.get(d, math.inf) <= own_onset + 60)
        dep_kinds: set[str] = set()
        for dep in bad_deps:
            dep_kinds |= kinds_of[dep]
        explained = bool(bad_deps) and not trigger
        covered = {k for k, causes in CAUSED_BY.items() if dep_kinds & causes} if explained else set()
        # load flows down: a service whose request rate rose while a caller above it sent more (or deployed just
        # before the first anomaly) is receiving that load; its slowness and errors are the load's, not its own
        senders = sorted(c for c in candidates_set if c != svc and svc in closures[c] and c in load_sources) \
            if svc in more_traffic and not trigger else []
        if senders:  # the extra work also uses up its resources: the load's too
            explained = True
            covered |= PROPAGATING | {"resource"}

        weights = [f.weight * _factor(f.role, explained, covered) for f in sig] + [
            f.weight * _factor("network" if f.kind == "network" else f.kind, explained, covered) for f in edg]
        weights += [log_w * _factor("logs", explained, covered)] if log_w else []
        weights += [WEIGHTS["deploy"] * 1.5 * dep_w] if dep_w else []
        strength = _combine(weights)
        root = SHARED if explained and intrinsic else (EXPLAINED if covered else 1.0)
        if focus and svc != focus and svc not in downstream_of_focus | unplaced and not trigger:
            sending = svc in upstream_of_focus and any(f.role == "traffic" and f.anomaly.direction == "up"
                                                       for f in sig)
            if not sending:
                strength *= SIBLING
                root *= SIBLING
        onset_f = math.exp(-max(own_onset - t0, 0) / 300) if t0 is not None else 1.0
        score = strength * (0.6 + 0.4 * onset_f)
        parts = {"strength": round(strength, 3), "root": root, "onset": round(onset_f, 3),
                 "deploy": round(dep_w, 3), "logs": round(log_w, 3)}
        if sig:
            top = sig[0]
            reasons.insert(0, f"{len(sig)} signal(s) off baseline, strongest {top.series.title} "
                              f"(robust z {top.anomaly.z:.1f})")
        for f in edg[:3]:
            if f.kind == "network":
                reasons.append(f"calls {f.client} → {f.server} slowed between the two ends "
                               f"(robust z {f.anomaly.z:.1f}; {f.share:.0%} of it counted here)")
            elif f.kind == "latency":
                reasons.append(f"{f.server}'s own latency on calls from {f.client} rose (robust z {f.anomaly.z:.1f})")
            else:
                reasons.append(f"calls {f.client} → {f.server} failing (robust z {f.anomaly.z:.1f})")
        if trigger:
            reasons.append("its deploy comes before the first anomaly anywhere: the change that opens the timeline")
        elif senders:
            reasons.append(f"its callers sent more ({', '.join(senders[:4])}): receiving their load")
        elif bad_deps:
            reasons.append(f"its dependencies are anomalous too ({', '.join(bad_deps[:5])}): "
                           + ("its own evidence still points here" if intrinsic else "maybe a victim"))
        elif sig or edg or lgs:
            reasons.append("no anomalous dependency: likely where it starts")
        reasons += [lg.text for lg in lgs]
        ids = [f.series.evidence_id for f in sig] + [i for f in edg for i in f.evidence_ids] + dep_ids + [
            lg.evidence_id for lg in lgs]
        c = Candidate(service=svc, score=round(score, 4), onset=own_onset, cause_kind="anomaly", parts=parts,
                      reasons=reasons, evidence_ids=list(dict.fromkeys(ids)), signals=sig, edges=edg, logs=lgs,
                      deploys=[d for d in deploys if d.evidence_id in dep_ids])
        c.cause_kind = _kind(c)
        out.append(c)
    # order: score, then the stronger single finding, then the earlier onset; never the name alone
    out.sort(key=lambda c: (-c.score, -max([f.weight for f in c.signals] + [0.0]), c.onset, c.service))
    elsewhere: list[str] = []
    if focus is not None and not anomalous & ({focus} | downstream_of_focus | unplaced):
        # the asked-about service and everything it depends on look normal: others' trouble is not its cause
        elsewhere, out = [c.service for c in out], []
    completeness = max(0.5, 1 - 0.1 * gaps)
    for i, c in enumerate(out):
        nxt = out[i + 1].score if i + 1 < len(out) else 0.0
        margin = (c.score - nxt) / c.score if c.score else 0.0
        # everything it shows was over minutes before the window's end: a past episode, less sure it is the answer
        over = bool(c.signals) and all(f.anomaly.ended is not None and _w_end - f.anomaly.ended >= RECOVERED_S
                                       for f in c.signals) and not c.edges and not c.logs and not c.deploys
        if over:
            c.over_at = max(f.anomaly.ended or 0.0 for f in c.signals)
            c.reasons.append("every change it shows was over before the question: a past episode")
        c.confidence = round(min(0.95, max(0.05, c.score01 * (0.6 + 0.4 * margin) * completeness
                                           * (RECOVERED if over else 1.0))), 2)
    return Analysis(out, judgements, dict(found), edge_found, dict(unjudged), frozenset(idle), t0, elsewhere)
