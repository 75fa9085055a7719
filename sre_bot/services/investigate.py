"""Investigations: "why is X slow?" answered with ranked, evidence-backed hypotheses, no LLM needed.

Two waves. First the known service names and the call-graph probe (`tools/edges.py`), which give the graph; the
scope is the connected component around the asked-about service (`scope_services`). Then, concurrently and in
O(1) calls per system whatever the scope's size: one range query per golden signal for the whole scope (with the
same window yesterday, for seasonality), its error-log templates before vs during, the Argo CD applications, the
firing alerts, and the call graph's latencies and errors. The gathered items become the engine's typed evidence
(`engine_evidence`), the pure engine (`analysis/engine.py`) ranks, and this module renders its findings as quoted
evidence items. Every hypothesis carries the evidence it rests on; when nothing supports a cause the answer is
"insufficient evidence".

The whole investigation answers within one deadline (SRE_BOT_ANSWER_DEADLINE, `sre_bot.deadline`): a system that
does not answer in time is named in the gaps and the others' evidence is still used. Discovery (known names, the
call-graph probe) is best effort and gets only a share of that time, so a silent Prometheus cannot spend it all
before the evidence is gathered. The engine runs off the event loop, and at most SRE_BOT_MAX_INVESTIGATIONS
investigations run at once (`deps.offload`, `services/offload.py`).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Hashable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

from ..analysis import engine
from ..analysis.anomaly import SignalAnomaly
from ..analysis.engine import DEPLOY_LOOKBACK_S, Analysis, Candidate, EdgeFinding, SignalFinding
from ..analysis.evidence import AlertEvent, DeployEvent, EdgeSeries, EngineEvidence, LogShift, SignalSeries
from ..analysis.question import parse_question
from ..config import Config
from ..deadline import answer_deadline
from ..deps import Deps
from ..investigation import Hypothesis, Investigation, RankedService, TimelineEntry
from ..models import Evidence, TimeRange, evidence_id
from ..tools._common import analyse, fmt_value
from ..tools.alerts import scope_firing_alerts
from ..tools.deploys import scope_app_status
from ..tools.edges import METRIC_TITLES, edge_series, edges_of, probe_edges
from ..tools.logs import scope_log_shifts
from ..tools.signals import baseline_for, scope_signals
from ..tools.topology import merge_graph
from .confidence import SHOWN_FLOOR, abstain_threshold, calibration_for
from .names import find_service, known_services
from .reply import gaps_of

__all__ = ["investigate", "investigation_window", "scope_services", "MAX_SERVICES"]

MAX_SERVICES = 60
_T = TypeVar("_T")


def investigation_window(now: datetime, length: timedelta, at: datetime | None) -> TimeRange:
    """Ending now; or, for a past time `at`, the window with `at` three quarters of the way in."""
    if at is None:
        return TimeRange.ending(now, length)
    end = min(at + length / 4, now)
    return TimeRange(start=min(end - length, at - length / 2), end=end)


def scope_services(graph: Mapping[str, list[str]], focus: str | None, names: Mapping[str, str]) -> list[str]:
    """The connected component around the focus, nearest first (upstream and downstream alike; at one distance,
    what it depends on before what calls it), then every known service no edge places anywhere; or every known
    service. Not capped here: the caller keeps the first
    MAX_SERVICES and says when it cut — by distance, never by name."""
    everyone = sorted(set(graph) | set(names.values()))
    if focus is None:
        return everyone
    if not graph.get(focus) and not any(focus in ds for ds in graph.values()):
        # nothing known about what it calls or what calls it: every known service may be the cause
        return [focus, *(s for s in everyone if s != focus)]
    callers: dict[str, list[str]] = {}
    for s, ds in graph.items():
        for d in ds:
            callers.setdefault(d, []).append(s)
    out, frontier = [focus], [focus]
    seen = {focus}
    while frontier:
        down = [d for s in frontier for d in graph.get(s, [])]
        up = [c for s in frontier for c in sorted(callers.get(s, []))]
        nxt = []
        for s in [*down, *up]:
            if s not in seen:
                seen.add(s)
                out.append(s)
                nxt.append(s)
        frontier = nxt
    # services no edge places anywhere may be anything: checked after the component, never left out
    placed = {s for s, ds in graph.items() if ds} | {d for ds in graph.values() for d in ds}
    return out + [s for s in everyone if s not in placed and s not in seen]


def _hhmm(t: float | datetime) -> str:
    dt = t if isinstance(t, datetime) else datetime.fromtimestamp(t, tz=timezone.utc)
    return dt.strftime("%H:%M UTC")


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, tz=timezone.utc).isoformat()


def engine_evidence(evidence: list[Evidence], config: Config) -> list[EngineEvidence]:
    """The gathered evidence items as the engine's typed evidence (what it reasons over; see analysis/evidence)."""
    signals_cfg = config.all_signals
    out: list[EngineEvidence] = []
    for e in evidence:
        d = e.data
        if e.status != "ok":
            continue
        if e.kind == "signal" and d.get("points") and e.service:
            sig = signals_cfg.get(d.get("signal", ""))
            out.append(SignalSeries(
                evidence_id=e.id, service=e.service, signal=d["signal"],
                title=e.label.removeprefix(f"{e.service} "), unit=d.get("unit", ""),
                points=tuple((float(t), float(v)) for t, v in d["points"]),
                bad=sig.bad if sig else "up", min_abs=sig.min_abs if sig else 0.0,
                seasonal=tuple((float(t), float(v)) for t, v in d.get("seasonal_points") or []),
                expected=tuple(d["expected_points"]) if d.get("expected_points") else None))
        elif e.kind == "edge" and d.get("points"):
            out.append(EdgeSeries(evidence_id=e.id, client=d["client"], server=d["server"], metric=d["metric"],
                                  points=tuple((float(t), float(v)) for t, v in d["points"]), source=d["source"]))
        elif e.kind == "deploy" and e.service:
            out.append(DeployEvent(evidence_id=e.id, service=e.service,
                                   at=datetime.fromisoformat(d["deployed_at"]).timestamp(), text=e.quote,
                                   revision=str(d.get("revision", ""))))
        elif e.kind == "log_shift" and e.service:
            first = d.get("first_seen")
            out.append(LogShift(evidence_id=e.id, service=e.service, kind=d["kind"], text=e.label,
                                first_seen=datetime.fromisoformat(first).timestamp() if first else None,
                                during=int(d.get("during") or 0), before=int(d.get("before") or 0)))
        elif e.kind == "alert" and d.get("starts_at"):
            out.append(AlertEvent(evidence_id=e.id, service=e.service, alertname=str(d.get("alertname", "")),
                                  starts_at=datetime.fromisoformat(d["starts_at"]).timestamp()))
    return out


