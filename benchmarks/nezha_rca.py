"""Root-cause accuracy of the investigation engine on the Nezha fault-injection dataset, against baselines.

    .venv/bin/python -m benchmarks.nezha_rca                      # both days, every row
    .venv/bin/python -m benchmarks.nezha_rca --limit 4 --days 2022-08-22
    .venv/bin/python -m benchmarks.nezha_rca --rows metrics,callgraph --sweep 5m/20m

Per day: the pod metrics become OpenMetrics gauges, the spans become the series Tempo's metrics-generator would
write (`_nezha_traces.py`), and `promtool` backfills both into one real Prometheus (`tests.realprom`). For every
injected fault the bot's own path runs once per row, with the day's config file (`benchmarks/nezha/*.yml`):

- **metrics only**: the file with `call_graph: {builtin: false}` and no Loki;
- **+ call-graph metrics**: the file as written (Tempo service graphs built in, OnlineBoutique's sidecar p50s);
- **+ logs** (TrainTicket): the same with `LOKI_URL` set to a Loki wire-format server over the day's pod logs.

Each is `open_deps` with a frozen clock, then `investigate(deps, "why is <entry> slow?", at=inject + offset,
window=W)`. The same Prometheus data, over the same window and baseline, feeds the baselines: random (exact
expectation), largest single-metric robust z, and BARO-style RobustScorer. Ground truth is the injected pod's
service. The headline is the answer the bot shows (its hypotheses, no random fill). See benchmarks/README.md.

**The headline goes through the real CLI** (`_nezha_cli.py`; skip with `--no-cli`): for every fault and row the
benchmark also runs `sre-bot ask --json --no-llm --at <inject + offset − W/4> --window W "why is <entry> slow?"` as
a subprocess (a few at a time), with PROMETHEUS_URL, LOKI_URL (logs row) and SRE_BOT_CONFIG (the row's config
file) set as a user would. Its shown hypotheses are the "bot: …" rows; the in-process answers stay as a
cross-check (identical, or each differing fault listed with both answers); its window is checked to be the
in-process one.

**No-fault windows** (`_nezha_quiet.py`; skip with `--no-quiet`): moments chosen from the fault list and the loaded
metrics where no fault is active (`before` a fault, `between` faults) are asked the same question, with the day's
fullest row, in-process (engine inputs recorded as `quiet-<kind>-<HHMM>-<row>.json.gz`) and through the CLI; the
right answer there is "insufficient evidence". `recovering` windows (just before a fault whose window holds the
previous one) are reported apart. Results: `quiet` and `quiet_summary` in the JSON, "No-fault windows" in the tables.

The fullest row's answers are also written as an evaluation report (`nezha_rca-eval.md`, `.json`, reliability PNG)
through the same code as `sre-bot eval`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import random
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from statistics import median
from typing import Any

from sre_bot.backends.prometheus import PrometheusBackend
from sre_bot.clock import frozen_clock
from sre_bot.compose import open_deps
from sre_bot.config import CallGraphConfig, Config, Signal, load_config
from sre_bot.errors import BackendError, UsageError
from sre_bot.metrics import Metrics
from sre_bot.models import TimeRange
from sre_bot.settings import Settings, load_settings
from sre_bot.windows import parse_duration
from tests.realprom import prometheus_server

from ._nezha_cli import ask_cli, cli_at, cli_env, cli_exe, cli_part, quiet_cli_part, write_row_configs
from ._nezha_data import KEEP_AFTER_S, Day, Fault, load_day, openmetrics
from ._nezha_quiet import (
    BASELINE_S,
    END_MARGIN_S,
    EVERY_S,
    FAULT_EFFECT_S,
    LEAD_S,
    SETTLE_S,
    QuietWindow,
    answer_fields,
    investigation_json,
    limit_per_kind,
    quiet_ok,
    quiet_summary,
    quiet_windows,
)
from ._nezha_replay import replay, save_engine_inputs
from ._nezha_tables import (
    NEZHA_PAPER,
    VARIANTS,
    by_fault_type,
    cli_differences,
    render,
    render_sweep,
    summarize,
)
from ._nezha_traces import edge_latency_openmetrics, trace_openmetrics
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

__all__ = ["main", "SIGNALS", "SIGNAL_SETS", "CONFIGS", "load_configs", "robust_scorer"]

DEFAULT_DATA = REPO_ROOT.parent / "shared" / "benchmarks" / "nezha"
CONFIGS = REPO_ROOT / "benchmarks" / "nezha"
CONFIG_FILES = {"OnlineBoutique": "onlineboutique.yml", "TrainTicket": "trainticket.yml"}
DAYS = ("2022-08-22", "2023-01-29")
HEADLINE = ("5m", "10m")  # ask 5 min after the injection, about the 10 min before (faults are ~8 min apart)
LOG_APPS = ("TrainTicket",)  # the only day with pod logs (2022-08-22 has two minutes of them)
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


# What the baselines score, by the config files' signal names ("golden": the five signals the config files map to
# the nezha_* gauges). "extended" adds the pod's outbound-call latency and network throughput, to the configs too.
SIGNALS: dict[str, Spec] = {
    "request_rate": Spec("nezha_workload_ops", "sum", "request rate", "rps", bad="both", min_abs=0.2),
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
    "golden": ("request_rate", "latency_p95", "latency_p99", "cpu", "memory"),
    "extended": tuple(SIGNALS),
}


def load_configs(app: str, specs: dict[str, Spec], *, config_dir: Path = CONFIGS) -> dict[str, Config]:
    """The day's config file as written (`callgraph`, also used with Loki for `logs`), and the same file without
    call-graph metrics (`metrics`). Signals of `specs` the file lacks (`--signals extended`) are added."""
    cfg = load_config(config_dir / CONFIG_FILES[app], required=True)
    extra = {n: Signal.model_validate({"title": s.title, "query": f"{s.agg}({s.gauge}{{$selector}})",
                                       "unit": s.unit, "bad": s.bad, "min_abs": s.min_abs})
             for n, s in specs.items() if n not in cfg.signals}
    if extra:
        cfg = cfg.model_copy(update={"signals": {**cfg.signals, **extra}})
    metrics_only = cfg.model_copy(update={"call_graph": CallGraphConfig(builtin=False, edges=[])})
    return {"metrics": metrics_only, "callgraph": cfg, "logs": cfg}


def _settings(url: str, loki: str | None = None) -> Settings:
    # Prometheus, and Loki for the logs row: anything else the environment names is switched off for the run.
    return load_settings(None, PROMETHEUS_URL=url, LOKI_URL=loki, ARGOCD_URL=None, ALERTMANAGER_URL=None,
                         GRAFANA_URL=None, ANTHROPIC_API_KEY=None)


def _calls(metrics: Metrics, backend: str) -> int:
    total = 0.0
    for family in metrics.registry.collect():
        for s in family.samples:
            if s.name == "sre_bot_backend_request_duration_seconds_count" and s.labels.get("backend") == backend:
                total += s.value
    return int(total)


def _robust_z(values: list[float], base: list[float], floor: float) -> float:
    """The largest |robust z| of `values` against `base` (median, MAD·1.4826, sigma >= floor·|median|)."""
    if len(base) < 3 or not values:
        return 0.0
    med = median(base)
    sigma = max(1.4826 * median(abs(v - med) for v in base), floor * abs(med), 1e-9)
    return max(abs(v - med) / sigma for v in values)


def _quantile(sorted_values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    pos = (len(sorted_values) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def robust_scorer(values: list[float], base: list[float]) -> float:
    """BARO's RobustScorer for one metric: max |x - median(base)| / IQR(base) over the anomalous part `values`
    (sklearn's RobustScaler, as BARO uses it: an IQR of 0 scales by 1)."""
    if not base or not values:
        return 0.0
    s = sorted(base)
    med = _quantile(s, 0.5)
    iqr = _quantile(s, 0.75) - _quantile(s, 0.25)
    scale = iqr if iqr > 0 else 1.0
    return max(abs(v - med) / scale for v in values)


async def _baselines(prom: PrometheusBackend, specs: dict[str, Spec], window: TimeRange, baseline: TimeRange,
                     ) -> dict[str, dict[str, Any]]:
    """Per service: its largest single-signal |z| (raw MAD, and MAD floored at 5% of the median) and its BARO
    RobustScorer score, from the same data (one range query per signal, `by (service)`)."""
    whole = TimeRange(start=baseline.start, end=window.end)
    step = prom.step_for(whole)
    cut = window.start.timestamp()
    out: dict[str, dict[str, Any]] = {}

    async def one(name: str, s: Spec) -> None:
        try:
            series = await prom.query_range(f"{s.agg} by (service) ({s.gauge})", whole, step=step)
        except BackendError as e:
            progress(f"  baselines: {name} failed: {e}")
            return
        for ser in series:
            svc = ser.labels.get("service", "")
            base = [p.v for p in ser.points if p.t < cut]
            win = [p.v for p in ser.points if p.t >= cut]
            row = out.setdefault(svc, {"z": 0.0, "z_signal": None, "zf": 0.0, "zf_signal": None, "baro": 0.0,
                                       "baro_signal": None})
            for key, score in (("z", _robust_z(win, base, 0.0)), ("zf", _robust_z(win, base, 0.05)),
                               ("baro", robust_scorer(win, base))):
                if score > row[key]:
                    row.update({key: score, f"{key}_signal": name})

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


def _engine_part(inv: Any, truth: str, services: list[str], rng: random.Random) -> dict[str, Any]:
    """What one investigation answered: the shown hypotheses (none when it abstained), its ranking with a seeded
    random fill (for continuity with earlier runs), scope and evidence sizes."""
    ranked = [r.service for r in getattr(inv, "ranking", [])]
    order = _complete(ranked, services, rng)
    insufficient = bool(getattr(inv, "insufficient", False))
    shown = [] if insufficient else [h.service for h in getattr(inv, "hypotheses", [])]
    rank = _rank(order, truth)
    ev = list(getattr(inv, "evidence", []))
    raw_points = 0
    for e in ev:
        data = getattr(e, "data", None)
        if getattr(e, "kind", "") == "signal" and isinstance(data, dict):
            raw_points += len(data.get("points") or []) + len(data.get("seasonal_points") or [])
    kinds: dict[str, int] = {}
    for e in ev:
        k = str(getattr(e, "kind", type(e).__name__))
        kinds[k] = kinds.get(k, 0) + 1
    truth_entry = next((r for r in getattr(inv, "ranking", []) if r.service == truth), None)
    out: dict[str, Any] = {
        "insufficient": insufficient, "shown": shown,
        "shown_rank": shown.index(truth) + 1 if truth in shown else None,
        "shown_hit1": shown[:1] == [truth], "shown_hit3": truth in shown[:3],
        "ranked": len(ranked), "top3": order[:3], "rank": rank,
        "hit1": rank == 1, "hit3": rank is not None and rank <= 3,
        "own_hit1": rank == 1 and rank <= len(ranked), "own_hit3": rank is not None and rank <= min(3, len(ranked)),
        "in_scope": truth in getattr(inv, "services", []), "scope": list(getattr(inv, "services", [])),
        "ranking": [{"service": r.service, "score": r.score, "confidence": r.confidence, "cause": r.cause,
                     "cause_kind": r.cause_kind} for r in getattr(inv, "ranking", [])[:5]],
        "truth_in_ranking": truth_entry.model_dump(include={"score", "confidence", "cause", "reasons"})
        if truth_entry is not None else None,
        "summary": getattr(inv, "summary", ""), "gaps": list(getattr(inv, "gaps", [])),
        "evidence_items": len(ev), "evidence_kinds": kinds,
        "evidence_chars": sum(len(getattr(e, "quote", "") or "") for e in ev),
        "raw_points": raw_points, "raw_chars": raw_points * CHARS_PER_POINT,
    }
    out["evidence_tokens"] = round(out["evidence_chars"] / CHARS_PER_TOKEN)
    return out


class _Recorder:
    """Keeps the engine's inputs of the investigation running now: `services.investigate` calls
    `analyse(deps, engine.analyse, evidence, graph=, focus=, window=, gaps=)`; this wraps that name (in this process,
    before the call is offloaded) so `--replay` can run the pure engine on exactly what was gathered."""

    def __init__(self) -> None:
        self.last: dict[str, Any] | None = None

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        import sre_bot.services.investigate as inv_mod

        original = getattr(inv_mod, "analyse", None)
        if original is None:  # the engine changed shape: nothing to record, the run goes on
            yield
            return

        async def recording(deps: Any, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
            if getattr(fn, "__name__", "") == "analyse" and args:
                self.last = {"evidence": list(args[0]), **kwargs}
            return await original(deps, fn, *args, **kwargs)

        inv_mod.analyse = recording  # type: ignore[attr-defined]
        try:
            yield
        finally:
            inv_mod.analyse = original  # type: ignore[attr-defined]


RECORDER = _Recorder()


async def _investigate(day: Day, truth: str, cfg: Config, settings: Settings, at: Any, window: timedelta,
                       question: str, truth_rng: random.Random, specs: dict[str, Spec] | None,
                       ) -> tuple[dict[str, Any], Any, dict[str, dict[str, Any]] | None]:
    """One row's investigation (and, when `specs` is given, the baselines on the same Prometheus afterwards);
    `truth` is the injected service it is scored against."""
    from sre_bot.services.investigate import investigate  # the engine under test (imported late: may be new)

    metrics = Metrics()
    part: dict[str, Any] = {}
    inv = None
    z = None
    async with open_deps(settings, config=cfg, clock=frozen_clock(at), metrics=metrics) as deps:
        assert deps.prometheus is not None
        try:
            q0, l0, t0 = _calls(metrics, "prometheus"), _calls(metrics, "loki"), time.perf_counter()
            try:
                RECORDER.last = None
                with RECORDER.installed():
                    inv = await investigate(deps, question, at=at, window=window)
            except Exception as e:  # an engine bug is a miss with a traceback, not the end of the run
                part.update(error=f"{type(e).__name__}: {e}", wall_s=round(time.perf_counter() - t0, 4))
                progress(traceback.format_exc())
            else:
                part.update(wall_s=round(time.perf_counter() - t0, 4),
                            prometheus_queries=_calls(metrics, "prometheus") - q0,
                            loki_queries=_calls(metrics, "loki") - l0)
            if specs is not None:
                if inv is not None:
                    win, base = inv.window, inv.baseline
                else:
                    win = TimeRange.ending(at, window)
                    base = win.before(max(window, timedelta(hours=1)))
                part.update(window={"start": win.start.isoformat(), "end": win.end.isoformat()},
                            baseline={"start": base.start.isoformat(), "end": base.end.isoformat()})
                z = await _baselines(deps.prometheus, specs, win, base)
        finally:
            deps.prometheus.close()
    if inv is not None:
        part.update(_engine_part(inv, truth, day.services, truth_rng))
    else:
        part.update(insufficient=True, shown=[], shown_rank=None, shown_hit1=False, shown_hit3=False, ranked=0,
                    top3=[], rank=None, hit1=False, hit3=False, own_hit1=False, own_hit3=False, in_scope=False)
    return part, inv, z


async def run_fault(day: Day, fault: Fault, url: str, loki: str | None, configs: dict[str, Config],
                    variants: list[str], specs: dict[str, Spec], offset: timedelta, window: timedelta,
                    seed: int, evidence_dir: Path | None = None) -> dict[str, Any]:
    at = fault.at + offset
    question = f"why is {day.entry} slow?"
    row: dict[str, Any] = {
        "day": day.name, "app": day.app, "index": fault.index, "inject_time": fault.inject_time,
        "inject_timestamp": fault.inject_timestamp, "timestamp_skew_s": fault.timestamp_skew_s,
        "fault": fault.kind, "pod": fault.pod, "truth": fault.service, "asked_at": at.isoformat(),
        "question": question, "services": len(day.services), "variants": {},
    }
    z: dict[str, dict[str, Any]] | None = None
    for i, name in enumerate(variants):
        rng = random.Random(f"{seed}/{day.name}/{fault.index}")
        settings = _settings(url, loki if name == "logs" else None)
        part, _inv, got = await _investigate(day, fault.service, configs[name], settings, at, window, question,
                                             rng, specs if i == 0 else None)
        if got is not None:
            z = got
            row.update(window=part.pop("window"), baseline=part.pop("baseline"))
        if evidence_dir is not None and RECORDER.last is not None:
            path = evidence_dir / day.name / f"{fault.index:02d}-{name}.json.gz"
            part["evidence_file"] = save_engine_inputs(path, RECORDER.last)
        row["variants"][name] = part
    z = z or {}
    rng = random.Random(f"{seed}/{day.name}/{fault.index}/baselines")
    truth = fault.service
    for key, score in (("maxz", "z"), ("maxz_floor", "zf"), ("baro", "baro")):
        order = _by_score({s: v[score] for s, v in z.items()}, day.services, rng)
        r = _rank(order, truth)
        row[f"{key}_top3"], row[f"{key}_rank"] = order[:3], r
        row[f"{key}_hit1"], row[f"{key}_hit3"] = r == 1, r is not None and r <= 3
    row.update(truth_scores=z.get(truth), random_top1=1 / len(day.services),
               random_top3=min(3, len(day.services)) / len(day.services))
    return row


def fullest_row(variants: list[str]) -> str:
    """The day's fullest row: the last of `VARIANTS` it runs (`logs` on TrainTicket, `callgraph` otherwise)."""
    return next(v for v in reversed(VARIANTS) if v in variants)


def day_windows(day: Day, window: timedelta, limit: int = 0) -> list[QuietWindow]:
    """The day's no-fault (and recovering) windows, from every fault of the day and the loaded metrics' span;
    with `limit`, the first `limit` of each kind."""
    first = min(series[0][0] for series in day.rows.values() if series)
    last = max(series[-1][0] for series in day.rows.values() if series)
    tz = day.faults[0].at.tzinfo if day.faults else None
    found = quiet_windows(day.faults, datetime.fromtimestamp(first, tz), datetime.fromtimestamp(last, tz),
                          window=window)
    return limit_per_kind(found, limit)


async def run_quiet(day: Day, q: QuietWindow, url: str, loki: str | None, cfg: Config, name: str,
                    evidence_dir: Path | None) -> dict[str, Any]:
    """One no-fault (or recovering) window through the in-process path, with the row `name`; nothing to score
    against but "did it stay quiet"."""
    question = f"why is {day.entry} slow?"
    by_index = {f.index: f for f in day.faults}
    prev = by_index.get(q.previous_fault) if q.previous_fault is not None else None
    row: dict[str, Any] = {
        "day": day.name, "app": day.app, "kind": q.kind, "asked_at": q.at.isoformat(),
        "window": {"start": q.start.isoformat(), "end": q.at.isoformat()}, "window_s": q.window.total_seconds(),
        "row": name, "question": question, "next_fault": q.next_fault,
        "previous_fault": {"index": prev.index, "service": prev.service, "fault": prev.kind,
                           "inject_time": prev.inject_time, "before_s": round((q.at - prev.at).total_seconds())}
        if prev is not None else None,
    }
    settings = _settings(url, loki if name == "logs" else None)
    part, inv, _ = await _investigate(day, "", cfg, settings, q.at, q.window, question, random.Random(0), None)
    answer: dict[str, Any] = {k: part[k] for k in ("wall_s", "prometheus_queries", "loki_queries", "error",
                                                   "evidence_items") if k in part}
    if inv is not None:
        answer.update(answer_fields(investigation_json(inv)))
    else:
        answer.update(insufficient=False, shown=[])
    row["inprocess"] = answer
    if evidence_dir is not None and RECORDER.last is not None:
        path = evidence_dir / day.name / f"quiet-{q.kind}-{q.hhmm}-{name}.json.gz"
        row["evidence_file"] = save_engine_inputs(path, RECORDER.last)
    return row


# Fault types as the evaluation's cause kinds; the engine has no kind for a code-level fault.
NEZHA_CAUSES = {"cpu_contention": "resource_exhaustion", "cpu_consumed": "resource_exhaustion",
                "network_delay": "infrastructure", "return": "code_fault", "exception": "code_fault"}


def eval_results(rows: list[dict[str, Any]], quiet: list[dict[str, Any]] | None = None) -> list[Any]:
    """Each fault as an evaluation case: the fullest row's shown answer and its confidence (the calibrated
    probability the bot shows), against the injected pod's service; and each no-fault window (not "recovering") as a
    case with no cause, where the right answer is to abstain."""
    from sre_bot.evaluation.results import CaseResult, ScenarioResult
    from sre_bot.evaluation.scoring import engine_cause_kind

    out = []
    for r in rows:
        name = next(v for v in reversed(VARIANTS) if v in r["variants"])
        v = r["variants"][name]
        shown = list(v.get("shown") or [])
        top = (v.get("ranking") or [None])[0] if shown else None
        case = CaseResult(
            scenario=f"{r['app']} #{r['index']} {r['inject_time'][11:16]}", case=r["fault"], question=r["question"],
            truth_root=r["truth"], truth_cause=NEZHA_CAUSES.get(r["fault"], r["fault"]), answered_by="engine",
            abstained=top is None, services=shown if top else [],
            cause_kind=engine_cause_kind(top.get("cause_kind")) if top else None,
            answer_kind=top.get("cause_kind") if top else None, confidence=top["confidence"] if top else None,
            wall_s=v.get("wall_s"), error=v.get("error"), extra={"row": name, "shown_rank": v.get("shown_rank")})
        out.append(ScenarioResult(name=case.scenario, cases=[case], wall_s=v.get("wall_s") or 0.0))
    for q in quiet or []:
        if q.get("kind") == "recovering":
            continue  # the previous fault's recovery is in the window: not a no-fault window
        a = q.get("inprocess") or {}
        top = a.get("top_hypothesis") if a.get("shown") and not a.get("insufficient") else None
        case = CaseResult(
            scenario=f"{q['app']} no fault {str(q['asked_at'])[11:16]}", case=f"quiet-{q['kind']}",
            question=q["question"], truth_root=None, truth_cause="none", answered_by="engine",
            abstained=top is None, services=list(a.get("shown") or []) if top else [],
            answer_kind=top.get("cause_kind") if top else None, confidence=top.get("confidence") if top else None,
            wall_s=a.get("wall_s"), error=a.get("error"), extra={"row": q.get("row")})
        out.append(ScenarioResult(name=case.scenario, cases=[case], wall_s=a.get("wall_s") or 0.0))
    return out


def _engine_info() -> dict[str, Any]:
    """Which engine ran: its version tag and a digest of its source (it changes while being developed)."""
    from sre_bot.investigation import ENGINE_VERSION

    pkg = REPO_ROOT / "sre_bot"
    files = sorted([pkg / "services" / "investigate.py", pkg / "investigation.py", pkg / "tools" / "signals.py",
                    pkg / "tools" / "edges.py", pkg / "tools" / "topology.py", *(pkg / "analysis").glob("*.py")])
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


@contextlib.contextmanager
def _maybe_logs(data: Path, day: Day, wanted: bool) -> Iterator[str | None]:
    if not wanted:
        yield None
        return
    from ._nezha_logs import serve_logs

    t0 = time.perf_counter()
    with serve_logs(data, day.name) as url:
        progress(f"  Loki (pod logs) ready at {url} after {time.perf_counter() - t0:.1f}s")
        yield url


def _history(data: Path, day: Day, with_traces: bool) -> tuple[str, dict[str, Any]]:
    """The day's OpenMetrics: pod gauges, and (unless only metrics are asked for) trace-derived series and edge
    gauges. One text, so one Prometheus serves every row."""
    text = openmetrics([day]).removesuffix("# EOF\n")
    info: dict[str, Any] = {"pod_samples": day.samples}
    if with_traces:
        t0 = time.perf_counter()
        ex = trace_openmetrics(day.path)
        edges, n_edge = edge_latency_openmetrics(day.path / "metric", set(day.services))
        info.update(trace_files=ex.files, spans=ex.spans, trace_samples=ex.samples, edge_gauge_samples=n_edge,
                    trace_intervals_15s=ex.intervals, trace_blocks=ex.blocks, span_metric_series=ex.operations,
                    trace_edges={f"{c}->{s}": n for (c, s), n in sorted(ex.edges.items())},
                    trace_seconds=round(time.perf_counter() - t0, 1), trace_notes=ex.notes)
        progress(f"  traces: {ex.files} files, {ex.spans:,} spans -> {len(ex.edges)} edges, {ex.operations} "
                 f"span-metric series, {ex.samples:,} samples over {ex.intervals} 15-s intervals in {ex.blocks} "
                 f"blocks; {n_edge:,} edge-gauge samples ({time.perf_counter() - t0:.1f}s)")
        text += ex.text + edges
    info["openmetrics_mb"] = round(len(text) / 2**20, 1)
    return text + "# EOF\n", info


async def _cli_day(day: Day, faults: list[Fault], rows: list[dict[str, Any]], url: str, loki: str | None,
                   files: dict[str, Path], variants: list[str], offset: str, window: str, exe: str, jobs: int,
                   cwd: Path) -> float:
    """Every fault and row of the day through `sre-bot ask --json --no-llm` (at most `jobs` at once); each answer is
    stored as `row["cli"][row name]`. Returns the seconds it took."""
    sem = asyncio.Semaphore(jobs)
    w = parse_duration(window)
    question = f"why is {day.entry} slow?"

    async def one(f: Fault, row: dict[str, Any], name: str) -> None:
        at = f.at + parse_duration(offset)
        env = cli_env(url, files[name], loki if name == "logs" else None)
        res = await ask_cli(exe, question, cli_at(at, w), window, env, cwd, sem)
        part = cli_part(res, f.service, (at - w, at), row["variants"].get(name, {}))
        row.setdefault("cli", {})[name] = part
        shown = " ".join(part["shown"]) or ("abstain" if part["insufficient"] else "—")
        progress(f"  [cli] {f.index:2d}/{len(faults)} {name:<9} rank {part['shown_rank'] or '—'} {shown} "
                 f"{'same' if part['same'] else 'DIFFERS from in-process'}"
                 f"{'' if part['window_ok'] else ', WINDOW ' + str(part.get('window'))} {part['wall_s']:.1f}s"
                 + (f" ERROR {part['error']}" if part.get("error") else ""))

    t0 = time.perf_counter()
    await asyncio.gather(*(one(f, r, v) for f, r in zip(faults, rows, strict=True) for v in variants))
    return round(time.perf_counter() - t0, 1)


async def _cli_quiet(day: Day, rows: list[dict[str, Any]], url: str, loki: str | None, files: dict[str, Path],
                     window: str, exe: str, jobs: int, cwd: Path) -> float:
    """Every no-fault window of the day through `sre-bot ask --json --no-llm` (its row's config file); each answer is
    stored as `row["cli"]`. Returns the seconds it took."""
    sem = asyncio.Semaphore(jobs)
    w = parse_duration(window)

    async def one(row: dict[str, Any]) -> None:
        at = datetime.fromisoformat(row["asked_at"])
        env = cli_env(url, files[row["row"]], loki if row["row"] == "logs" else None)
        res = await ask_cli(exe, row["question"], cli_at(at, w), window, env, cwd, sem)
        part = quiet_cli_part(res, (at - w, at), row["inprocess"])
        row["cli"] = part
        said = "abstain" if quiet_ok(part) else "error" if part.get("error") else "names " + " ".join(part["shown"])
        progress(f"  [cli quiet] {row['kind']:<10} {at:%H:%M:%S} {row['row']:<9} {said} "
                 f"{'same' if part['same'] else 'DIFFERS from in-process'}"
                 f"{'' if part['window_ok'] else ', WINDOW ' + str(part.get('window'))} {part['wall_s'] or 0:.1f}s"
                 + (f" ERROR {part['error']}" if part.get("error") else ""))

    t0 = time.perf_counter()
    await asyncio.gather(*(one(r) for r in rows))
    return round(time.perf_counter() - t0, 1)


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    specs = {n: SIGNALS[n] for n in SIGNAL_SETS[args.signals]}
    settings = [(args.at_offset, args.window), *args.sweep]
    labels = [f"ask at inject+{o}, window {w}, {args.signals} signals" for o, w in settings]
    per_setting: list[dict[str, list[dict[str, Any]]]] = [{} for _ in settings]
    quiet_rows: list[dict[str, Any]] = []
    days_info: dict[str, Any] = {}
    started, started_at = time.perf_counter(), utc_now()
    engine_before = _engine_info()
    cwd = Path(tempfile.mkdtemp(prefix="nezha-cli-"))  # the CLI's working directory: no .env, nothing left behind
    row_configs = args.json.parent / "nezha_rca_configs"  # the rows' files the CLI reads (kept with the results)
    row_configs.mkdir(parents=True, exist_ok=True)
    exe = cli_exe() if args.cli else None
    if args.cli and exe is None:
        raise SystemExit("no sre-bot command (.venv/bin/sre-bot or on PATH): install the package or pass --no-cli")
    for name in args.days:
        t0 = time.perf_counter()
        day = load_day(args.data, name)
        faults = day.faults[: args.limit] if args.limit else day.faults
        variants = [v for v in args.rows if v != "logs" or day.app in LOG_APPS]
        configs = load_configs(day.app, specs, config_dir=args.configs)
        files = write_row_configs(args.configs / CONFIG_FILES[day.app], {v: configs[v] for v in variants},
                                  row_configs)
        text, info = _history(args.data, day, with_traces=variants != ["metrics"])
        progress(f"{day.app} ({name}): {len(day.services)} services, {len(faults)}/{len(day.faults)} faults, "
                 f"{info['openmetrics_mb']:.0f} MB OpenMetrics; entry {day.entry} ({day.entry_how}); "
                 f"rows: {', '.join(variants)}")
        for q in day.quirks:
            progress(f"  quirk: {q}")
        with prometheus_server(text) as url, _maybe_logs(args.data, day, "logs" in variants) as loki:
            del text
            ready_s = round(time.perf_counter() - t0, 1)
            progress(f"  Prometheus ready at {url} after {ready_s}s (load, convert, backfill, start)")
            for i, (offset, window) in enumerate(settings):
                rows = per_setting[i].setdefault(name, [])
                for f in faults:
                    row = await run_fault(day, f, url, loki, configs, variants, specs, parse_duration(offset),
                                          parse_duration(window), args.seed,
                                          args.evidence_dir if i == 0 else None)
                    rows.append(row)
                    parts = [(v, row["variants"][v]) for v in variants]
                    shown = " | ".join(f"{v}: {p['shown_rank'] or '—'}{' (abstain)' if p.get('insufficient') else ''}"
                                       f" {p.get('wall_s', 0):.1f}s/{p.get('prometheus_queries', 0)}q"
                                       for v, p in parts)
                    progress(f"  [{labels[i]}] {f.index:2d}/{len(faults)} {f.inject_time[11:]} {f.kind:<15} "
                             f"truth {f.service:<28} shown rank {shown} | max|z| {row['maxz_rank']} "
                             f"BARO {row['baro_rank']}")
            day_quiet: list[dict[str, Any]] = []
            quiet_row = fullest_row(variants)
            if args.quiet:
                windows = day_windows(day, parse_duration(args.window), args.limit)
                progress(f"  no-fault windows: {len(windows)} ("
                         + ", ".join(f"{k} {sum(1 for w in windows if w.kind == k)}"
                                     for k in ("before", "between", "recovering")) + f"), row {quiet_row}")
                for qw in windows:
                    qrow = await run_quiet(day, qw, url, loki, configs[quiet_row], quiet_row, args.evidence_dir)
                    day_quiet.append(qrow)
                    a = qrow["inprocess"]
                    progress(f"  [quiet] {qw.kind:<10} {qw.at:%H:%M:%S} {quiet_row:<9} "
                             + ("abstain" if quiet_ok(a) else f"names {' '.join(a['shown']) or '—'}"
                                + (f" (top {a['top_confidence']:.2f})"
                                   if isinstance(a.get("top_confidence"), (int, float)) else ""))
                             + (f" ERROR {a['error']}" if a.get("error") else "")
                             + f" {a.get('wall_s', 0):.1f}s")
            quiet_rows.extend(day_quiet)
            cli_s = None
            cli_quiet_s = None
            engine_after = None
            if exe is not None:
                progress(f"  sre-bot ask --json --no-llm for {len(faults)} faults x {len(variants)} rows, "
                         f"{args.cli_jobs} at a time ({exe})")
                cli_s = await _cli_day(day, faults, per_setting[0][name], url, loki, files, variants,
                                       args.at_offset, args.window, exe, args.cli_jobs, cwd)
                if day_quiet:
                    progress(f"  sre-bot ask --json --no-llm for {len(day_quiet)} no-fault windows ({quiet_row})")
                    cli_quiet_s = await _cli_quiet(day, day_quiet, url, loki, files, args.window, exe, args.cli_jobs,
                                                   cwd)
                engine_after = _engine_info()["source_sha256"]
                if engine_after != engine_before["source_sha256"]:
                    progress(f"  WARNING: the engine's source changed since the start ({engine_before['source_sha256']}"
                             f" -> {engine_after}): CLI answers may differ from in-process ones because of it")
        days_info[name] = {"app": day.app, "services": day.services, "entry": day.entry, "entry_how": day.entry_how,
                           "config": str((args.configs / CONFIG_FILES[day.app]).relative_to(REPO_ROOT))
                           if (args.configs / CONFIG_FILES[day.app]).resolve().is_relative_to(REPO_ROOT)
                           else str(args.configs / CONFIG_FILES[day.app]),
                           "configured_depends_on": {k: v for k, v in configs["callgraph"].dependencies().items()
                                                     if v},
                           "rows": variants, "faults_total": len(day.faults), "faults_run": len(faults),
                           "row_config_files": {v: str(p) for v, p in files.items()}, "cli_seconds": cli_s,
                           "quiet_row": quiet_row if args.quiet else None, "quiet_windows": len(day_quiet),
                           "cli_quiet_seconds": cli_quiet_s,
                           # the in-process engine is the one imported at the start; each CLI process imports anew
                           "engine_after_cli": engine_after,
                           "engine_changed": engine_after not in (None, engine_before["source_sha256"]),
                           "ready_after_s": ready_s, **info, "quirks": day.quirks}

    shutil.rmtree(cwd, ignore_errors=True)

    def pack(i: int) -> dict[str, Any]:
        rows = [r for name in args.days for r in per_setting[i].get(name, [])]
        return {"label": labels[i], "at_offset": settings[i][0], "window": settings[i][1],
                "by_day": {name: summarize(per_setting[i].get(name, [])) for name in args.days},
                "overall": summarize(rows), "by_fault_type": by_fault_type(rows), "faults": rows}

    headline = pack(0)
    return {
        "benchmark": "nezha_rca", "started_at": started_at, "command": command_line(),
        "machine": machine_info(binaries=("prometheus", "promtool")),
        "engine": engine_before,
        "engine_changed_during_run": _engine_info()["source_sha256"] != engine_before["source_sha256"],
        "settings": {"data": str(args.data), "days": args.days, "rows": args.rows, "at_offset": args.at_offset,
                     "window": args.window, "question": "why is <entry service> slow?",
                     "clock": "frozen at inject_time + at_offset", "limit": args.limit, "seed": args.seed,
                     "max_points": _settings("http://x").max_points, "signal_set": args.signals,
                     "baseline_signals": {n: {"query": f"{s.agg} by (service) ({s.gauge})"} for n, s in specs.items()},
                     "headline": "the bot's shown hypotheses (none when it abstains); no random fill",
                     "ranking_completion": "the 'ranking' columns put services the engine does not rank after its "
                                           "list in a seeded random order",
                     "baro": "BARO-style RobustScorer: per signal, max |x - median| / IQR of the window against the "
                             "bot's baseline (IQR 0 -> 1, as sklearn's RobustScaler); services by their largest",
                     "chars_per_point": CHARS_PER_POINT, "chars_per_token": CHARS_PER_TOKEN,
                     "cli": {"command": f"{exe} ask --json --no-llm --at <inject + at_offset - window/4> "
                                        f"--window <window> 'why is <entry> slow?'",
                             "environment": "PROMETHEUS_URL, SRE_BOT_CONFIG (the row's file), LOKI_URL (logs row); "
                                            "SRE_BOT_*, backend, Slack and Anthropic variables of the shell removed",
                             "concurrent": args.cli_jobs, "setting": "headline only (not --sweep)",
                             "wall": "seconds from starting the process to its exit, with up to `concurrent` "
                                     "running at once"} if exe else None,
                     "quiet": {"fault_effect_s": FAULT_EFFECT_S, "lead_s": LEAD_S, "baseline_s": BASELINE_S,
                               "between_first_after_s": SETTLE_S, "between_every_s": EVERY_S,
                               "end_margin_s": END_MARGIN_S, "data_kept_after_last_fault_s": KEEP_AFTER_S,
                               "window": args.window, "row": "the day's fullest row (last of VARIANTS it runs)",
                               "limit_per_kind": args.limit,
                               "right_answer": "abstain (insufficient / insufficient_evidence) or show nothing, "
                                               "without an error",
                               "kinds": {"before": "ask at inject - 30 s; the window overlaps no fault's "
                                                   "[inject, inject + fault_effect_s]",
                                         "between": "stretches free of occupied intervals: first window ends "
                                                    "window + 5 min into it, then every 15 min, up to next inject "
                                                    "- 30 s (or data end - 1 min)",
                                         "recovering": "NOT no-fault: ask at inject - 30 s where the previous "
                                                       "fault's occupied interval overlaps the window"}}
                     if args.quiet else None},
        "reference": {"nezha_paper_onlineboutique_service_level": NEZHA_PAPER,
                      "note": "reported by the Nezha paper with metrics+traces+logs; not measured here"},
        "days": days_info,
        "headline": {k: v for k, v in headline.items() if k != "faults"},
        "by_day": headline["by_day"], "overall": headline["overall"], "by_fault_type": headline["by_fault_type"],
        "faults": headline["faults"],
        "sweep": [pack(i) for i in range(1, len(settings))],
        "quiet": quiet_rows, "quiet_summary": quiet_summary(quiet_rows),
        "elapsed_s": round(time.perf_counter() - started, 1),
    }


def _replay_main(path: Path) -> int:
    if not path.exists():
        print(f"no recorded run at {path}: run the benchmark first", file=sys.stderr)
        return 2
    import json

    t0 = time.perf_counter()
    results = replay(json.loads(path.read_text(encoding="utf-8")), results_dir=path.parent)
    rows = results["faults"]
    for r in rows:  # the recorded CLI answers are not the replayed engine's: the replay's headline is in-process
        r.pop("cli", None)
    days = results["settings"]["days"]
    results["by_day"] = {d: summarize([r for r in rows if r["day"] == d]) for d in days}
    results["overall"], results["by_fault_type"] = summarize(rows), by_fault_type(rows)
    quiet = results.get("quiet") or []
    for q in quiet:  # likewise for the no-fault windows: the replayed in-process answer only
        q.pop("cli", None)
    results["quiet_summary"] = quiet_summary(quiet)
    results["elapsed_s"] = round(time.perf_counter() - t0, 1)
    label = f"REPLAY of {path.name} ({results['started_at']}), engine {_engine_info()['source_sha256']}"
    print(render(results, label))
    changed = [(r["app"], r["index"], v, p.get("recorded_shown_rank"), p.get("shown_rank"))
               for r in rows for v, p in r["variants"].items() if p.get("replayed")
               and p.get("recorded_shown_rank") != p.get("shown_rank")]
    print(f"\n{len(changed)} answers changed against the recording (app, #, row, recorded rank -> now): "
          + ", ".join(f"{a} #{i} {v} {b or '—'}->{c or '—'}" for a, i, v, b, c in changed[:40]))
    moved = [q for q in quiet if q["inprocess"].get("replayed")
             and q["inprocess"].get("recorded_shown") != q["inprocess"].get("shown")]
    if quiet:
        print(f"{len(moved)} no-fault answers changed against the recording (app kind time: recorded -> now): "
              + ", ".join(f"{_app_short(q['app'])} {q['kind']} {q['asked_at'][11:16]}: "
                          f"{' '.join(q['inprocess']['recorded_shown']) or 'abstain'} -> "
                          f"{' '.join(q['inprocess']['shown']) or 'abstain'}" for q in moved[:40]))
    results["engine_replayed"] = _engine_info()
    save_and_say(path.with_name(path.stem + "-replay.json"), results)
    return 0


def _app_short(app: str) -> str:
    return "".join(c for c in app if c.isupper()) or app


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.nezha_rca", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the nezha folder (default: %(default)s)")
    p.add_argument("--configs", type=Path, default=CONFIGS, help="folder of the config files (default: %(default)s)")
    p.add_argument("--days", nargs="+", default=list(DAYS), choices=DAYS, help="which days (default: both)")
    p.add_argument("--rows", default=",".join(VARIANTS),
                   help="which bot rows, comma-separated from metrics,callgraph,logs (logs: TrainTicket only; "
                        "default: all)")
    p.add_argument("--at-offset", default=HEADLINE[0], help="ask this long after inject_time (default %(default)s)")
    p.add_argument("--window", default=HEADLINE[1], help="investigation window (default %(default)s)")
    p.add_argument("--sweep", default="", help="extra settings as OFFSET/WINDOW,... e.g. 5m/20m,10m/20m")
    p.add_argument("--signals", default="golden", choices=sorted(SIGNAL_SETS),
                   help="golden: the config files' request rate, latency p95/p99, CPU, memory; extended: + outbound "
                        "latency p95, network rx/tx, added to the configs (default %(default)s)")
    p.add_argument("--limit", type=int, default=0, help="only the first N faults of each day (quick run)")
    p.add_argument("--seed", type=int, default=7, help="seed for tie-breaking orders (default %(default)s)")
    p.add_argument("--json", type=Path, default=RESULTS_DIR / "nezha_rca.json",
                   help="result file (default %(default)s)")
    p.add_argument("--evidence-dir", type=Path, default=RESULTS_DIR / "nezha_evidence",
                   help="where the engine's inputs per fault and row are saved for --replay (default %(default)s)")
    p.add_argument("--replay", type=Path, nargs="?", const=RESULTS_DIR / "nezha_rca.json", default=None,
                   metavar="RESULTS_JSON",
                   help="no Prometheus: re-run the pure engine over a recorded run's evidence (default file: "
                        "%(const)s) and print the same tables (result: <name>-replay.json)")
    p.add_argument("--no-cli", dest="cli", action="store_false",
                   help="skip the real `sre-bot ask` subprocesses: the headline is then the in-process answer (quick)")
    p.add_argument("--no-quiet", dest="quiet", action="store_false",
                   help="skip the no-fault windows (asked with each day's fullest row, in-process and through the "
                        "CLI; the right answer there is 'insufficient evidence')")
    p.add_argument("--cli-jobs", type=int, default=2,
                   help="`sre-bot ask` processes running at once (default %(default)s)")
    args = p.parse_args(argv)
    if args.replay is not None:
        return _replay_main(args.replay)
    try:
        parse_duration(args.at_offset), parse_duration(args.window)
        args.sweep = [_parse_setting(s) for s in args.sweep.split(",") if s.strip()]
    except UsageError as e:
        p.error(str(e))
    args.rows = [r.strip() for r in args.rows.split(",") if r.strip()]
    if not args.rows or any(r not in VARIANTS for r in args.rows):
        p.error(f"--rows takes some of {', '.join(VARIANTS)}")
    args.rows = [v for v in VARIANTS if v in args.rows]
    if not args.data.is_dir():
        p.error(f"{args.data} is not a folder (the Nezha data, read in place; see benchmarks/README.md)")
    results = asyncio.run(_run(args))
    results["cli_differences"] = cli_differences(results)  # every fault and row where the CLI and in-process differ
    label = results["headline"]["label"]
    print(f"Nezha RCA benchmark — {label}; question \"why is <entry> slow?\"; machine: "
          f"{results['machine']['cpu']} ×{results['machine']['cpu_count']}, Python {results['machine']['python']}")
    print()
    print(render(results, label))
    if results["engine_changed_during_run"]:
        changed = [results["days"][d]["app"] for d in results["days"] if results["days"][d].get("engine_changed")]
        print("\nWARNING: the engine's source changed during the run (others editing it): rerun for clean figures."
              + (f" The CLI processes of {', '.join(changed)} ran a newer engine than the in-process investigations "
                 f"(loaded at the start): differences there may be the engine's, not the CLI's; `--replay "
                 f"{args.json}` re-runs the current engine on the in-process evidence." if changed else ""))
    if results["sweep"]:
        print()
        apps = {name: d["app"] for name, d in results["days"].items()}
        print(render_sweep([{"label": f"+{results['settings']['at_offset']}/{results['settings']['window']}",
                             "by_day": results["by_day"], "overall": results["overall"], "apps": apps},
                            *[{**s, "label": f"+{s['at_offset']}/{s['window']}", "apps": apps}
                              for s in results["sweep"]]]))
    save_and_say(args.json, results)
    cal_note = ("Confidence is the shipped calibration's probability, which was fitted on these days among others: "
                "in-sample here; the held-out numbers are `python -m benchmarks.calibrate`'s")
    write_eval_report("nezha_rca", f"Nezha RCA — {label}", eval_results(results["faults"], results.get("quiet")),
                      settings={"days": ", ".join(args.days), "question": "why is <entry> slow?",
                                "row": "the fullest row run for each day (+ logs on TrainTicket, + call-graph "
                                       "metrics otherwise)", "engine": results["engine"]["version"]},
                      elapsed_s=results["elapsed_s"], machine=results["machine"], source="Nezha faults",
                      notes=[cal_note, "Cause kinds: cpu_* → resource_exhaustion, network_delay → infrastructure, "
                                       "return/exception → code_fault (not in the truth vocabulary: not scored "
                                       "for kind)."])
    return 0


if __name__ == "__main__":
    sys.exit(main())
