"""Root-cause accuracy of the investigation engine on the Nezha fault-injection dataset, against two baselines.

    .venv/bin/python -m benchmarks.nezha_rca                      # both days, headline setting
    .venv/bin/python -m benchmarks.nezha_rca --limit 4 --days 2022-08-22
    .venv/bin/python -m benchmarks.nezha_rca --sweep 5m/20m,10m/20m

Per day: the pod metrics become OpenMetrics gauges, `promtool` backfills them into a real Prometheus
(`tests.realprom`), and for every injected fault the bot's own path runs: `open_deps` with a frozen clock, then
`investigate(deps, "why is <entry> slow?", at=inject + offset, window=W)`. The same Prometheus data, over the same
window and baseline, feeds the baselines: a random ranking (exact expectation) and "largest single-metric robust
z-score". Ground truth is the service of the injected pod. See benchmarks/README.md.

The engine's answers are also written as an evaluation report (`nezha_rca-eval.md`, `.json`, reliability PNG),
through the same code as `sre-bot eval`: top-1/top-3 of the shown answer, abstentions, and the calibration of the
engine's stated confidence — and of the shipped library calibration — on faults nobody on this project wrote.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import random
import sys
import time
import traceback
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from statistics import median
from typing import Any

from sre_bot.backends.prometheus import PrometheusBackend
from sre_bot.clock import frozen_clock
from sre_bot.compose import open_deps
from sre_bot.config import Config, ServiceConfig, Signal
from sre_bot.errors import BackendError, UsageError
from sre_bot.metrics import Metrics
from sre_bot.models import TimeRange
from sre_bot.settings import Settings, load_settings
from sre_bot.windows import parse_duration
from tests.realprom import prometheus_server

from ._nezha_data import Day, Fault, load_day, openmetrics
from ._nezha_tables import NEZHA_PAPER, by_fault_type, render, render_sweep, summarize
from ._report import (
    REPO_ROOT,
    RESULTS_DIR,
    command_line,
    machine_info,
    progress,
    save_and_say,
    utc_now,
    write_eval_report,
)

__all__ = ["main", "SIGNALS", "SIGNAL_SETS", "build_config"]

DEFAULT_DATA = REPO_ROOT.parent / "shared" / "benchmarks" / "nezha"
DAYS = ("2022-08-22", "2023-01-29")
HEADLINE = ("5m", "10m")  # ask 5 min after the injection, about the 10 min before (faults are ~8 min apart)
CHARS_PER_POINT = 20  # "[1661140279.0, 0.1234]," as raw JSON
CHARS_PER_TOKEN = 4


@dataclass(frozen=True)
class Spec:
    gauge: str
    agg: str
    title: str
    unit: str
    bad: str = "up"
    min_abs: float = 0.0


# The signals the engine gets (and the z-score baseline scores); one pod per service, so the aggregation only
# shapes the query. "golden" mirrors the bot's built-in golden signals (request rate, latency p95/p99, CPU,
# memory; the error ratio has no counterpart: PodSuccessRate is 0 in every row of both days). "extended" adds
# the pod's outbound-call latency and network throughput.
SIGNALS: dict[str, Spec] = {
    "workload": Spec("nezha_workload_ops", "sum", "request rate", "rps", bad="both", min_abs=0.2),
    "latency_p95": Spec("nezha_server_latency_p95_seconds", "avg", "latency p95", "seconds", min_abs=0.01),
    "latency_p99": Spec("nezha_server_latency_p99_seconds", "avg", "latency p99", "seconds", min_abs=0.01),
    "cpu": Spec("nezha_cpu_usage_ratio", "max", "CPU (of limit)", "ratio", min_abs=0.05),
    "memory": Spec("nezha_memory_usage_bytes", "max", "memory", "bytes", min_abs=16 * 2**20),
    "client_latency_p95": Spec("nezha_client_latency_p95_seconds", "avg", "outbound call latency p95", "seconds",
                               min_abs=0.01),
    "net_rx": Spec("nezha_network_receive_bytes", "sum", "network received/s", "bytes", bad="both", min_abs=4096),
    "net_tx": Spec("nezha_network_transmit_bytes", "sum", "network sent/s", "bytes", bad="both", min_abs=4096),
}
SIGNAL_SETS = {
    "golden": ("workload", "latency_p95", "latency_p99", "cpu", "memory"),
    "extended": tuple(SIGNALS),
}


def build_config(day: Day, specs: dict[str, Spec]) -> Config:
    signals = {n: Signal(title=s.title, query=f"{s.agg}({s.gauge}{{$selector}})", unit=s.unit, bad=s.bad,
                         min_abs=s.min_abs) for n, s in specs.items()}
    services = [ServiceConfig(name=s, depends_on=day.depends_on.get(s, [])) for s in day.services]
    return Config(builtin_signals=False, signals=signals, services=services)


def _settings(url: str) -> Settings:
    # Only Prometheus: anything else the environment names (Loki, Argo CD, ...) is switched off for the run.
    return load_settings(None, PROMETHEUS_URL=url, LOKI_URL=None, ARGOCD_URL=None, ALERTMANAGER_URL=None,
                         GRAFANA_URL=None, ANTHROPIC_API_KEY=None)


def _prom_calls(metrics: Metrics) -> int:
    total = 0.0
    for family in metrics.registry.collect():
        for s in family.samples:
            if s.name == "sre_bot_backend_request_duration_seconds_count" and s.labels.get("backend") == "prometheus":
                total += s.value
    return int(total)


def _robust_z(values: list[float], base: list[float], floor: float) -> float:
    """The largest |robust z| of `values` against `base` (median, MAD·1.4826, sigma >= floor·|median|)."""
    if len(base) < 3 or not values:
        return 0.0
    med = median(base)
    sigma = max(1.4826 * median(abs(v - med) for v in base), floor * abs(med), 1e-9)
    return max(abs(v - med) / sigma for v in values)


async def _zscores(prom: PrometheusBackend, specs: dict[str, Spec], window: TimeRange, baseline: TimeRange,
                   ) -> dict[str, dict[str, Any]]:
    """Per service, its largest single-signal |z| (raw MAD, and MAD floored at 5% of the median), same data."""
    whole = TimeRange(start=baseline.start, end=window.end)
    step = prom.step_for(whole)
    cut = window.start.timestamp()
    out: dict[str, dict[str, Any]] = {}

    async def one(name: str, s: Spec) -> None:
        try:
            series = await prom.query_range(f"{s.agg} by (service) ({s.gauge})", whole, step=step)
        except BackendError as e:
            progress(f"  z-score baseline: {name} failed: {e}")
            return
        for ser in series:
            svc = ser.labels.get("service", "")
            base = [p.v for p in ser.points if p.t < cut]
            win = [p.v for p in ser.points if p.t >= cut]
            row = out.setdefault(svc, {"z": 0.0, "z_signal": None, "zf": 0.0, "zf_signal": None})
            z, zf = _robust_z(win, base, 0.0), _robust_z(win, base, 0.05)
            if z > row["z"]:
                row.update(z=z, z_signal=name)
            if zf > row["zf"]:
                row.update(zf=zf, zf_signal=name)

    await asyncio.gather(*(one(n, s) for n, s in specs.items()))
    return out


def _complete(ranked: list[str], services: list[str], rng: random.Random) -> list[str]:
    """`ranked` first, then every other service in a seeded random order."""
    rest = [s for s in services if s not in ranked]
    rng.shuffle(rest)
    return [s for s in ranked if s in services] + rest


def _by_score(scores: dict[str, float], services: list[str], rng: random.Random) -> list[str]:
    tiebreak = {s: rng.random() for s in services}
    return sorted(services, key=lambda s: (-scores.get(s, 0.0), tiebreak[s]))


def _rank(order: list[str], truth: str) -> int | None:
    return order.index(truth) + 1 if truth in order else None


async def run_fault(day: Day, fault: Fault, url: str, specs: dict[str, Spec], offset: timedelta,
                    window: timedelta, seed: int) -> dict[str, Any]:
    from sre_bot.services.investigate import investigate  # the engine under test (imported late: may be new)

    at = fault.at + offset
    question = f"why is {day.entry} slow?"
    rng = random.Random(f"{seed}/{day.name}/{fault.index}")
    metrics = Metrics()
    row: dict[str, Any] = {
        "day": day.name, "app": day.app, "index": fault.index, "inject_time": fault.inject_time,
        "inject_timestamp": fault.inject_timestamp, "timestamp_skew_s": fault.timestamp_skew_s,
        "fault": fault.kind, "pod": fault.pod, "truth": fault.service, "asked_at": at.isoformat(),
        "question": question, "services": len(day.services),
    }
    cfg = build_config(day, specs)
    async with open_deps(_settings(url), config=cfg, clock=frozen_clock(at), metrics=metrics) as deps:
        assert deps.prometheus is not None
        try:
            q0, t0 = _prom_calls(metrics), time.perf_counter()
            try:
                inv = await investigate(deps, question, at=at, window=window)
            except Exception as e:  # an engine bug is a miss with a traceback, not the end of the run
                row.update(error=f"{type(e).__name__}: {e}", wall_s=round(time.perf_counter() - t0, 4))
                progress(traceback.format_exc())
                inv = None
            else:
                row.update(wall_s=round(time.perf_counter() - t0, 4), prometheus_queries=_prom_calls(metrics) - q0)
            if inv is not None:
                win, base = inv.window, inv.baseline
            else:
                win = TimeRange.ending(at, window)
                base = win.before(max(window, timedelta(hours=1)))
            z = await _zscores(deps.prometheus, specs, win, base)
        finally:
            deps.prometheus.close()

    engine_ranked = [r.service for r in inv.ranking] if inv else []
    engine_order = _complete(engine_ranked, day.services, rng)
    z_order = _by_score({s: v["z"] for s, v in z.items()}, day.services, rng)
    zf_order = _by_score({s: v["zf"] for s, v in z.items()}, day.services, rng)
    truth = fault.service
    row.update(
        window={"start": win.start.isoformat(), "end": win.end.isoformat()},
        baseline={"start": base.start.isoformat(), "end": base.end.isoformat()},
        engine_ranked=len(engine_ranked), engine_top3=engine_order[:3], engine_rank=_rank(engine_order, truth),
        maxz_top3=z_order[:3], maxz_rank=_rank(z_order, truth),
        maxz_floor_top3=zf_order[:3], maxz_floor_rank=_rank(zf_order, truth),
        truth_z=z.get(truth), random_top1=1 / len(day.services),
        random_top3=min(3, len(day.services)) / len(day.services),
    )
    for key in ("engine", "maxz", "maxz_floor"):
        r = row[f"{key}_rank"]
        row[f"{key}_hit1"], row[f"{key}_hit3"] = r == 1, r is not None and r <= 3
    # hits the engine's own ranking earned (not the seeded random fill behind it)
    own = row["engine_rank"] is not None and row["engine_rank"] <= len(engine_ranked)
    row["engine_own_hit1"], row["engine_own_hit3"] = row["engine_hit1"] and own, row["engine_hit3"] and own
    if inv is None:
        row.update(insufficient=True, in_scope=False, hypotheses=[], shown_top1=False)
        return row
    ev = inv.evidence
    raw_points = sum(len(e.data.get("points") or []) + len(e.data.get("seasonal_points") or [])
                     for e in ev if e.kind == "signal")
    truth_entry = next((r for r in inv.ranking if r.service == truth), None)
    row.update(
        insufficient=inv.insufficient, in_scope=truth in inv.services, scope=inv.services,
        hypotheses=[h.service for h in inv.hypotheses],
        shown_top1=bool(inv.hypotheses) and inv.hypotheses[0].service == truth,
        engine_ranking=[{"service": r.service, "score": r.score, "confidence": r.confidence, "cause": r.cause,
                         "cause_kind": r.cause_kind} for r in inv.ranking[:5]],
        truth_in_ranking=truth_entry.model_dump(include={"score", "confidence", "cause", "reasons"})
        if truth_entry else None,
        summary=inv.summary,
        evidence_items=len(ev), evidence_chars=sum(len(e.quote) for e in ev),
        shown_chars=sum(len(e.quote) for h in inv.hypotheses for e in h.evidence),
        raw_points=raw_points, raw_chars=raw_points * CHARS_PER_POINT,
    )
    row["evidence_tokens"] = round(row["evidence_chars"] / CHARS_PER_TOKEN)
    return row


# Fault types as the evaluation's cause kinds; the engine has no kind for a code-level fault.
NEZHA_CAUSES = {"cpu_contention": "resource_exhaustion", "cpu_consumed": "resource_exhaustion",
                "network_delay": "infrastructure", "return": "code_fault", "exception": "code_fault"}


def eval_results(rows: list[dict[str, Any]]) -> list[Any]:
    """Each fault as an evaluation case: the shown answer (hypotheses), its stated and library-calibrated
    confidence, against the injected pod's service."""
    from sre_bot.evaluation.results import CaseResult, ScenarioResult
    from sre_bot.evaluation.scoring import engine_cause_kind
    from sre_bot.services.answer import library_calibration

    cal = library_calibration()
    out = []
    for r in rows:
        shown = list(r.get("hypotheses") or [])
        top = (r.get("engine_ranking") or [None])[0] if shown and not r.get("insufficient") else None
        conf = top["confidence"] if top else None
        case = CaseResult(
            scenario=f"{r['app']} #{r['index']} {r['inject_time'][11:16]}", case=r["fault"], question=r["question"],
            truth_root=r["truth"], truth_cause=NEZHA_CAUSES.get(r["fault"], r["fault"]), answered_by="engine",
            abstained=top is None, services=shown if top else [],
            cause_kind=engine_cause_kind(top.get("cause_kind")) if top else None,
            answer_kind=top.get("cause_kind") if top else None, confidence=conf,
            calibrated=cal.apply(conf) if cal is not None and conf is not None else None,
            wall_s=r.get("wall_s"), error=r.get("error"), extra={"engine_rank": r.get("engine_rank")})
        out.append(ScenarioResult(name=case.scenario, cases=[case], wall_s=r.get("wall_s") or 0.0))
    return out