def _history_note(a: SignalAnomaly, step: float | None) -> str:
    notes = []
    if a.ended is not None:
        notes.append(f"back to baseline at {_hhmm(a.ended)}")
    if a.seasonal:
        return f"; {', '.join(notes)}" if notes else ""
    if a.short_history:
        span = f"{a.history * step / 60:.0f} min" if step else f"{a.history} points"
        notes.append(f"judged against only {span} of history")
    if a.seen_before:
        notes.append("a level its baseline also reached")
    return f"; {', '.join(notes)}" if notes else ""


def _anomaly_evidence(e: Evidence, f: SignalFinding, window: TimeRange) -> Evidence:
    a = f.anomaly
    unit = e.data["unit"]
    verb = "rose" if a.direction == "up" else "fell"
    base = "the same time yesterday" if a.seasonal else "its baseline"
    quote = (f"{e.label} {verb} from {fmt_value(a.before, unit)} ({base}) to {fmt_value(a.after, unit)} "
             f"at {_hhmm(a.onset)} (robust z {a.z:+.1f}{_history_note(a, e.data.get('step'))})")
    return e.model_copy(update={
        "id": evidence_id("prometheus", e.query, window, "anomaly"), "kind": "anomaly", "quote": quote,
        "data": {**e.data, "onset": _iso(a.onset), "before": a.before, "after": a.after, "peak": a.peak, "z": a.z,
                 "direction": a.direction, "seasonal": a.seasonal, "novelty": a.novelty, "history": a.history},
    })


