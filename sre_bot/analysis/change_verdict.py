"""Was a deploy bad? A verdict on one change from its golden signals and error-log templates. Pure.

    verdict = judge([SignalSamples("checkout", "error_ratio", "error ratio", "ratio", "up", before, after, day_before),
                     ...], logs=[TemplateCounts(...)], thresholds=Thresholds())
    verdict.verdict      # healthy | suspicious | bad | unknown
    verdict.reasons      # one sentence per finding, quoting before/after medians, the p-value and the effect

**The test.** For each signal, the samples after the change are compared with the samples before it by a one-sided
Mann–Whitney U test in the direction the signal's `bad` names (both: the smaller of the two one-sided p-values,
doubled). When the same window a day earlier has enough samples, the after samples must also be worse than those
(the seasonality guard): the signal's p-value is the larger of the two (an intersection–union test, valid without
a correction), and its effect the smaller. A new or surging error-log template is tested as a Poisson rate change
(`binomtest` of the after count among all lines, at the after period's share of the covered minutes). The
p-values of every signal and template are adjusted together (Benjamini–Hochberg, `scipy.stats.false_discovery_control`).

**The effect floor.** A significant change is only a finding if it is large: the relative change from the before
median to the median of the newest half of the after samples (where things stand now: a `rate(…[5m])` signal shows a
step only gradually, a rate window late) is at least the kind's `rel` and the absolute change at least its `abs` (and
the signal's own `min_abs`), so an error ratio going from 0.1% to 0.2% is never a finding (below the 1-point floor),
however significant.

**The verdict.** `bad`: a symptom (errors, latency, traffic) of the changed service is worse with a relative effect
of at least `bad_rel` (×(1 + bad_rel) the before median; a resource signal: `bad_rel_resource`), or two or more
signals are worse, or a signal is worse and a new error template appeared — unless a dependency was already worse
before the change (below). `suspicious`: a finding that is not enough for `bad` (a resource signal alone, a
smaller symptom, a caller's symptom, a new error template alone, or findings while a dependency was already worse).
`healthy`: signals were judged and none is worse. `unknown`: too few samples after (or before) the change to judge
any signal.

**The onset guard.** When the newest half of the samples of the last minutes just before the change (`recent`,
kept out of `before`) is already worse than `before` by the floor (one-sided p < `onset_alpha`), the signal's change
began before the deploy: its status is `earlier` and it is not a finding (a deploy landing during an outage it did
not cause). The same test on the changed service's dependencies (`dependency=True`: only `before` and `recent` are
read): one already worse before the change makes the verdict `suspicious` at most, quoted among the reasons.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from statistics import median
from typing import Any, Literal

__all__ = ["SignalSamples", "TemplateCounts", "Floor", "FLOORS", "Thresholds", "SignalFinding", "LogFinding",
           "ChangeVerdict", "judge", "kind_of", "Verdict"]

Verdict = Literal["healthy", "suspicious", "bad", "unknown"]
Kind = Literal["errors", "latency", "traffic", "saturation"]
Direction = Literal["up", "down", "both"]
SYMPTOMS: tuple[Kind, ...] = ("errors", "latency", "traffic")


@dataclass(frozen=True)
class SignalSamples:
    """One golden signal of one service around the change: values before it, after it, and (optional) the after
    window's same time a day earlier. `caller`: the service is a direct caller of the changed one (its findings
    alone make the verdict `suspicious` at most)."""

    service: str
    signal: str
    title: str
    unit: str
    bad: Direction
    before: Sequence[float]
    after: Sequence[float]
    day_before: Sequence[float] = ()
    min_abs: float = 0.0
    caller: bool = False
    recent: Sequence[float] = ()  # the last minutes just before the change (not in `before`): the onset guard
    dependency: bool = False  # a service the changed one calls: only its onset before the change is looked at
    kind: Kind | None = None  # default: from the signal's name and unit (`kind_of`)


@dataclass(frozen=True)
class TemplateCounts:
    """An error-log template's lines before and after the change, and the minutes each period had any line."""

    service: str
    template: str
    example: str
    before: int
    after: int
    before_minutes: float
    after_minutes: float


@dataclass(frozen=True)
class Floor:
    rel: float  # |after - before| / |before| must reach this …
    abs: float  # … and |after - before| this (in the signal's unit; a unit-less default of 0 for counts)


