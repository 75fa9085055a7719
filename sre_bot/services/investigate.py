"""The investigation engine: "why is X slow?" answered with ranked, evidence-backed hypotheses, no LLM needed.

Gather (concurrently, per service in scope: the asked-about service, what it depends on, and its direct callers):
golden signals over the window and a baseline before it (and the same window yesterday, for seasonality), error
log templates before vs during, Argo CD deploy history, firing alerts. Then analyse (pure functions in
`analysis/`): onset of each anomalous signal, template shifts, ranking. Every hypothesis carries the evidence
items it rests on; when nothing supports a cause the answer is "insufficient evidence".

The whole investigation answers within one deadline (SRE_BOT_ANSWER_DEADLINE, `sre_bot.deadline`): a system that
does not answer in time is named in the gaps and the others' evidence is still used. Service discovery (known
names, service-graph edges) is best effort and gets only a share of that time, so a silent Prometheus cannot
spend it all before the evidence is gathered. The anomaly scans run off the event loop, and at most
SRE_BOT_MAX_INVESTIGATIONS investigations run at once (`deps.offload`, `services/offload.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from ..analysis.anomaly import SignalAnomaly, detect_onsets
from ..analysis.graph import depends_on_closure
from ..analysis.question import parse_question
from ..analysis.ranking import (
    DEPLOY_LOOKBACK_S,
    MIN_CONFIDENCE,
    Candidate,
    DeployHit,
    LogHit,
    SignalHit,
    rank_services,
)
from ..config import ServiceConfig
from ..deadline import answer_deadline, postpone
from ..deps import Deps
from ..investigation import Hypothesis, Investigation, RankedService, TimelineEntry
from ..models import Evidence, TimeRange, evidence_id
from ..tools._common import analyse, fmt_value
from ..tools.alerts import firing_alerts
from ..tools.deploys import app_status
from ..tools.logs import error_shift
from ..tools.signals import baseline_for, golden_signals
from ..tools.topology import discover_edges, merge_graph
from .names import find_service, known_services
from .reply import gaps_of

__all__ = ["investigate", "investigation_window", "scope_services", "MAX_SERVICES"]

MAX_SERVICES = 40


def investigation_window(now: datetime, length: timedelta, at: datetime | None) -> TimeRange:
    """Ending now; or, for a past time `at`, the window with `at` three quarters of the way in."""
    if at is None:
        return TimeRange.ending(now, length)
    end = min(at + length / 4, now)
    return TimeRange(start=min(end - length, at - length / 2), end=end)


def scope_services(graph: Mapping[str, list[str]], focus: str | None, names: Mapping[str, str]) -> list[str]:
    """The focus, everything it depends on (transitively, nearest first), and its direct callers; or every known
    service. Not capped here: the caller keeps the first MAX_SERVICES and says when it cut."""
    if focus is None:
        return sorted(set(graph) | set(names.values()))
    out, frontier = [focus], [focus]
    while frontier:
        nxt = []
        for s in frontier:
            for d in graph.get(s, []):
                if d not in out:
                    out.append(d)
                    nxt.append(d)
        frontier = nxt
    callers = [s for s, ds in graph.items() if focus in ds and s not in out]
    return out + callers


def _hhmm(t: float | datetime) -> str:
    dt = t if isinstance(t, datetime) else datetime.fromtimestamp(t, tz=timezone.utc)
    return dt.strftime("%H:%M UTC")


def _onset_args(e: Evidence, window: TimeRange) -> dict[str, Any] | None:
    """What `detect_onset` needs to judge a signal evidence item, or None when there is nothing to judge."""
    if e.status != "ok" or e.kind != "signal" or not e.data.get("points"):
        return None
    return {"points": [(p[0], p[1]) for p in e.data["points"]], "window_start": window.start.timestamp(),
            "bad": e.data.get("bad", "up"), "min_abs": e.data.get("min_abs", 0.0),
            "seasonal": [(p[0], p[1]) for p in e.data.get("seasonal_points") or []],
            "expected": tuple(e.data["expected_points"]) if e.data.get("expected_points") else None}


def _anomaly_evidence(e: Evidence, a: SignalAnomaly, window: TimeRange) -> tuple[SignalHit, Evidence]:
    sig = e.data["signal"]
    unit = e.data["unit"]
    verb = "rose" if a.direction == "up" else "fell"
    base = "the same time yesterday" if a.seasonal else "its baseline"
    quote = (f"{e.label} {verb} from {fmt_value(a.before, unit)} ({base}) to {fmt_value(a.after, unit)} "
             f"at {_hhmm(a.onset)} (robust z {a.z:+.1f})")
    ev = e.model_copy(update={
        "id": evidence_id("prometheus", e.query, window, "anomaly"), "kind": "anomaly", "quote": quote,
        "data": {**e.data, "onset": datetime.fromtimestamp(a.onset, tz=timezone.utc).isoformat(),
                 "before": a.before, "after": a.after, "peak": a.peak, "z": a.z, "direction": a.direction,
                 "seasonal": a.seasonal},
    })
    title = e.label.removeprefix(f"{e.service} ") if e.service else e.label
    return SignalHit(signal=sig, title=title, unit=unit, anomaly=a, evidence_id=ev.id), ev


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
    """Deploys first (the change), then signals by how far they moved, then log shifts."""
    order = {"deploy": 0, "anomaly": 1, "log_shift": 2}
    return sorted(items, key=lambda e: (order.get(e.kind, 3), -abs(e.data.get("z") or 0)))


def _cause(c: Candidate, hits: list[SignalHit], deploys: list[Evidence]) -> str:
    strongest = max(hits, key=lambda h: abs(h.anomaly.z))
    a = strongest.anomaly
    change = f"{strongest.title} {fmt_value(a.before, strongest.unit)} → {fmt_value(a.after, strongest.unit)}"
    if c.cause_kind == "bad_deploy":
        near = [d for d in deploys if d.id in c.evidence_ids]
        rev = near[0].data.get("revision", "")[:12] if near else ""
        return f"bad deploy of {c.service}" + (f" (revision {rev})" if rev else "") + f": {change}"
    label = {"resource_saturation": "saturation", "error_spike": "errors", "latency": "slowness",
             "traffic_spike": "traffic spike", "anomaly": "anomaly"}[c.cause_kind]
    return f"{c.service} {label} ({change})"


async def _gather(deps: Deps, svc: ServiceConfig, window: TimeRange, baseline: TimeRange, with_alerts: bool,
                  ) -> list[Evidence]:
    jobs = [golden_signals(deps, svc, window, seasonal=True), error_shift(deps, svc, window, baseline),
            app_status(deps, deps.config.argocd_app(svc), service=svc.name, history=10)]
    if with_alerts:
        jobs.append(firing_alerts(deps, svc))
    return [e for group in await asyncio.gather(*jobs) for e in group]


async def investigate(deps: Deps, question: str, *, at: datetime | None = None, window: timedelta | None = None,
                      focus: str | None = None, names: dict[str, str] | None = None) -> Investigation:
    """`names`: the known service names (`known_services`), when the caller already has them.

    At most SRE_BOT_MAX_INVESTIGATIONS run at once (`deps.offload`); waiting for a turn does not count against
    the answer's deadline (the wait is the bot's, not a backend's)."""
    slot = deps.offload.investigation_slot() if deps.offload is not None else contextlib.nullcontext(0.0)
    async with slot as waited:
        postpone(waited)
        with answer_deadline(deps.settings.answer_deadline_s):
            return await _investigate(deps, question, at=at, window=window, focus=focus, names=names)