def _edge_evidence(f: EdgeFinding, by_id: dict[str, Evidence], window: TimeRange) -> Evidence | None:
    items = [by_id[i] for i in f.evidence_ids if i in by_id]
    if not items:
        return None
    a = f.anomaly
    first = items[0]
    if f.kind == "network":
        quote = (f"calls {f.client} → {f.server}: time between the two ends (caller's latency minus callee's) "
                 f"rose from {fmt_value(a.before, 'seconds')} to {fmt_value(a.after, 'seconds')} at "
                 f"{_hhmm(a.onset)} (robust z {a.z:+.1f})")
        if f.server_after is not None:
            quote += f", while {f.server}'s own handling took {fmt_value(f.server_after, 'seconds')}"
        label = f"{f.client} → {f.server} network time"
    elif f.kind == "calls":
        verb = "rose" if a.direction == "up" else "fell"
        quote = (f"{f.client} → {f.server}: calls per request {f.client} receives {verb} from {a.before:.2f} to "
                 f"{a.after:.2f} at {_hhmm(a.onset)} (robust z {a.z:+.1f}): {f.client} changed what it calls")
        label = f"{f.client} → {f.server} calls per request"
    else:
        title = METRIC_TITLES[first.data["metric"]][0]
        unit = first.data.get("unit", "seconds")
        verb = "rose" if a.direction == "up" else "fell"
        quote = (f"{f.client} → {f.server} {title} {verb} from {fmt_value(a.before, unit)} to "
                 f"{fmt_value(a.after, unit)} at {_hhmm(a.onset)} (robust z {a.z:+.1f})")
        label = f"{f.client} → {f.server} {title}"
    return first.model_copy(update={
        "id": evidence_id("prometheus", "|".join(f.evidence_ids), window, f"edge-{f.kind}"), "kind": "edge_anomaly",
        "label": label, "quote": quote, "service": f.service,
        "data": {**first.data, "onset": _iso(a.onset), "before": a.before, "after": a.after, "z": a.z,
                 "finding": f.kind, "share": f.share, "direction": a.direction,
                 "evidence_ids": list(f.evidence_ids)},
    })


def _dedupe_not_configured(items: list[Evidence]) -> list[Evidence]:
    """One "X is not configured" note per system, not one per service."""
    seen: set[str] = set()
    out = []
    for e in items:
        if e.data.get("error_kind") == "not_configured":
            if e.source in seen:
                continue
            seen.add(e.source)
            e = e.model_copy(update={"service": None, "label": f"{e.source} checks"})
        out.append(e)
    return out


def _strongest_first(items: list[Evidence]) -> list[Evidence]:
    """Deploys first (the change), then signals and slow calls by how far they moved, then log shifts."""
    order = {"deploy": 0, "anomaly": 1, "edge_anomaly": 1, "log_shift": 2}
    return sorted(items, key=lambda e: (order.get(e.kind, 3), -abs(e.data.get("z") or 0)))


def _change(c: Candidate) -> str:
    """The strongest measured change behind a candidate, as a short phrase."""
    best_sig = max(c.signals, key=lambda f: f.weight, default=None)
    best_edge = max(c.edges, key=lambda f: f.weight, default=None)
    if best_edge is not None and (best_sig is None or best_edge.weight > best_sig.weight):
        a = best_edge.anomaly
        if best_edge.kind == "calls":
            return f"calls to {best_edge.server} per request {a.before:.2f} → {a.after:.2f}"
        what = "network time" if best_edge.kind == "network" else (
            "failed calls" if best_edge.kind == "errors" else "latency")
        unit = "rps" if best_edge.kind == "errors" else "seconds"
        return (f"{best_edge.client} → {best_edge.server} {what} {fmt_value(a.before, unit)} → "
                f"{fmt_value(a.after, unit)}")
    if best_sig is not None:
        a = best_sig.anomaly
        return f"{best_sig.series.title} {fmt_value(a.before, best_sig.series.unit)} → " \
               f"{fmt_value(a.after, best_sig.series.unit)}"
    if c.logs:
        return c.logs[0].text
    return "no signal of its own moved"