# Per signal kind (and, for saturation, per unit): the smallest change that can be a finding.
FLOORS: dict[str, Floor] = {
    "errors": Floor(rel=1.0, abs=0.01),  # doubled and at least one percentage point
    "latency": Floor(rel=0.5, abs=0.05),  # +50% and at least 50 ms
    "traffic": Floor(rel=0.5, abs=0.0),  # halved (or +50% where up is bad)
    "saturation": Floor(rel=0.5, abs=0.0),
    "saturation:ratio": Floor(rel=0.5, abs=0.05),
    "saturation:cores": Floor(rel=0.5, abs=0.05),
    "saturation:bytes": Floor(rel=0.25, abs=32 * 2**20),
}


@dataclass(frozen=True)
class Thresholds:
    # from benchmarks/nezha_changes.py: alpha and bad_rel_resource as both leave-one-day-out folds picked; bad_rel as
    # the OnlineBoutique fold picked (the TrainTicket fold, whose 4 visible faults tie, picked 0.5)
    alpha: float = 0.05  # the false discovery rate over one change's tests
    bad_rel: float = 2.0  # a symptom of the changed service this much worse (relative) is `bad` on its own
    bad_rel_resource: float = 3.0  # and a resource signal (CPU, memory) this much worse (inf: never alone)
    min_after: int = 3  # samples needed after the change to judge a signal
    min_before: int = 5  # and before it
    new_min_lines: int = 3  # a template needs this many lines after the change
    jump_factor: float = 5.0  # a template seen before must be this many times more frequent
    floor_scale: float = 1.0  # multiplies every floor's `rel` (the benchmark's knob)
    onset_alpha: float = 0.05  # `recent` this significantly worse than `before` (raw p) means it began earlier


@dataclass(frozen=True)
class SignalFinding:
    service: str
    signal: str
    title: str
    unit: str
    kind: str
    caller: bool
    before_n: int
    after_n: int
    before_median: float | None
    after_median: float | None
    day_before_median: float | None
    p_value: float | None  # one-sided, the larger of before's and yesterday's when yesterday was used
    p_adjusted: float | None
    effect: float | None  # relative change of the medians in the bad direction (0.5 = 50% worse)
    status: Literal["worse", "ok", "too_few", "seasonal", "earlier"]
    quote: str
    dependency: bool = False


@dataclass(frozen=True)
class LogFinding:
    service: str
    template: str
    example: str
    before: int
    after: int
    rate_before: float
    rate_after: float
    p_value: float
    p_adjusted: float | None
    status: Literal["new", "surge", "ok"]
    quote: str


@dataclass(frozen=True)
class ChangeVerdict:
    verdict: Verdict
    reasons: list[str]  # the findings that made the verdict, numbers quoted
    signals: list[SignalFinding]
    logs: list[LogFinding]
    thresholds: Thresholds
    judged: int  # signals with enough samples
    summary: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def worse(self) -> list[SignalFinding]:
        return [f for f in self.signals if f.status == "worse"]

    def to_doc(self) -> dict[str, Any]:
        """Plain JSON-ready data (what the store keeps)."""
        out = asdict(self)
        out["thresholds"] = asdict(self.thresholds)
        return _finite(out)


