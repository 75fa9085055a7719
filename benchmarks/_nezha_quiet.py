"""No-fault windows of the Nezha benchmark: when nothing is wrong, the right answer is "insufficient evidence". Pure.

    windows = quiet_windows(day.faults, data_start, data_end, window=timedelta(minutes=10))
    answer = answer_fields(cli_json)          # or answer_fields(investigation_json(inv)) in-process
    summary = quiet_summary(rows)             # per day and kind: windows, abstained, rate (+ the CLI's)

**How long a fault lasts.** A fault "occupies" `[inject_time, inject_time + FAULT_EFFECT_S]` (8 min). Checked on
the pod CSVs (`CpuUsageRate(%)` and `PodServerLatencyP95(s)` of the injected pod, minute rows around each
cpu_contention / cpu_consumed fault of both days): the CPU jumps in the first minute row after the injection (e.g.
emailservice 05:35:34: 1% → 85–106% for 4 rows, back to 6% at +5 min; paymentservice 06:01:18: 0% → 82–90% for 3
rows, 9–10% at +4/+5, 1% at +6; shippingservice 07:26:48: 3% → 80–91% for 6 rows, 3% at +7; TrainTicket's four
cpu_contention faults: 3–4 rows at 65–100%, ~1% from +4/+5 on), and the injected pod's p95 falls back with it
(checkoutservice 04:44:16: 0.24–0.43 s before, 4.5–25 s for 5 rows, 0.46 s at +6; frontend 03:53:54: CPU 81–105%
and p95 2.3–28 s until +6, 24% and 0.9 s at +7; frontend 04:10:20: 2.4 s for 3 rows, 0.5 s at +4). So the effect
lasts 3–6 min after `inject_time`; 8 min leaves a margin for the slowest return to normal (frontend 03:53:54) and
the minute granularity of the rows.

**Which windows** (every time is derived from the fault list and the loaded metrics; nothing is hand-picked):

- `before`: for each fault, ask at `inject − 30 s` about the window `W` before it. Eligible when `[t − W, t]`
  shares more than an instant with no fault's occupied interval, and the day's metrics start at least 30 min before
  `t − W` (the engine compares the window with the hour before it: with less, it has no baseline to judge by).
- `between`: in every stretch free of occupied intervals (from the end of an occupied interval to the next
  injection, and from the last fault's to the end of the loaded data, `_nezha_data.KEEP_AFTER_S` after it): windows
  ending `W + 5 min` after the stretch starts, then every 15 min, while `t ≤ next inject − 30 s` (or the data's
  end − 1 min). Same eligibility.
- `recovering` (reported apart; **not** a no-fault window): each fault whose `before` window fails only because the
  previous fault's occupied interval overlaps it (it has the 30 min of data) is still asked at `inject − 30 s`.
  With faults ~8 min apart, such a window usually holds the previous fault's injection and its whole effect, so
  abstaining there is *not* plainly right: the previous fault's service would be a fair answer. Both are counted.

**What counts as right** on a no-fault window: the answer abstains (`insufficient` in-process,
`insufficient_evidence` in the CLI's JSON) or shows no hypothesis, and did not fail. Any service it names is a false
alarm.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

__all__ = ["FAULT_EFFECT_S", "LEAD_S", "BASELINE_S", "SETTLE_S", "EVERY_S", "END_MARGIN_S", "KINDS", "QuietWindow",
           "quiet_windows", "limit_per_kind", "investigation_json", "answer_fields", "quiet_ok", "quiet_summary"]

FAULT_EFFECT_S = 8 * 60  # a fault's effect lasts 3–6 min after inject_time in this data (see the docstring)
LEAD_S = 30  # `before` / `recovering`: ask this long before the injection
BASELINE_S = 30 * 60  # metrics needed before the window's start
SETTLE_S = 5 * 60  # `between`: the first window starts this long after the stretch does
EVERY_S = 15 * 60  # `between`: then one every 15 min
END_MARGIN_S = 60  # the last stretch ends this long before the data does
KINDS = ("before", "between", "recovering")  # `recovering` is not a no-fault window


class _Fault(Protocol):
    @property
    def index(self) -> int: ...
    @property
    def at(self) -> datetime: ...


@dataclass(frozen=True)
class QuietWindow:
    kind: str  # before | between | recovering
    at: datetime  # the question's time: the window is [at − window, at]
    window: timedelta
    next_fault: int | None  # the fault injected next (None after the last)
    previous_fault: int | None  # the last fault injected before `at` (None before the first)

    @property
    def start(self) -> datetime:
        return self.at - self.window

    @property
    def hhmm(self) -> str:
        return self.at.strftime("%H%M")


def quiet_windows(faults: Sequence[_Fault], data_start: datetime, data_end: datetime, *,
                  window: timedelta = timedelta(minutes=10), effect_s: float = FAULT_EFFECT_S,
                  lead_s: float = LEAD_S, baseline_s: float = BASELINE_S, settle_s: float = SETTLE_S,
                  every_s: float = EVERY_S, end_margin_s: float = END_MARGIN_S) -> list[QuietWindow]:
    """The day's `before`, `between` and `recovering` windows (see the module docstring), in time order."""
    fs = sorted(faults, key=lambda f: f.at)
    injects = [f.at.timestamp() for f in fs]
    occupied = [(t, t + effect_s) for t in injects]
    w = window.total_seconds()
    t_start, t_end = data_start.timestamp(), data_end.timestamp()
    tz = fs[0].at.tzinfo if fs else data_start.tzinfo

    def overlapping(t: float) -> list[int]:
        return [i for i, (s, e) in enumerate(occupied) if s < t and t - w < e]

    def has_baseline(t: float) -> bool:
        return t - w - t_start >= baseline_s

    def make(kind: str, t: float) -> QuietWindow:
        prev = [f.index for f in fs if f.at.timestamp() <= t]
        nxt = [f.index for f in fs if f.at.timestamp() > t]
        return QuietWindow(kind=kind, at=datetime.fromtimestamp(t, tz), window=window,
                           next_fault=nxt[0] if nxt else None, previous_fault=prev[-1] if prev else None)

    out: list[QuietWindow] = []
    for i, inject in enumerate(injects):
        t = inject - lead_s
        if not has_baseline(t) or t > t_end:
            continue
        hit = overlapping(t)
        if not hit:
            out.append(make("before", t))
        elif i > 0 and (i - 1) in hit:
            out.append(make("recovering", t))
    reach = -float("inf")  # the end of the occupied time so far (intervals can overlap one another)
    for i, (_, end) in enumerate(occupied):
        reach = max(reach, end)
        limit = injects[i + 1] - lead_s if i + 1 < len(injects) else t_end - end_margin_s
        limit = min(limit, t_end - end_margin_s)
        t = reach + w + settle_s
        while t <= limit:
            if has_baseline(t) and not overlapping(t):
                out.append(make("between", t))
            t += every_s
    return sorted(out, key=lambda q: (q.at, KINDS.index(q.kind)))