def _cause(c: Candidate) -> str:
    change = _change(c)
    if c.cause_kind == "bad_deploy":
        rev = c.deploys[0].revision[:12] if c.deploys else ""
        return f"bad deploy of {c.service}" + (f" (revision {rev})" if rev else "") + f": {change}"
    if c.cause_kind == "network":
        return f"network delay at {c.service} ({change})"
    if c.cause_kind == "log_errors":
        return f"{c.service} errors in its logs ({change})"
    if c.cause_kind == "call_pattern":
        return f"{c.service} changed what it calls, a code path taken or skipped ({change})"
    label = {"resource_saturation": "saturation", "error_spike": "errors", "latency": "slowness",
             "traffic_spike": "traffic spike", "anomaly": "anomaly"}[c.cause_kind]
    return f"{c.service} {label} ({change})"


async def _gather(deps: Deps, scope: list[str], window: TimeRange, baseline: TimeRange, with_alerts: bool,
                  ) -> list[dict[str, list[Evidence]]]:
    """Everything about the scope, concurrently and in O(1) calls per system: one range query per signal for all
    of it (`scope_signals`), its error-log templates (`scope_log_shifts`), the Argo CD applications listed once
    (`scope_app_status`) and the firing alerts read once (`scope_firing_alerts`, when the window is now)."""
    svcs = [deps.config.service(s) for s in scope]
    apps = {svc.name: deps.config.argocd_app(svc) for svc in svcs}
    signals, logs, deploys, alerts = await asyncio.gather(
        scope_signals(deps, svcs, window, seasonal=True), scope_log_shifts(deps, svcs, window, baseline),
        scope_app_status(deps, apps, history=10),
        scope_firing_alerts(deps, svcs) if with_alerts else asyncio.sleep(0, result={}))
    return [signals, logs, deploys, alerts]


@dataclass(frozen=True)
class _Found:
    """What one investigation gathered and the engine made of it: the part repeated questions share."""

    focus: str | None
    window: TimeRange
    baseline: TimeRange
    live: bool
    graph: dict[str, list[str]]
    full_scope: list[str]
    scope: list[str]
    evidence: list[Evidence]
    edge_ev: list[Evidence]
    result: Analysis


def window_key(window: TimeRange) -> tuple[int, int]:
    """The window to the minute: questions asked within the same minute about the same span share their work."""
    return int(window.start.timestamp()) // 60, int(window.end.timestamp()) // 60


def share_key(focus: str | None, window: TimeRange) -> tuple[str, str | None, int, int]:
    """Questions with the same key share one investigation: the resolved service and the window to the minute."""
    return ("investigation", focus, *window_key(window))


Shared = Callable[[Hashable, Callable[[], Awaitable[_T]]], Awaitable[_T]]


async def _alone(key: Hashable, start: Callable[[], Awaitable[_T]]) -> _T:
    return await start()


async def _same(value: _T) -> _T:
    return value