def _engine_info() -> dict[str, Any]:
    """Which engine ran: its version tag and a digest of its source (it changes while being developed)."""
    from sre_bot.investigation import ENGINE_VERSION

    pkg = REPO_ROOT / "sre_bot"
    files = sorted([pkg / "services" / "investigate.py", pkg / "investigation.py", pkg / "tools" / "signals.py",
                    *(pkg / "analysis").glob("*.py")])
    digest = hashlib.sha256()
    for f in files:
        if f.exists():
            digest.update(f.relative_to(REPO_ROOT).as_posix().encode() + b"\0" + f.read_bytes())
    return {"version": ENGINE_VERSION, "source_sha256": digest.hexdigest()[:16],
            "files": [f.relative_to(REPO_ROOT).as_posix() for f in files if f.exists()]}


def _parse_setting(text: str) -> tuple[str, str]:
    offset, _, window = text.partition("/")
    parse_duration(offset), parse_duration(window)
    return offset, window


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    specs = {n: SIGNALS[n] for n in SIGNAL_SETS[args.signals]}
    settings = [(args.at_offset, args.window), *args.sweep]
    labels = [f"ask at inject+{o}, window {w}, {args.signals} signals" for o, w in settings]
    per_setting: list[dict[str, list[dict[str, Any]]]] = [{} for _ in settings]
    days_info: dict[str, Any] = {}
    started, started_at = time.perf_counter(), utc_now()
    for name in args.days:
        t0 = time.perf_counter()
        day = load_day(args.data, name)
        faults = day.faults[: args.limit] if args.limit else day.faults
        text = openmetrics([day])
        progress(f"{day.app} ({name}): {len(day.services)} services, {len(faults)}/{len(day.faults)} faults, "
                 f"{day.samples:,} samples, {len(text) / 2**20:.0f} MB OpenMetrics; entry {day.entry} "
                 f"({day.entry_how}); topology: {day.topology}")
        for q in day.quirks:
            progress(f"  quirk: {q}")
        with prometheus_server(text) as url:
            progress(f"  Prometheus ready at {url} after {time.perf_counter() - t0:.1f}s")
            for i, (offset, window) in enumerate(settings):
                rows = per_setting[i].setdefault(name, [])
                for f in faults:
                    row = await run_fault(day, f, url, specs, parse_duration(offset), parse_duration(window),
                                          args.seed)
                    rows.append(row)
                    progress(f"  [{labels[i]}] {f.index:2d}/{len(faults)} {f.inject_time[11:]} {f.kind:<15} "
                             f"truth {f.service:<28} engine rank {row['engine_rank']!s:>2} "
                             f"{'(abstain) ' if row.get('insufficient') else ''}top3 {row['engine_top3']} | "
                             f"max|z| rank {row['maxz_rank']} | {row.get('wall_s', 0):.2f}s "
                             f"{row.get('prometheus_queries', 0)} queries")
        days_info[name] = {"app": day.app, "services": day.services, "entry": day.entry, "entry_how": day.entry_how,
                           "topology": day.topology, "depends_on": {k: v for k, v in day.depends_on.items() if v},
                           "faults_total": len(day.faults), "faults_run": len(faults), "samples": day.samples,
                           "openmetrics_mb": round(len(text) / 2**20, 1), "quirks": day.quirks}

    def pack(i: int) -> dict[str, Any]:
        rows = [r for name in args.days for r in per_setting[i].get(name, [])]
        return {"label": labels[i], "at_offset": settings[i][0], "window": settings[i][1],
                "by_day": {name: summarize(per_setting[i].get(name, [])) for name in args.days},
                "overall": summarize(rows), "by_fault_type": by_fault_type(rows), "faults": rows}

    headline = pack(0)
    return {
        "benchmark": "nezha_rca", "started_at": started_at, "command": command_line(),
        "machine": machine_info(binaries=("prometheus", "promtool")),
        "engine": _engine_info(),
        "settings": {"data": str(args.data), "days": args.days, "at_offset": args.at_offset, "window": args.window,
                     "question": "why is <entry service> slow?", "clock": "frozen at inject_time + at_offset",
                     "limit": args.limit, "seed": args.seed, "max_points": _settings("http://x").max_points,
                     "signal_set": args.signals,
                     "signals": {n: {"query": f"{s.agg}({s.gauge}{{$selector}})", "unit": s.unit, "bad": s.bad,
                                     "min_abs": s.min_abs} for n, s in specs.items()},
                     "ranking_completion": "services the engine does not rank follow in a seeded random order",
                     "chars_per_point": CHARS_PER_POINT, "chars_per_token": CHARS_PER_TOKEN},
        "reference": {"nezha_paper_onlineboutique_service_level": NEZHA_PAPER,
                      "note": "reported by the Nezha paper with metrics+traces+logs; not measured here"},
        "days": days_info,
        "headline": {k: v for k, v in headline.items() if k != "faults"},
        "by_day": headline["by_day"], "overall": headline["overall"], "by_fault_type": headline["by_fault_type"],
        "faults": headline["faults"],
        "sweep": [pack(i) for i in range(1, len(settings))],
        "elapsed_s": round(time.perf_counter() - started, 1),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.nezha_rca", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the nezha folder (default: %(default)s)")
    p.add_argument("--days", nargs="+", default=list(DAYS), choices=DAYS, help="which days (default: both)")
    p.add_argument("--at-offset", default=HEADLINE[0], help="ask this long after inject_time (default %(default)s)")
    p.add_argument("--window", default=HEADLINE[1], help="investigation window (default %(default)s)")
    p.add_argument("--sweep", default="", help="extra settings as OFFSET/WINDOW,... e.g. 5m/20m,10m/20m")
    p.add_argument("--signals", default="golden", choices=sorted(SIGNAL_SETS),
                   help="golden: request rate, latency p95/p99, CPU, memory; extended: + outbound latency p95, "
                        "network rx/tx (default %(default)s)")
    p.add_argument("--limit", type=int, default=0, help="only the first N faults of each day (quick run)")
    p.add_argument("--seed", type=int, default=7, help="seed for tie-breaking orders (default %(default)s)")
    p.add_argument("--json", type=Path, default=RESULTS_DIR / "nezha_rca.json",
                   help="result file (default %(default)s)")
    args = p.parse_args(argv)
    try:
        parse_duration(args.at_offset), parse_duration(args.window)
        args.sweep = [_parse_setting(s) for s in args.sweep.split(",") if s.strip()]
    except UsageError as e:
        p.error(str(e))
    if not args.data.is_dir():
        p.error(f"{args.data} is not a folder (the Nezha data, read in place; see benchmarks/README.md)")
    results = asyncio.run(_run(args))
    label = results["headline"]["label"]
    print(f"Nezha RCA benchmark — {label}; question \"why is <entry> slow?\"; machine: "
          f"{results['machine']['cpu']} ×{results['machine']['cpu_count']}, Python {results['machine']['python']}")
    print()
    print(render(results, label))
    if results["sweep"]:
        print()
        apps = {name: d["app"] for name, d in results["days"].items()}
        print(render_sweep([{"label": f"+{results['settings']['at_offset']}/{results['settings']['window']}",
                             "by_day": results["by_day"], "overall": results["overall"], "apps": apps},
                            *[{**s, "label": f"+{s['at_offset']}/{s['window']}", "apps": apps}
                              for s in results["sweep"]]]))
    save_and_say(args.json, results)
    cal_note = ("`calibrated` is the shipped scenario-library calibration applied to the engine's confidence: "
                "an out-of-sample check of it")
    write_eval_report("nezha_rca", f"Nezha RCA — {label}", eval_results(results["faults"]),
                      settings={"days": ", ".join(args.days), "question": "why is <entry> slow?",
                                "engine": results["engine"]["version"]},
                      elapsed_s=results["elapsed_s"], machine=results["machine"], source="Nezha faults",
                      notes=[cal_note, "Cause kinds: cpu_* → resource_exhaustion, network_delay → infrastructure, "
                                       "return/exception → code_fault (not in the truth vocabulary: not scored "
                                       "for kind)."])
    return 0


if __name__ == "__main__":
    sys.exit(main())