async def _no_names(names: dict[str, str]) -> dict[str, str]:
    return names


async def _investigate(deps: Deps, question: str, *, at: datetime | None, window: timedelta | None,
                       focus: str | None, names: dict[str, str] | None) -> Investigation:
    now = deps.clock()
    q = parse_question(question, now=now)
    win = investigation_window(now, window or q.window or deps.default_window, at or q.at)
    base = baseline_for(win)
    known, edges = await asyncio.gather(_no_names(names) if names is not None else known_services(deps),
                                        discover_edges(deps, win))
    focus = focus or find_service(question, known)
    graph = merge_graph(deps.config.dependencies(), edges)
    full_scope = scope_services(graph, focus, known)
    scope = full_scope[:MAX_SERVICES]
    live = now - win.end < timedelta(minutes=5)  # Alertmanager only knows the present
    gathered = await asyncio.gather(*(_gather(deps, deps.config.service(s), win, base, live) for s in scope))
    evidence = _dedupe_not_configured([e for group in gathered for e in group])
    # enrich signal evidence with how to judge it (direction and floor come from the config's signal)
    signals_cfg = deps.config.all_signals
    for e in evidence:
        if e.kind == "signal" and e.data.get("signal") in signals_cfg:
            sig = signals_cfg[e.data["signal"]]
            e.data.update(bad=sig.bad, min_abs=sig.min_abs)
    judged = [(e, args) for e in evidence if (args := _onset_args(e, win)) is not None]
    anomalies = await analyse(deps, detect_onsets, [args for _, args in judged]) if judged else []
    hits: dict[str, list[SignalHit]] = {s: [] for s in scope}
    shown: list[Evidence] = []
    for (e, _), a in zip(judged, anomalies, strict=True):
        if a is not None:
            hit, ev = _anomaly_evidence(e, a, win)
            hits[e.service or ""].append(hit)
            shown.append(ev)
    deploy_ev = [e for e in evidence if e.kind == "deploy"]
    # services whose Argo CD history was actually read: only for those may the answer say "no deploy"
    argo_read = {e.service for e in evidence if e.source == "argocd" and e.kind == "app" and e.status == "ok"}
    deploys = {s: [DeployHit(at=datetime.fromisoformat(e.data["deployed_at"]).timestamp(), text=e.quote,
                             evidence_id=e.id) for e in deploy_ev if e.service == s] for s in scope}
    shift_ev = [e for e in evidence if e.kind == "log_shift"]
    logs = {s: [LogHit(kind=e.data["kind"], text=e.label, evidence_id=e.id) for e in shift_ev if e.service == s]
            for s in scope}
    gaps = gaps_of(evidence)
    if len(full_scope) > MAX_SERVICES:
        gaps.append(f"only {MAX_SERVICES} of {len(full_scope)} services in scope were checked (nearest first)")
    failing = {e.source for e in evidence if e.status == "error" and e.data.get("error_kind") != "not_configured"}
    candidates = rank_services(graph=graph, focus=focus, signals=hits, deploys=deploys, logs=logs,
                               gaps=len(failing))
    elsewhere: list[str] = []
    if focus is not None and not any(hits.get(s) for s in {focus} | depends_on_closure(graph, focus)):
        # the asked-about service and everything it depends on look normal: callers' trouble is not its cause
        elsewhere = [c.service for c in candidates]
        candidates = []
    by_id = {e.id: e for e in [*evidence, *shown]}
    ranking = [RankedService(service=c.service, score=c.score, confidence=c.confidence,
                             cause=_cause(c, hits[c.service], deploy_ev), cause_kind=c.cause_kind,
                             reasons=c.reasons, parts={k: round(v, 3) for k, v in c.parts.items()})
               for c in candidates]
    insufficient = not ranking or ranking[0].confidence < MIN_CONFIDENCE
    hypotheses = [] if insufficient else [
        Hypothesis(service=r.service, cause=r.cause, cause_kind=r.cause_kind, confidence=r.confidence,
                   reasons=r.reasons, evidence=_strongest_first([by_id[i] for i in c.evidence_ids if i in by_id]))
        for r, c in list(zip(ranking, candidates, strict=True))[:3] if r.confidence >= MIN_CONFIDENCE
    ]
    alerts = [e for e in evidence if e.kind == "alert"]
    return Investigation(
        question=question, focus=focus, symptom=q.symptom, window=win, baseline=base, insufficient=insufficient,
        summary=_summary(focus, q.symptom, scope, ranking, hits, argo_read, shift_ev, deploy_ev, insufficient, win,
                         elsewhere),
        hypotheses=hypotheses, ranking=ranking, gaps=gaps, services=scope, graph=graph,
        timeline=_timeline(shown, deploy_ev, alerts, shift_ev, win),
        checked=_checked(scope, evidence, hits, logs, loki=deps.loki is not None),
        evidence=[*shown, *evidence],
    )


