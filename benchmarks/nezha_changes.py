"""Bad-change verdicts on real data: Nezha's fault injections as bad changes, quiet moments as harmless ones.

    .venv/bin/python -m benchmarks.nezha_changes                 # both days, leave-one-day-out, + the sandbox library
    .venv/bin/python -m benchmarks.nezha_changes --no-sandbox    # Nezha only

**Changes.** Every fault injection of a day is a change to its service at `inject_time` (a *bad* change). Harmless
changes are the day's no-fault moments (`_nezha_quiet.py`'s `before` and `between` windows, with a window as long
as the longest wait, so no fault's effect overlaps the minutes after the change), each given to a service drawn at
random (seeded) from the day's services.

**The verdict** is `sre_bot.analysis.change_verdict.judge` on the same signals the bot's Nezha configs define
(`benchmarks/nezha/*.yml`: request rate, latency p95/p99, CPU of limit, memory), from the pod CSVs in process:
the 30 min before the change against the `wait` minutes after it. There is no day-before data in Nezha (each day
is 6–9 h), so the seasonality guard is not exercised here (its tests are `tests/deploys/test_change_verdict.py`).
Logs are not used there: Nezha's log files cover only the minutes around each fault, so a harmless moment has none
and using them would tell the verdict where the faults are. A separate table adds TrainTicket's error logs at the
fault moments only (1 min before, up to 2 min after: what the files cover), where the faulty service is the bad
change and every other service with log lines a harmless change at the same moment (`run_logs`), with the
thresholds picked on OnlineBoutique.

**Baselines, same changes, same samples:** `naive` — any signal's after median worse than its before median by
10% or more; `status check` — any signal the bot's `/sre status` comparison (`analysis/baseline.compare`: robust
z ≥ 4 and ≥ 25% relative) calls high/low in the bad direction.

**Thresholds** (`alpha`, `bad_rel`, `bad_rel_resource`, the before-window and `wait`) are picked on one day (most
recall with precision ≥ 0.9 on that day, then fewer false alarms and the shorter wait) and reported on the other
(leave-one-day-out). "Time to verdict" is the wait: the watcher gives its verdict once `wait` has passed after the
sync.

**Sandbox library** (`--no-sandbox` skips it): every Argo CD sync in the history of every scenario
(`sre_bot/sandbox/scenarios/*.yaml`) that has at least 30 min of data before it and `wait` after it, judged
through the bot's own path (`services/deploy_check.py` against the sandbox's Prometheus, Loki and Argo CD, frozen
clock at sync + wait). Bad: the scenario's truth names that revision as its cause (`bad_deploy`, or a `config_change`
shipped as a sync, whose truth action is the rollback); every other sync is harmless (the red herrings among them).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import math
import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from statistics import median
from typing import Any

from benchmarks._nezha_data import Day, load_day
from benchmarks._nezha_quiet import quiet_windows
from benchmarks._report import REPO_ROOT, RESULTS_DIR, format_table, machine_info, progress, save_and_say, utc_now
from sre_bot.analysis.baseline import compare
from sre_bot.analysis.change_verdict import ChangeVerdict, SignalSamples, Thresholds, judge
from sre_bot.config import Config, load_config

DAYS = ("2022-08-22", "2023-01-29")
CONFIGS = {"2022-08-22": "onlineboutique.yml", "2023-01-29": "trainticket.yml"}
COLUMNS = {  # the configs' signal -> pod CSV column (`load_day` has already scaled it to the gauge's unit)
    "request_rate": "PodWorkload(Ops)", "latency_p95": "PodServerLatencyP95(s)",
    "latency_p99": "PodServerLatencyP99(s)", "cpu": "CpuUsageRate(%)", "memory": "MemoryUsage(Mi)",
}
BEFORES = (10, 20, 30)  # minutes before the change
LEAD_MIN = 3  # of which the last minutes are kept apart for the onset guard (deploy_check.LEAD)
WAITS = (2, 3, 4, 5)  # minutes after the change
GRID = {"alpha": (0.01, 0.05), "bad_rel": (0.5, 1.0, 2.0), "bad_rel_resource": (3.0, math.inf)}
NAIVE_REL = 0.10
TARGET_PRECISION = 0.9
SEED = 19
DEFAULT_WAIT, DEFAULT_BEFORE = 4, 30  # what the bot ships (deploys.wait, deploy_check.BEFORE)


@dataclass(frozen=True)
class Change:
    day: str
    at: datetime
    service: str
    bad: bool
    kind: str  # the fault type, or "harmless"
    fault: int | None
    callers: tuple[str, ...]
    dependencies: tuple[str, ...] = ()


def _changes(day: Day, config: Config, rng: random.Random) -> list[Change]:
    callers = {s: tuple(sorted(o.name for o in config.services if s in o.depends_on)) for s in day.services}
    below = {s: tuple(config.service(s).depends_on) for s in day.services}
    out = [Change(day.name, f.at, f.service, True, f.kind, f.index, callers.get(f.service, ()),
                  below.get(f.service, ())) for f in day.faults]
    first = min(s[0][0] for s in day.rows.values() if s)
    last = max(s[-1][0] for s in day.rows.values() if s)
    tz = timezone.utc
    window = timedelta(minutes=max(WAITS))
    for q in quiet_windows(day.faults, datetime.fromtimestamp(first, tz), datetime.fromtimestamp(last, tz),
                           window=window):
        if q.kind == "recovering":
            continue
        svc = rng.choice(day.services)
        out.append(Change(day.name, q.at - window, svc, False, "harmless", None, callers.get(svc, ()),
                          below.get(svc, ())))
    return sorted(out, key=lambda c: c.at)


def _samples(day: Day, config: Config, change: Change, wait: int, before_min: int) -> list[SignalSamples]:
    t = change.at.timestamp()
    out = []
    roles = [(change.service, ""), *((c, "caller") for c in change.callers),
             *((d, "dependency") for d in change.dependencies)]
    for svc, role in roles:
        rows = day.rows.get(svc, [])
        for name, sig in config.all_signals.items():
            column = COLUMNS[name]
            before = [v[column] for ts, v in rows if t - before_min * 60 <= ts < t - LEAD_MIN * 60]
            recent = [v[column] for ts, v in rows if t - LEAD_MIN * 60 <= ts < t]
            after = [v[column] for ts, v in rows if t <= ts < t + wait * 60]
            out.append(SignalSamples(service=svc, signal=name, title=sig.title, unit=sig.unit, bad=sig.bad,
                                     before=before, after=after, min_abs=sig.min_abs, recent=recent,
                                     caller=role == "caller", dependency=role == "dependency"))
    return out


def _naive(samples: list[SignalSamples]) -> tuple[bool, bool]:
    """(naive: any own signal's after median ≥ 10% worse than before; status check: `compare` says high/low)."""
    naive = status = False
    for s in samples:
        if s.caller or s.dependency:
            continue
        b = [v for v in s.before if not math.isnan(v)]
        a = [v for v in s.after if not math.isnan(v)]
        if not a or not b:
            continue
        mb, ma = median(b), median(a)
        delta = ma - mb if s.bad == "up" else mb - ma if s.bad == "down" else abs(ma - mb)
        if delta > 0 and delta >= NAIVE_REL * max(abs(mb), 1e-12):
            naive = True
        verdict = compare(a, b, bad=s.bad, min_abs=s.min_abs).verdict
        if verdict in ("high", "low"):
            status = True
    return naive, status


def _score(rows: list[dict[str, Any]], key: str) -> dict[str, Any]:
    tp = sum(1 for r in rows if r["bad"] and r[key])
    fp = sum(1 for r in rows if not r["bad"] and r[key])
    pos = sum(1 for r in rows if r["bad"])
    flagged = tp + fp
    return {"tp": tp, "fp": fp, "positives": pos, "negatives": len(rows) - pos,
            "precision": tp / flagged if flagged else None, "recall": tp / pos if pos else None}


@dataclass(frozen=True)
class Setting:
    th: Thresholds
    wait: int  # minutes after the change: when the verdict is given
    before: int  # minutes before the change compared with

    def describe(self) -> dict[str, Any]:
        return {"alpha": self.th.alpha, "bad_rel": self.th.bad_rel, "bad_rel_resource": self.th.bad_rel_resource,
                "wait_min": self.wait, "before_min": self.before}


_DAYS: dict[str, tuple[Day, Config, list[Change]]] = {}  # the loaded days (for the logs section)
_CACHE: dict[tuple[str, int, int, int], tuple[list[SignalSamples], tuple[bool, bool]]] = {}


def _rows(days: dict[str, tuple[Day, Config, list[Change]]], setting: Setting,
          only: str | None = None) -> list[dict[str, Any]]:
    out = []
    for name, (day, config, changes) in days.items():
        if only and name != only:
            continue
        for i, c in enumerate(changes):
            key = (name, i, setting.wait, setting.before)
            if key not in _CACHE:
                samples = _samples(day, config, c, setting.wait, setting.before)
                _CACHE[key] = (samples, _naive(samples))
            samples, (naive, status) = _CACHE[key]
            v: ChangeVerdict = judge(samples, thresholds=setting.th)
            out.append({"day": name, "at": c.at.strftime("%H:%M:%S"), "service": c.service, "kind": c.kind,
                        "fault": c.fault, "bad": c.bad, "verdict": v.verdict, "is_bad": v.verdict == "bad",
                        "flagged": v.verdict in ("bad", "suspicious"), "naive": naive, "status_check": status,
                        "wait_min": setting.wait, "reasons": v.reasons[:3]})
    return out


def _grid() -> list[Setting]:
    combos = itertools.product(GRID["alpha"], GRID["bad_rel"], GRID["bad_rel_resource"], WAITS, BEFORES)
    return [Setting(Thresholds(alpha=a, bad_rel=b, bad_rel_resource=r), w, m) for a, b, r, w, m in combos]


def _pick(days: dict[str, tuple[Day, Config, list[Change]]], train: str) -> tuple[Setting, dict[str, Any]]:
    """The setting with the most recall at precision ≥ TARGET on `train` (then fewer false alarms, shorter wait,
    the stricter alpha and effect)."""
    best: tuple[Any, ...] | None = None
    for setting in _grid():
        s = _score(_rows(days, setting, only=train), "is_bad")
        ok = (s["precision"] or 0.0) >= TARGET_PRECISION
        th = setting.th
        key = (ok, s["recall"] or 0.0, -s["fp"], -setting.wait, -th.alpha, th.bad_rel, th.bad_rel_resource,
               setting.before)
        if best is None or key > best[0]:
            best = (key, setting, s)
    assert best is not None
    return best[1], best[2]


def _by_type(rows: list[dict[str, Any]]) -> list[list[Any]]:
    out = []
    for kind in sorted({r["kind"] for r in rows}, key=lambda k: (k == "harmless", k)):
        sel = [r for r in rows if r["kind"] == kind]
        n = len(sel)
        if kind == "harmless":
            out.append([kind, n, *(f"{sum(r[k] for r in sel)} false" for k in ("is_bad", "flagged", "naive",
                                                                               "status_check"))])
        else:
            out.append([kind, n, *(f"{sum(r[k] for r in sel)}/{n}" for k in ("is_bad", "flagged", "naive",
                                                                              "status_check"))])
    return out


def _pr(s: dict[str, Any]) -> str:
    p = "n/a" if s["precision"] is None else f"{s['precision']:.2f}"
    r = "n/a" if s["recall"] is None else f"{s['recall']:.2f}"
    return f"P {p} R {r} ({s['tp']} TP, {s['fp']} FP)"


DEFAULT = Setting(Thresholds(), DEFAULT_WAIT, DEFAULT_BEFORE)


def run_nezha(data: Path) -> dict[str, Any]:
    rng = random.Random(SEED)
    days: dict[str, tuple[Day, Config, list[Change]]] = {}
    for name in DAYS:
        if not (data / name).is_dir():
            progress(f"skipped {name}: no data under {data / name}")
            continue
        day = load_day(data, name)
        config = load_config(REPO_ROOT / "benchmarks" / "nezha" / CONFIGS[name], required=True)
        days[name] = (day, config, _changes(day, config, rng))
        _DAYS[name] = days[name]
        progress(f"{name}: {len(day.faults)} faults, "
                 f"{sum(1 for c in days[name][2] if not c.bad)} harmless changes")
    held: list[dict[str, Any]] = []
    picks = {}
    for test in days:
        train = next((d for d in days if d != test), test)
        setting, train_score = _pick(days, train)
        picks[test] = {"trained_on": train, **setting.describe(), "train": train_score}
        held += _rows(days, setting, only=test)
    default_rows = _rows(days, DEFAULT)
    return {"rows": held, "picks": picks, "default_rows": default_rows,
            "days": {n: {"faults": len(d.faults), "harmless": sum(1 for c in ch if not c.bad), "app": d.app}
                     for n, (d, _, ch) in days.items()}}


async def run_sandbox(wait: int) -> list[dict[str, Any]]:
    from sre_bot.services.deploy_check import sandbox_changes

    return await sandbox_changes(wait=timedelta(minutes=wait))


def run_logs(data: Path, days: dict[str, tuple[Day, Config, list[Change]]], setting: Setting,
             day: str = "2023-01-29") -> dict[str, Any] | None:
    """TrainTicket's fault moments with error logs added (the only minutes its log files cover: about one before
    and two after each injection). Every service with log lines then is a change at that moment: the faulty one is
    the bad change, every other one a harmless change (a caller hit by the fault counts against the verdict too)."""
    if day not in days or not (data / day / "log").is_dir():
        return None
    import re

    from benchmarks._nezha_logs import load_logs
    from sre_bot.analysis.change_verdict import TemplateCounts
    from sre_bot.analysis.log_shift import template_shifts
    from sre_bot.config import Defaults

    d, config, _ = days[day]
    logs = load_logs(data, day)
    errors = re.compile(Defaults().log_error_filter)
    after_min = min(setting.wait, 2)

    def lines(svc: str, a: float, b: float) -> list[str]:
        out: list[tuple[int, str]] = []
        for st in logs.streams:
            if st.labels["app"] == svc:
                i, j = st.span(int(a * 1e9), int(b * 1e9))
                out += [(t, x) for t, x in zip(st.ts[i:j], st.lines[i:j], strict=True) if errors.search(x)]
        return [x for _, x in sorted(out)]

    rows = []
    for f in d.faults:
        t = f.at.timestamp()
        for svc in logs.services():
            before, after = lines(svc, t - 60, t), lines(svc, t, t + after_min * 60)
            shifts = template_shifts(before, after, before_minutes=1.0, during_minutes=after_min, top=5)
            tpl = [TemplateCounts(service=svc, template=x.template, example=x.example, before=x.before,
                                  after=x.during, before_minutes=1.0, after_minutes=after_min) for x in shifts]
            change = Change(day, f.at, svc, svc == f.service, f.kind if svc == f.service else "harmless", f.index, ())
            samples = _samples(d, config, change, setting.wait, setting.before)
            metrics = judge(samples, thresholds=setting.th)
            both = judge(samples, logs=tpl, thresholds=setting.th)
            rows.append({"fault": f.index, "kind": f.kind, "service": svc, "bad": svc == f.service,
                         "metrics": metrics.verdict, "logs": both.verdict, "templates": len(tpl),
                         "reasons": both.reasons[:2]})
    kept = [r for r in rows if r["bad"] or {r["metrics"], r["logs"]} & {"bad", "suspicious"}]
    return {"day": day, "after_min": after_min, "negatives": sum(1 for r in rows if not r["bad"]), "rows": kept,
            "note": "rows: every fault's service, and the other services flagged (the rest were healthy/unknown)"}


def _render(res: dict[str, Any]) -> str:
    out = []
    rows = res["rows"]
    heads = ["", "bad (verdict)", "bad or suspicious", "naive (any ≥10% worse)", "status check (robust z)"]
    for day in res["days"]:
        sel = [r for r in rows if r["day"] == day]
        pick = res["picks"][day]
        title = (f"{day} ({res['days'][day]['app']}), thresholds from {pick['trained_on']}: alpha {pick['alpha']}, "
                 f"bad_rel {pick['bad_rel']}, resource {pick['bad_rel_resource']}, {pick['before_min']} min before, "
                 f"verdict at +{pick['wait_min']} min")
        out.append(format_table(heads, [["all", *(_pr(_score(sel, k)) for k in ("is_bad", "flagged", "naive",
                                                                                "status_check"))]],
                                title=title))
        out.append(format_table(["type", "n", "bad", "bad or susp.", "naive", "status check"], _by_type(sel),
                                title=f"{day} per fault type (held-out)"))
    out.append(format_table(heads, [["both days", *(_pr(_score(rows, k)) for k in ("is_bad", "flagged", "naive",
                                                                                   "status_check"))]],
                            title="held-out, both days"))
    d = res["default_rows"]
    out.append(format_table(heads, [["both days", *(_pr(_score(d, k)) for k in ("is_bad", "flagged", "naive",
                                                                                "status_check"))]],
                            title=f"the shipped defaults ({DEFAULT.describe()}), both days"))
    lg = res.get("logs")
    if lg:
        table = []
        for label, key in (("metrics only", "metrics"), ("metrics + error logs", "logs")):
            for kind in ("return", "exception", "cpu_contention"):
                pos = [r for r in lg["rows"] if r["bad"] and r["kind"] == kind]
                table.append([label, kind, f"{sum(r[key] == 'bad' for r in pos)}/{len(pos)}",
                              f"{sum(r[key] in ('bad', 'suspicious') for r in pos)}/{len(pos)}"])
            neg, n = [r for r in lg["rows"] if not r["bad"]], lg["negatives"]
            table.append([label, "other services, same moments", f"{sum(r[key] == 'bad' for r in neg)}/{n}",
                          f"{sum(r[key] in ('bad', 'suspicious') for r in neg)}/{n}"])
        out.append(format_table(["signals", "changes", "bad", "bad or suspicious"], table,
                                title=f"{lg['day']} fault moments with error logs (1 min before, "
                                      f"{lg['after_min']} min after: all the log files cover)"))
    sb = res.get("sandbox")
    if sb:
        out.append(format_table(["scenario", "app", "revision", "truth", "verdict", "naive", "s", "reason"],
                                [[r["scenario"], r["app"], r["revision"][:7], "bad" if r["bad"] else "harmless",
                                  r["verdict"], "yes" if r.get("naive") else "-", r.get("seconds", ""),
                                  (r["reasons"] or [""])[0][:80]]
                                 for r in sb], title=f"sandbox library: every sync, {DEFAULT_WAIT} min after"))
        keys = ("is_bad", "flagged", "naive")
        out.append(format_table(heads[:4], [["sandbox", *(_pr(_score(sb, k)) for k in keys)]],
                                title="sandbox library"))
    return "\n".join(out)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=REPO_ROOT.parent / "shared/benchmarks/nezha")
    p.add_argument("--no-sandbox", action="store_true")
    p.add_argument("--no-nezha", action="store_true", help="the sandbox library only")
    p.add_argument("--out", type=Path, default=RESULTS_DIR / "nezha_changes.json")
    args = p.parse_args()
    started = time.time()
    res = run_nezha(args.data) if not args.no_nezha else {"rows": [], "picks": {}, "default_rows": [], "days": {}}
    if res["picks"].get("2023-01-29"):
        pick = res["picks"]["2023-01-29"]
        setting = Setting(Thresholds(alpha=pick["alpha"], bad_rel=pick["bad_rel"],
                                     bad_rel_resource=pick["bad_rel_resource"]), pick["wait_min"], pick["before_min"])
        res["logs"] = run_logs(args.data, _DAYS, setting)
    if not args.no_sandbox:
        res["sandbox"] = asyncio.run(run_sandbox(DEFAULT_WAIT))
    text = _render(res)
    print(text)
    res.update({"machine": machine_info(), "started": utc_now(), "elapsed_s": time.time() - started,
                "settings": {"befores_min": BEFORES, "waits_min": WAITS, "default": DEFAULT.describe(), "grid": GRID,
                             "naive_rel": NAIVE_REL, "target_precision": TARGET_PRECISION, "seed": SEED,
                             "lead_min": LEAD_MIN}})
    args.out.with_suffix(".md").parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".md").write_text(
        "# Bad-change verdicts (`python -m benchmarks.nezha_changes`)\n\n```\n" + text + "\n```\n", encoding="utf-8")
    save_and_say(args.out, res)


if __name__ == "__main__":
    main()