async def investigate(deps: Deps, question: str, *, at: datetime | None = None, window: timedelta | None = None,
                      focus: str | None = None, names: dict[str, str] | None = None) -> Investigation:
    """`names`: the known service names (`known_services`), when the caller already has them.

    At most SRE_BOT_MAX_INVESTIGATIONS gather evidence at once and SRE_BOT_INVESTIGATION_QUEUE wait in line
    (`deps.offload`, `services/admission.py`; one more: `Busy`); a question that only joins evidence gathered for
    another takes no place. Waiting for a turn does not count against the answer's deadline (the wait is the bot's,
    not a backend's). Work is shared between questions asked within the same minute about
    the same window (to the minute; the first question's exact window is then everyone's): the same service, one
    whole investigation (`share_key`: its evidence and the engine's ranking); other services of the same scope,
    the call-graph probe and the scope's evidence (every query), each ranked for its own focus. Each question still
    gets its own answer (its symptom, its words)."""
    now = deps.clock()
    q = parse_question(question, now=now)
    win = investigation_window(now, window or q.window or deps.default_window, at or q.at)
    if focus is None:
        focus = find_service(question, names if names is not None else await known_services(deps))
    if deps.offload is None:
        with answer_deadline(deps.settings.answer_deadline_s):
            found = await _find(deps, now, win, focus, names, _alone)
        return _answer(deps, question, q.symptom, found)
    admission = deps.offload.admission
    win = await admission.shared(("window", *window_key(win)), functools.partial(_same, win))

    async def run() -> _Found:
        turn = admission.turn(deps.settings.investigation_queue)  # a slot only for work of its own (the line)
        try:
            with answer_deadline(deps.settings.answer_deadline_s):
                return await _find(deps, now, win, focus, names, turn.share)
        finally:
            await turn.close()

    found = await admission.shared(share_key(focus, win), run)
    return _answer(deps, question, q.symptom, found)


async def _find(deps: Deps, now: datetime, win: TimeRange, focus: str | None, names: dict[str, str] | None,
                shared: Shared[Any]) -> _Found:
    """Everything about the scope around `focus` in `win`, and the engine's ranking of it. `shared` runs the parts
    that do not depend on the focus once for every question of the same window (the probe, the scope's evidence)."""
    base = baseline_for(win)
    wkey = window_key(win)
    known, (probe_ev, live_sources) = await asyncio.gather(
        _no_names(names) if names is not None else known_services(deps),
        shared(("probe", *wkey), lambda: probe_edges(deps, win, base)))
    graph = merge_graph(deps.config.dependencies(), edges_of(probe_ev))
    full_scope = scope_services(graph, focus, known)
    scope = full_scope[:MAX_SERVICES]
    live = now - win.end < timedelta(minutes=5)  # Alertmanager only knows the present
    scoped: _Scoped = await shared(("evidence", frozenset(scope), live, *wkey),
                                   lambda: _scope_evidence(deps, scope, win, base, live, probe_ev, live_sources))
    evidence = _dedupe_not_configured([e for part in scoped.parts for s in scope for e in part.get(s, [])])
    result: Analysis = await analyse(deps, engine.analyse, scoped.typed, graph=graph, focus=focus,
                                     window=(win.start.timestamp(), win.end.timestamp()), gaps=scoped.gaps)
    return _Found(focus=focus, window=win, baseline=base, live=live, graph=graph, full_scope=full_scope, scope=scope,
                  evidence=evidence, edge_ev=scoped.edge_ev, result=result)


@dataclass(frozen=True)
class _Scoped:
    """The evidence of one scope and window, whatever the focus: per service, the call graph's, and as the engine's
    typed evidence."""

    parts: list[dict[str, list[Evidence]]]  # signals, logs, deploys, alerts: {service: its evidence}
    edge_ev: list[Evidence]
    typed: list[EngineEvidence]
    gaps: int  # systems that failed (the engine lowers its confidence for each)


async def _scope_evidence(deps: Deps, scope: list[str], win: TimeRange, base: TimeRange, live: bool,
                          probe_ev: list[Evidence], live_sources: Any) -> _Scoped:
    in_scope = set(scope)
    parts, more_edges = await asyncio.gather(
        _gather(deps, scope, win, base, live),
        edge_series(deps, win, base, live_sources) if live_sources else asyncio.sleep(0, result=[]))
    evidence = _dedupe_not_configured([e for part in parts for s in scope for e in part.get(s, [])])
    edge_ev = [*probe_ev, *more_edges]
    edge_ev = [e for e in edge_ev if e.kind != "edge" or e.data["client"] in in_scope or e.data["server"] in in_scope]
    failing = {e.source for e in [*evidence, *edge_ev]  # a selector matching no stream is a gap, not a failure
               if e.status == "error" and e.data.get("error_kind") not in ("not_configured", "no_stream")}
    return _Scoped(parts=parts, edge_ev=edge_ev, typed=engine_evidence([*evidence, *edge_ev], deps.config),
                   gaps=len(failing))