def _finite(v: Any) -> Any:
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, dict):
        return {k: _finite(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_finite(x) for x in v]
    return v


def kind_of(signal: str, unit: str) -> Kind:
    """errors (an error ratio or count), latency (seconds), traffic (requests per second), else saturation."""
    name = signal.lower()
    if "error" in name or "fail" in name or "5xx" in name:
        return "errors"
    if unit == "seconds" or "latency" in name or "duration" in name:
        return "latency"
    if unit == "rps" or "request_rate" in name or "workload" in name or "throughput" in name:
        return "traffic"
    return "saturation"


def _floor(kind: Kind, unit: str) -> Floor:
    return FLOORS.get(f"{kind}:{unit}", FLOORS[kind])


def _clean(values: Sequence[float]) -> list[float]:
    out = []
    for v in values:
        try:
            f = float(v)
        except (TypeError, ValueError):
            continue
        if math.isfinite(f):
            out.append(f)
    return out


def _one_sided(after: list[float], ref: list[float], bad: Direction) -> float:
    """p-value that `after` is stochastically worse than `ref` in the `bad` direction (Mann–Whitney U)."""
    if len(set(after) | set(ref)) == 1:
        return 1.0  # every value equal: nothing changed (and the test is undefined)

    import numpy as np  # numpy and scipy load on the first verdict, not with every process that imports this
    from scipy.stats import mannwhitneyu

    def p(alt: Literal["greater", "less"]) -> float:
        res = mannwhitneyu(np.asarray(after), np.asarray(ref), alternative=alt)
        v = float(res.pvalue)
        return v if math.isfinite(v) else 1.0

    if bad == "up":
        return p("greater")
    if bad == "down":
        return p("less")
    return min(1.0, 2 * min(p("greater"), p("less")))


def _effect(after_med: float, ref_med: float, bad: Direction) -> tuple[float, float]:
    """(relative, absolute) change of the medians in the bad direction (negative when better)."""
    delta = after_med - ref_med
    if bad == "down":
        delta = -delta
    elif bad == "both":
        delta = abs(delta)
    scale = abs(ref_med)
    rel = delta / scale if scale > 1e-12 else (math.inf if delta > 0 else 0.0)
    return rel, delta


def _fmt(v: float | None, unit: str) -> str:
    if v is None or not math.isfinite(v):
        return "n/a"
    if unit == "seconds":
        return f"{v * 1000:,.0f} ms" if abs(v) < 10 else f"{v:,.1f} s"
    if unit == "ratio":
        return f"{v * 100:.2f}%" if abs(v) < 0.01 else f"{v * 100:.1f}%"
    if unit == "bytes":
        for suffix, n in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
            if abs(v) >= n:
                return f"{v / n:,.1f} {suffix}"
        return f"{v:,.0f} B"
    if unit == "cores":
        return f"{v:.2f} cores"
    if unit == "rps":
        return f"{v:,.1f} req/s"
    return f"{v:,.3g}"


def _p(p: float | None) -> str:
    if p is None:
        return "n/a"
    return f"{p:.1e}" if p < 0.001 else f"{p:.3f}"


def _pct(rel: float | None) -> str:
    if rel is None:
        return "n/a"
    if math.isinf(rel):
        return "from zero"
    return f"{rel * 100:+.0f}%"


@dataclass
class _Pending:
    s: SignalSamples
    kind: Kind
    before: list[float]
    after: list[float]
    day: list[float]
    recent: list[float]
    b_med: float | None
    a_med: float | None
    d_med: float | None
    p: float | None = None
    effect: float | None = None
    big: bool = False
    seasonal: bool = False
    earlier: bool = False  # already worse in the minutes just before the change
    r_med: float | None = None


def _signal(s: SignalSamples, th: Thresholds) -> _Pending:
    kind = s.kind or kind_of(s.signal, s.unit)
    before, after, day = _clean(s.before), _clean(s.after), _clean(s.day_before)
    lead = _clean(s.recent)
    lead = lead[len(lead) // 2:]  # its newest half: how things stood when the change landed (a ramp shows there)
    pend = _Pending(s, kind, before, after, day, lead, median(before) if before else None,
                    median(after[len(after) // 2:]) if after else None, median(day) if day else None)
    if s.dependency and len(before) >= th.min_before and pend.b_med is not None and pend.recent:
        floor = _floor(kind, s.unit)
        pend.r_med = median(pend.recent)
        rel_r, delta_r = _effect(pend.r_med, pend.b_med, s.bad)
        pend.earlier = (rel_r >= floor.rel * th.floor_scale and delta_r >= max(floor.abs, s.min_abs)
                        and delta_r > 0 and _one_sided(pend.recent, before, s.bad) < th.onset_alpha)
        return pend
    if len(after) < th.min_after or len(before) < th.min_before or pend.a_med is None or pend.b_med is None:
        return pend
    floor = _floor(kind, s.unit)
    rel_floor, abs_floor = floor.rel * th.floor_scale, max(floor.abs, s.min_abs)
    p = _one_sided(after, before, s.bad)
    rel, delta = _effect(pend.a_med, pend.b_med, s.bad)
    big = rel >= rel_floor and delta >= abs_floor and delta > 0
    recent = pend.recent
    if big and recent:  # the onset guard: a change cannot cause what began before it
        pend.r_med = median(recent)
        rel_r, delta_r = _effect(pend.r_med, pend.b_med, s.bad)
        pend.earlier = (rel_r >= rel_floor and delta_r >= abs_floor and delta_r > 0
                        and _one_sided(recent, before, s.bad) < th.onset_alpha)
    if len(day) >= th.min_after and pend.d_med is not None:  # the seasonality guard
        p_day = _one_sided(after, day, s.bad)
        rel_d, delta_d = _effect(pend.a_med, pend.d_med, s.bad)
        big_day = rel_d >= rel_floor and delta_d >= abs_floor and delta_d > 0
        pend.seasonal = big and not big_day
        p, rel, big = max(p, p_day), min(rel, rel_d), big and big_day
    pend.p, pend.effect, pend.big = p, rel, big
    return pend


def _signal_quote(f: _Pending, status: str, p_adj: float | None) -> str:
    s = f.s
    who = f"{s.service} {s.title}" + (" (a caller)" if s.caller else " (a dependency)" if s.dependency else "")
    if status == "too_few":
        return f"{who}: too few samples to judge ({len(f.before)} before, {len(f.after)} after)"
    newest = len(f.after) - len(f.after) // 2
    text = (f"{who}: {_fmt(f.b_med, s.unit)} before → {_fmt(f.a_med, s.unit)} after "
            f"(medians of {len(f.before)} samples before and the newest {newest} of {len(f.after)} after")
    if f.d_med is not None and f.day:
        text += f"; {_fmt(f.d_med, s.unit)} at this time yesterday"
    text += f"), p={_p(p_adj)}, effect {_pct(f.effect)}"
    if status == "seasonal":
        text += ": no worse than yesterday at this time (daily pattern)"
    elif status == "earlier" and s.dependency:
        return (f"{who}: {_fmt(f.b_med, s.unit)} → {_fmt(f.r_med, s.unit)} in the minutes before the change "
                f"(median of {len(f.before)} and {len(f.recent)} samples): it was already worse before the sync")
    elif status == "earlier":
        text += f": already {_fmt(f.r_med, s.unit)} in the minutes before the change (it began earlier)"
    elif status == "ok" and f.big:
        text += ": large but not significant"
    elif status == "ok" and p_adj is not None and p_adj < 1:
        text += ": within the effect floor" if (f.effect or 0) > 0 else ""
    return text


def _template(t: TemplateCounts, th: Thresholds) -> tuple[float, bool, str]:
    total = t.before + t.after
    bm, am = max(t.before_minutes, 0.0), max(t.after_minutes, 0.0)
    if total == 0 or am <= 0 or bm <= 0:
        return 1.0, False, "ok"
    share = am / (bm + am)
    from scipy.stats import binomtest

    p = float(binomtest(t.after, total, share, alternative="greater").pvalue)
    rb, ra = t.before / bm, t.after / am
    if t.before == 0 and t.after >= th.new_min_lines:
        return p, True, "new"
    if t.before > 0 and ra >= th.jump_factor * rb and t.after >= th.new_min_lines:
        return p, True, "surge"
    return p, False, "ok"


def judge(signals: Sequence[SignalSamples], *, logs: Sequence[TemplateCounts] = (),
          thresholds: Thresholds | None = None) -> ChangeVerdict:
    """The verdict on one change (see the module docstring). Never raises on odd series: NaN, inf, empty, constant
    or very short series are judged as far as they allow (`too_few`, `unknown`)."""
    th = thresholds or Thresholds()
    pend = [_signal(s, th) for s in signals]
    tpl = [(t, *_template(t, th)) for t in logs]
    raw = [f.p for f in pend if f.p is not None] + [p for _, p, _, _ in tpl]
    import numpy as np
    from scipy.stats import false_discovery_control

    adj = [float(x) for x in false_discovery_control(np.clip(np.asarray(raw, dtype=float), 0.0, 1.0))] if raw else []
    it = iter(adj)
    findings: list[SignalFinding] = []
    for f in pend:
        p_adj = next(it) if f.p is not None else None
        if f.s.dependency:
            status_d: Literal["ok", "earlier"] = "earlier" if f.earlier else "ok"
            findings.append(SignalFinding(
                service=f.s.service, signal=f.s.signal, title=f.s.title, unit=f.s.unit, kind=f.kind, caller=False,
                before_n=len(f.before), after_n=len(f.after), before_median=f.b_med, after_median=f.a_med,
                day_before_median=f.d_med, p_value=None, p_adjusted=None, effect=None, status=status_d,
                quote=_signal_quote(f, status_d, None), dependency=True))
            continue
        if f.p is None:
            status: Literal["worse", "ok", "too_few", "seasonal", "earlier"] = "too_few"
        elif f.big and f.earlier and p_adj is not None and p_adj < th.alpha:
            status = "earlier"
        elif f.big and p_adj is not None and p_adj < th.alpha:
            status = "worse"
        elif f.seasonal:
            status = "seasonal"
        else:
            status = "ok"
        findings.append(SignalFinding(
            service=f.s.service, signal=f.s.signal, title=f.s.title, unit=f.s.unit, kind=f.kind, caller=f.s.caller,
            before_n=len(f.before), after_n=len(f.after), before_median=f.b_med, after_median=f.a_med,
            day_before_median=f.d_med, p_value=f.p, p_adjusted=p_adj, effect=f.effect, status=status,
            quote=_signal_quote(f, status, p_adj)))
    log_findings: list[LogFinding] = []
    for t, p, big, kind in tpl:
        p_adj = next(it)
        status_l: Literal["new", "surge", "ok"] = kind if big and p_adj < th.alpha else "ok"  # type: ignore[assignment]
        rb = t.before / t.before_minutes if t.before_minutes > 0 else 0.0
        ra = t.after / t.after_minutes if t.after_minutes > 0 else 0.0
        what = "new error template" if status_l == "new" else "error template surged" if status_l == "surge" \
            else "error template"
        quote = (f"{t.service}: {what} “{t.template[:120]}”: {t.after} lines after ({ra:.1f}/min), {t.before} "
                 f"before ({rb:.1f}/min), p={_p(p_adj)}; e.g. “{t.example[:160]}”")
        log_findings.append(LogFinding(service=t.service, template=t.template, example=t.example, before=t.before,
                                       after=t.after, rate_before=rb, rate_after=ra, p_value=p, p_adjusted=p_adj,
                                       status=status_l, quote=quote))
    return _decide(findings, log_findings, th)


def _decide(findings: list[SignalFinding], logs: list[LogFinding], th: Thresholds) -> ChangeVerdict:
    judged = sum(1 for f in findings if f.status != "too_few" and not f.dependency)
    worse = [f for f in findings if f.status == "worse"]
    own = [f for f in worse if not f.caller]
    new_logs = [g for g in logs if g.status != "ok" and not _caller_service(g.service, findings)]
    strong = [f for f in own if (f.effect or 0) >= (th.bad_rel if f.kind in SYMPTOMS else th.bad_rel_resource)]
    upstream = [f for f in findings if f.dependency and f.status == "earlier"]
    reasons = [f.quote for f in sorted(worse, key=lambda f: (f.caller, f.kind not in SYMPTOMS, -(f.effect or 0)))]
    reasons += [g.quote for g in logs if g.status != "ok"]
    if worse and upstream:  # what the change's service calls was already worse: not proof of a bad change
        reasons += [f.quote for f in upstream[:3]]
    if (strong or len(own) >= 2 or (own and new_logs)) and not upstream:
        verdict: Verdict = "bad"
    elif worse or new_logs:
        verdict = "suspicious"
    elif judged == 0 and not logs:
        verdict = "unknown"
    else:
        verdict = "healthy"
    if verdict == "unknown":
        summary = "not enough samples after the change to judge it"
    elif verdict == "healthy":
        summary = f"{judged} signal{'s' if judged != 1 else ''} judged, none worse than before the change"
    else:
        n = len(worse) + sum(1 for g in logs if g.status != "ok")
        summary = f"{n} finding{'s' if n != 1 else ''}: " + "; ".join(r.split(":")[0] for r in reasons[:3])
    return ChangeVerdict(verdict=verdict, reasons=reasons, signals=findings, logs=logs, thresholds=th,
                         judged=judged, summary=summary)


def _caller_service(service: str, findings: list[SignalFinding]) -> bool:
    """Whether `service` appears only as a caller among the signals (its logs weigh like a caller's)."""
    mine = [f for f in findings if f.service == service]
    return bool(mine) and all(f.caller for f in mine)