def limit_per_kind(windows: Iterable[QuietWindow], n: int) -> list[QuietWindow]:
    """The first `n` windows of each kind (all when `n` is 0)."""
    seen: Counter[str] = Counter()
    out = []
    for q in windows:
        seen[q.kind] += 1
        if not n or seen[q.kind] <= n:
            out.append(q)
    return out


_SCALARS = (str, int, float, bool, type(None))


def _dump(obj: Any) -> Any:
    """A pydantic model or dataclass as plain JSON-like data (anything else as it is)."""
    dump = getattr(obj, "model_dump", None)
    if callable(dump):
        return dump(mode="json")
    import dataclasses

    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    return obj


def investigation_json(inv: Any) -> dict[str, Any]:
    """An in-process investigation in the shape of `sre-bot ask --json` as far as an answer goes: every scalar field
    of the investigation (new ones included), `insufficient_evidence`, and each hypothesis and ranking entry with all
    its fields. Read generically, so fields the engine gains are carried through."""
    out: dict[str, Any] = {}
    for name in type(inv).model_fields if hasattr(type(inv), "model_fields") else vars(inv):
        value = getattr(inv, name, None)
        if isinstance(value, _SCALARS):
            out[name] = value
    out["insufficient_evidence"] = bool(getattr(inv, "insufficient", False))
    out["hypotheses"] = [_dump(h) for h in getattr(inv, "hypotheses", []) or []]
    out["ranking"] = [_dump(r) for r in getattr(inv, "ranking", []) or []]
    out["gaps"] = list(getattr(inv, "gaps", []) or [])
    win = getattr(inv, "window", None)
    if win is not None:
        out["window"] = {"start": win.start.isoformat(), "end": win.end.isoformat()}
    return out