async def _no_names(names: dict[str, str]) -> dict[str, str]:
    return names


def _answer(deps: Deps, question: str, symptom: str | None, found: _Found) -> Investigation:
    """One question's answer from a (possibly shared) investigation: pure, no I/O."""
    focus, win, base, live, graph = found.focus, found.window, found.baseline, found.live, found.graph
    full_scope, scope, evidence, edge_ev, result = (found.full_scope, found.scope, found.evidence, found.edge_ev,
                                                    found.result)
    by_id = {e.id: e for e in [*evidence, *edge_ev]}
    shown: list[Evidence] = []
    shown_for: dict[str, str] = {}  # source evidence id (or edge finding key) -> shown anomaly evidence id
    for findings in result.signal_findings.values():
        for f in findings:
            ev = _anomaly_evidence(by_id[f.series.evidence_id], f, win)
            shown.append(ev)
            shown_for[f.series.evidence_id] = ev.id
    for ef in result.edge_findings:
        edge_item = _edge_evidence(ef, by_id, win)
        if edge_item is not None and edge_item.id not in {x.id for x in shown}:
            shown.append(edge_item)
        if edge_item is not None:
            shown_for[f"{ef.service}|{'|'.join(ef.evidence_ids)}|{ef.kind}"] = edge_item.id
    deploy_ev = [e for e in evidence if e.kind == "deploy"]
    # services whose Argo CD history was actually read: only for those may the answer say "no deploy"
    argo_read = {e.service for e in evidence if e.source == "argocd" and e.kind == "app" and e.status == "ok"}
    shift_ev = [e for e in evidence if e.kind == "log_shift" and e.status == "ok" and e.data.get("first_seen")]
    gaps = gaps_of([*evidence, *edge_ev])
    if focus and len(full_scope) > 1 and not graph.get(focus) and not any(focus in d for d in graph.values()):
        gaps.append(f"no call graph around {focus} (no depends_on, no service-graph metrics): every known service "
                    f"was checked, none placed up or downstream")
    if len(full_scope) > MAX_SERVICES:
        gaps.append(f"only {MAX_SERVICES} of {len(full_scope)} services in scope were checked (nearest first)")
    not_judged = sum(len(v) for v in result.unjudged.values())
    if not_judged:
        reasons = sorted({r for v in result.unjudged.values() for _, r in v})
        gaps.append(f"{not_judged} signal(s) could not be judged ({'; '.join(reasons)}): not called normal")
    candidates = result.candidates
    cal = calibration_for(deps.settings)
    threshold = abstain_threshold(deps.settings, cal)
    probs = cal.rank_probabilities([c.score01 for c in candidates], [c.confidence for c in candidates])
    ranking = [RankedService(service=c.service, score=c.score01, engine_confidence=c.confidence, confidence=p,
                             cause=_cause(c), cause_kind=c.cause_kind, reasons=c.reasons, parts=c.parts)
               for c, p in zip(candidates, probs, strict=True)]
    insufficient = not ranking or ranking[0].confidence < threshold
    # asked about now, and the strongest candidate's every change is over: nothing to blame for the present
    past = live and bool(candidates) and candidates[0].over_at is not None
    insufficient = insufficient or past
    reason = (None if not insufficient else "nothing anomalous" if not ranking else "past episode" if past
              else "below threshold")
    all_by_id = {**by_id, **{e.id: e for e in shown}}

    def cited(c: Candidate) -> list[Evidence]:
        ids = [shown_for.get(f.series.evidence_id, f.series.evidence_id) for f in c.signals]
        ids += [shown_for.get(f"{f.service}|{'|'.join(f.evidence_ids)}|{f.kind}", "") for f in c.edges]
        ids += [d.evidence_id for d in c.deploys] + [lg.evidence_id for lg in c.logs]
        return _strongest_first([all_by_id[i] for i in dict.fromkeys(ids) if i in all_by_id])

    hypotheses = [] if insufficient else [
        Hypothesis(service=r.service, cause=r.cause, cause_kind=r.cause_kind, confidence=r.confidence,
                   engine_confidence=r.engine_confidence, reasons=r.reasons, evidence=cited(c))
        for r, c in list(zip(ranking, candidates, strict=True))[:3] if r.confidence >= SHOWN_FLOOR
    ]
    alerts = [e for e in evidence if e.kind == "alert"]
    return Investigation(
        question=question, focus=focus, symptom=symptom, window=win, baseline=base, insufficient=insufficient,
        abstain_reason=reason, summary=_past_summary(ranking[0], candidates[0]) if past else _summary(
            focus, symptom, scope, ranking, candidates, result, argo_read, shift_ev, deploy_ev, insufficient, win,
            threshold),
        hypotheses=hypotheses, calibration=cal.describe(), abstain_below=threshold, ranking=ranking, gaps=gaps,
        services=scope, graph=graph,
        timeline=_timeline(shown, deploy_ev, alerts, shift_ev, win),
        checked=_checked(scope, evidence, result, loki=deps.loki is not None),
        evidence=[*shown, *evidence, *[e for e in edge_ev if e.status != "ok"]],
    )