_SYMPTOM_UNITS = {"latency": ("seconds",), "errors": ("ratio",), "saturation": ("cores", "bytes"), "traffic": ("rps",)}


def _symptom_hit(hits: list[SignalHit], symptom: str | None) -> SignalHit:
    wanted = [h for h in hits if h.unit in _SYMPTOM_UNITS.get(symptom or "", ())]
    return min(wanted or hits, key=lambda h: h.anomaly.onset)


def _summary(focus: str | None, symptom: str | None, scope: list[str], ranking: list[RankedService],
             hits: dict[str, list[SignalHit]], argo_read: set[str | None], shift_ev: list[Evidence],
             deploy_ev: list[Evidence], insufficient: bool, win: TimeRange, elsewhere: list[str]) -> str:
    if not ranking:
        who = focus or f"{len(scope)} services"
        text = (f"Insufficient evidence: no signal of {who} (or what it depends on) left its baseline in "
                f"{win.label()}; nothing to blame.")
        if elsewhere:
            text += f" Anomalies elsewhere, not upstream of {focus}: {', '.join(elsewhere)}."
        return text
    top = ranking[0]
    if insufficient:
        return (f"Insufficient evidence: the strongest candidate, {top.cause}, has confidence {top.confidence:.2f} "
                f"— too weak to call a cause.")
    parts = []
    if focus and hits.get(focus) and focus != top.service:
        h = _symptom_hit(hits[focus], symptom)
        parts.append(f"{focus} {h.title} rose from {fmt_value(h.anomaly.before, h.unit)} to "
                     f"{fmt_value(h.anomaly.after, h.unit)} at {_hhmm(h.anomaly.onset)}")
    h = min(hits[top.service], key=lambda h: h.anomaly.onset)
    verb = "rose" if h.anomaly.direction == "up" else "fell"
    parts.append(f"{top.service} {h.title} {verb} to {fmt_value(h.anomaly.after, h.unit)} at {_hhmm(h.anomaly.onset)}")
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


def _checked(scope: list[str], evidence: list[Evidence], hits: dict[str, list[SignalHit]],
             logs: dict[str, list[LogHit]], *, loki: bool) -> list[str]:
    out = []
    for s in scope:
        ok = [e for e in evidence if e.service == s and e.kind == "signal" and e.status == "ok"]
        bad = len(hits.get(s, []))
        parts = [f"{len(ok) - bad} of {len(ok)} signals normal" if ok else "no signal data"]
        logs_read = loki and not any(e.service == s and e.source == "loki" and e.status == "error" for e in evidence)
        if logs_read:
            parts.append("error logs unchanged" if not logs.get(s) else f"{len(logs[s])} log template change(s)")
        out.append(f"{s}: " + ", ".join(parts))
    return out