def _slim(entry: Mapping[str, Any]) -> dict[str, Any]:
    """A hypothesis or ranking entry with every field, its cited evidence reduced to their ids."""
    out = {k: v for k, v in entry.items() if k != "evidence"}
    if "evidence" in entry:
        out["evidence_ids"] = [e.get("id") if isinstance(e, Mapping) else e for e in entry.get("evidence") or []]
    return out


_NOT_SCALARS_KEPT = ("question", "summary", "insufficient_evidence", "insufficient")


def answer_fields(data: Mapping[str, Any]) -> dict[str, Any]:
    """What an answer (`sre-bot ask --json`, or `investigation_json`) said, for a no-fault window: whether it
    abstained, the services it showed, its top hypothesis (every field) and top-ranked service (every field), the
    first five ranked, gaps, summary, and the answer's other scalar fields (e.g. an engine confidence)."""
    insufficient = bool(data.get("insufficient_evidence", data.get("insufficient", False)))
    hyps = [h for h in data.get("hypotheses") or [] if isinstance(h, Mapping)]
    shown = [] if insufficient else [str(h["service"]) for h in hyps if h.get("service")]
    ranking = [r for r in data.get("ranking") or [] if isinstance(r, Mapping)]
    top = _slim(hyps[0]) if hyps else None
    return {
        "insufficient": insufficient, "shown": shown,
        "top_service": shown[0] if shown else None,
        "top_confidence": top.get("confidence") if top and shown else None,
        "top_hypothesis": top, "top_ranked": _slim(ranking[0]) if ranking else None,
        "ranking": [r.get("service") for r in ranking[:5]],
        "gaps": list(data.get("gaps") or []), "summary": data.get("summary"),
        "answer": {k: v for k, v in data.items() if isinstance(v, _SCALARS) and k not in _NOT_SCALARS_KEPT},
    }


def quiet_ok(part: Mapping[str, Any] | None) -> bool:
    """Right on a no-fault window: it ran, and abstained or showed nothing."""
    if not part or part.get("error"):
        return False
    return bool(part.get("insufficient")) or not part.get("shown")


def _side(rows: list[Mapping[str, Any]], key: str) -> dict[str, Any] | None:
    parts = [r.get(key) for r in rows]
    if not any(parts):
        return None
    n = len(rows)
    ok = sum(1 for p in parts if quiet_ok(p))
    named = Counter(p["shown"][0] for p in parts if p and not quiet_ok(p) and p.get("shown"))
    out: dict[str, Any] = {"windows": n, "abstained": ok, "rate": ok / n if n else None,
                           "errors": sum(1 for p in parts if not p or p.get("error")),
                           "named_first": dict(named.most_common())}
    prev = [(p, r.get("previous_fault") or {}) for p, r in zip(parts, rows, strict=True)]
    if any(r.get("kind") == "recovering" for r in rows):
        out["named_previous"] = sum(1 for p, f in prev if p and f.get("service") in (p.get("shown") or []))
    if key == "cli":
        out["same_as_inprocess"] = sum(1 for p in parts if p and p.get("same"))
        out["window_ok"] = sum(1 for p in parts if p and p.get("window_ok"))
    return out


def quiet_summary(rows: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per day (and "all") and kind: windows, abstained (right answers), rate, errors, the services named first
    instead; the same for the CLI when it ran (`cli`), with how many answers equal the in-process one."""
    days = list(dict.fromkeys(r["day"] for r in rows))
    out: dict[str, dict[str, Any]] = {}
    for day in [*days, "all"] if len(days) > 1 else days:
        mine = [r for r in rows if day == "all" or r["day"] == day]
        kinds: dict[str, Any] = {}
        for kind in KINDS:
            of_kind = [r for r in mine if r["kind"] == kind]
            if not of_kind:
                continue
            s = _side(of_kind, "inprocess") or {"windows": len(of_kind), "abstained": 0, "rate": 0.0,
                                                  "errors": len(of_kind), "named_first": {}}
            cli = _side(of_kind, "cli")
            if cli is not None:
                s["cli"] = cli
            kinds[kind] = s
        out[day] = {"app": mine[0]["app"] if day != "all" else "all", "kinds": kinds}
    return out