def _past_summary(top: RankedService, c: Candidate) -> str:
    assert c.over_at is not None
    return (f"Insufficient evidence for now: nothing is off at the moment. The strongest change, {top.cause}, was over "
            f"by {_hhmm(c.over_at)} (back to its baseline since); see the timeline for that episode.")


_SYMPTOM_UNITS = {"latency": ("seconds",), "errors": ("ratio",), "saturation": ("cores", "bytes"), "traffic": ("rps",)}


def _symptom_hit(hits: list[SignalFinding], symptom: str | None) -> SignalFinding:
    wanted = [h for h in hits if h.series.unit in _SYMPTOM_UNITS.get(symptom or "", ())]
    return min(wanted or hits, key=lambda h: h.anomaly.onset)


def _summary(focus: str | None, symptom: str | None, scope: list[str], ranking: list[RankedService],
             candidates: list[Candidate], result: Analysis, argo_read: set[str | None], shift_ev: list[Evidence],
             deploy_ev: list[Evidence], insufficient: bool, win: TimeRange, threshold: float) -> str:
    if not ranking:
        who = focus or f"{len(scope)} services"
        text = (f"Insufficient evidence: no signal of {who} (or what it depends on) left its baseline in "
                f"{win.label()}; nothing to blame.")
        if result.elsewhere:
            text += f" Anomalies elsewhere, not upstream of {focus}: {', '.join(result.elsewhere)}."
        return text
    top, top_c = ranking[0], candidates[0]
    if insufficient:
        return (f"Insufficient evidence: the strongest candidate, {top.cause}, is the root cause with probability "
                f"{top.confidence:.2f} — below the {threshold:.2f} needed to name a cause.")
    parts = []
    focus_hits = result.signal_findings.get(focus or "", [])
    if focus and focus_hits and focus != top.service:
        h = _symptom_hit(focus_hits, symptom)
        verb = "rose" if h.anomaly.direction == "up" else "fell"
        parts.append(f"{focus} {h.series.title} {verb} from {fmt_value(h.anomaly.before, h.series.unit)} to "
                     f"{fmt_value(h.anomaly.after, h.series.unit)} at {_hhmm(h.anomaly.onset)}")
    if top_c.signals:
        h = min(top_c.signals, key=lambda h: (h.anomaly.seen_before, h.anomaly.onset))
        verb = "rose" if h.anomaly.direction == "up" else "fell"
        parts.append(f"{top.service} {h.series.title} {verb} to {fmt_value(h.anomaly.after, h.series.unit)} at "
                     f"{_hhmm(h.anomaly.onset)}")
    for ef in top_c.edges[:1]:
        parts.append(f"calls {ef.client} → {ef.server} "
                     + ("slowed between the two ends" if ef.kind == "network" else
                        "failing" if ef.kind == "errors" else
                        "changed in number per request" if ef.kind == "calls" else f"slowed inside {ef.server}")
                     + f" from {_hhmm(ef.anomaly.onset)}")
    for e in shift_ev:
        if e.service == top.service and e.data["kind"] == "new":
            first = datetime.fromisoformat(e.data["first_seen"])
            parts.append(f"new error log template from {_hhmm(first)} ({e.data['during']:,} lines)")
            break
    if top.cause_kind == "bad_deploy":
        d = next((x for x in deploy_ev if x.service == top.service and x.quote in " ".join(top.reasons)), None)
        if d:
            parts.append(f"{top.service} deployed {d.data['revision'][:7]} by {d.data.get('author') or 'unknown'} "
                         f"at {_hhmm(datetime.fromisoformat(d.data['deployed_at']))}")
    elif top.service in argo_read:
        parts.append(f"no deploy of {top.service} in the {DEPLOY_LOOKBACK_S // 60} min before")
    return "; ".join(parts) + f" → likely {top.cause}; confidence {top.confidence:.2f}"


def _timeline(shown: list[Evidence], deploy_ev: list[Evidence], alerts: list[Evidence], shift_ev: list[Evidence],
              win: TimeRange) -> list[TimelineEntry]:
    grouped: dict[tuple[str | None, str], list[Evidence]] = {}
    for e in sorted(shown, key=lambda e: e.data["onset"]):
        grouped.setdefault((e.service, e.data["onset"][:16]), []).append(e)
    out = [TimelineEntry(at=datetime.fromisoformat(items[0].data["onset"]), service=svc,
                         text=f"{svc}: " + ", ".join(e.label.removeprefix(f"{svc} ") for e in items) + " off baseline",
                         evidence_id=items[0].id) for (svc, _), items in grouped.items()]
    lookback = win.start - timedelta(seconds=DEPLOY_LOOKBACK_S)
    for e in deploy_ev:
        t = datetime.fromisoformat(e.data["deployed_at"])
        if lookback <= t <= win.end:
            out.append(TimelineEntry(at=t, service=e.service, text=f"deploy: {e.quote}", evidence_id=e.id))
    for e in alerts:
        t = datetime.fromisoformat(e.data["starts_at"])
        if lookback <= t <= win.end:
            out.append(TimelineEntry(at=t, service=e.service, text=f"alert {e.data['alertname']} started",
                                     evidence_id=e.id))
    for e in shift_ev:
        out.append(TimelineEntry(at=datetime.fromisoformat(e.data["first_seen"]), service=e.service,
                                 text=f"{e.service}: {e.label.split(':')[0].removeprefix(str(e.service) + ' ')} "
                                      f"first seen", evidence_id=e.id))
    out.sort(key=lambda t: t.at)
    return out[:15]


def _checked(scope: list[str], evidence: list[Evidence], result: Analysis, *, loki: bool) -> list[str]:
    out = []
    for s in scope:
        ok = [e for e in evidence if e.service == s and e.kind == "signal" and e.status == "ok"]
        bad = len(result.signal_findings.get(s, []))
        unjudged = result.unjudged.get(s, [])
        normal = len(ok) - bad - len(unjudged)
        parts = [f"{normal} of {len(ok)} signals normal" if ok else "no signal data"]
        if unjudged:
            parts.append(f"{len(unjudged)} not judged ({', '.join(sorted({r for _, r in unjudged}))})")
        logs_read = loki and not any(e.service == s and e.source == "loki" and e.status == "error" for e in evidence)
        if logs_read:
            shifts = [e for e in evidence if e.service == s and e.kind == "log_shift"]
            parts.append("error logs unchanged" if not shifts else f"{len(shifts)} log template change(s)")
        out.append(f"{s}: " + ", ".join(parts))
    return out
