"""The Nezha RCA dataset, read in place: faults, pods, call graph, and the pod metrics as OpenMetrics gauges.

One `Day` per folder (`2022-08-22` OnlineBoutique, `2023-01-29` TrainTicket). What this module corrects, and
records in `Day.quirks` so the report can say so:

- Sample times come from the `Time` column ("2022-08-22 03:51:19.607158889 +0000 UTC m=+0.11"). The `TimeStamp`
  column is wrong for some pods (adservice: +200,000,000 s plus jitter), so it is never used.
- Fault times come from `inject_time` (UTC wall clock, matching the metric rows and the Nezha repo's log/trace file
  names). `inject_timestamp` is 8 h early for most TrainTicket faults (before the metrics even start), off by a
  minute for a few, and duplicated once; the skew is kept per fault.
- `dependency.csv` rows whose target is an IP address or whose source has no metrics (loadgenerator) are dropped.
  A day without `dependency.csv` (TrainTicket) gets a star here (the entry service depends on every other
  service), kept only as `Day.depends_on` for reference: the benchmark's configs are `benchmarks/nezha/*.yml`, and
  TrainTicket's call graph comes from the trace-derived service-graph metrics (`_nezha_traces.py`).
- The entry service is the pod whose server latency p95 equals `front_service.csv`'s latency p95 most often.
- Missing values (`nan`: a pod that served no request that minute) are written as NaN samples, so Prometheus
  shows a gap rather than carrying the previous value forward for five minutes.
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

__all__ = ["Gauge", "GAUGES", "Fault", "Day", "load_day", "openmetrics", "service_of", "APPS"]

APPS = {"2022-08-22": "OnlineBoutique", "2023-01-29": "TrainTicket"}
_POD_RE = re.compile(r"(.+)-[a-z0-9]{6,10}-[a-z0-9]{5}")
_TIME_RE = re.compile(r"(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2})(?:\.(\d+))?")
_IP_RE = re.compile(r"\d+\.\d+\.\d+\.\d+")
KEEP_AFTER_S = 2 * 3600  # rows later than the last fault + this are not loaded (nothing asks about them)


@dataclass(frozen=True)
class Gauge:
    name: str
    column: str
    scale: float
    help: str


# What is exported. Node* (per node, not per service), Syscall* and the p90s are left out; PodSuccessRate is
# exported for completeness although it is 0 in every row of both days (no signal uses it).
GAUGES = (
    Gauge("nezha_cpu_usage_ratio", "CpuUsageRate(%)", 0.01, "CPU used, as a fraction of the pod's CPU limit."),
    Gauge("nezha_cpu_usage_cores", "CpuUsage(m)", 0.001, "CPU used, in cores."),
    Gauge("nezha_memory_usage_bytes", "MemoryUsage(Mi)", 2.0**20, "Memory used, in bytes."),
    Gauge("nezha_memory_usage_ratio", "MemoryUsageRate(%)", 0.01, "Memory used, as a fraction of the limit."),
    Gauge("nezha_server_latency_p95_seconds", "PodServerLatencyP95(s)", 1.0, "Served requests, latency p95."),
    Gauge("nezha_server_latency_p99_seconds", "PodServerLatencyP99(s)", 1.0, "Served requests, latency p99."),
    Gauge("nezha_client_latency_p95_seconds", "PodClientLatencyP95(s)", 1.0, "Outgoing calls, latency p95."),
    Gauge("nezha_client_latency_p99_seconds", "PodClientLatencyP99(s)", 1.0, "Outgoing calls, latency p99."),
    Gauge("nezha_workload_ops", "PodWorkload(Ops)", 1.0, "Requests served per second."),
    Gauge("nezha_success_ratio", "PodSuccessRate(%)", 0.01, "Successful requests, fraction (0 in this dataset)."),
    Gauge("nezha_network_receive_bytes", "NetworkReceiveBytes", 1.0, "Network bytes received per second."),
    Gauge("nezha_network_transmit_bytes", "NetworkTransmitBytes", 1.0, "Network bytes sent per second."),
)


@dataclass(frozen=True)
class Fault:
    day: str
    index: int  # 1-based, in file order
    at: datetime  # from inject_time (UTC)
    inject_time: str
    inject_timestamp: int
    pod: str
    service: str  # the ground truth
    kind: str  # cpu_contention, network_delay, return, exception, ...

    @property
    def timestamp_skew_s(self) -> int:
        """inject_timestamp minus inject_time, in seconds (0 when the two agree)."""
        return self.inject_timestamp - int(self.at.timestamp())


@dataclass
class Day:
    name: str
    app: str
    path: Path
    pods: dict[str, str]  # service -> pod
    rows: dict[str, list[tuple[float, dict[str, float]]]]  # service -> [(unix seconds, {column: value})]
    faults: list[Fault]
    depends_on: dict[str, list[str]]
    topology: str  # where depends_on came from
    entry: str
    entry_how: str
    quirks: list[str] = field(default_factory=list)

    @property
    def services(self) -> list[str]:
        return sorted(self.pods)

    @property
    def samples(self) -> int:
        return sum(len(r) for r in self.rows.values()) * len(GAUGES)


def service_of(pod: str) -> str:
    """`frontend-579b9bff58-t2dbm` -> `frontend`; `ts-route-service-b6c59fb57-zv8dt` -> `ts-route-service`."""
    m = _POD_RE.fullmatch(pod)
    return m.group(1) if m else pod


def _unix(text: str) -> float:
    m = _TIME_RE.match(text)
    if not m:
        raise ValueError(f"unparseable time {text!r}")
    base = datetime.fromisoformat(f"{m.group(1)}T{m.group(2)}+00:00").timestamp()
    return base + (float("0." + m.group(3)) if m.group(3) else 0.0)


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan


def _read_pod(path: Path, quirks: list[str]) -> list[tuple[float, dict[str, float]]]:
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    out: dict[float, dict[str, float]] = {}
    bad_stamp = 0
    for r in rows:
        t = round(_unix(r["Time"]), 3)
        if abs(_float(r["TimeStamp"]) - t) > 5:
            bad_stamp += 1
        out[t] = {g.column: _float(r[g.column]) * g.scale for g in GAUGES}
    if bad_stamp:
        quirks.append(f"{path.name}: TimeStamp disagrees with Time in {bad_stamp}/{len(rows)} rows "
                      f"(offset ~{round(_float(rows[0]['TimeStamp']) - _unix(rows[0]['Time'])):,} s); Time used")
    if len(out) != len(rows):
        quirks.append(f"{path.name}: {len(rows) - len(out)} duplicate Time rows dropped")
    return sorted(out.items())


def _note_gaps(rows: dict[str, list[tuple[float, dict[str, float]]]], quirks: list[str]) -> None:
    gaps = {}
    for svc, series in rows.items():
        n = max(sum(1 for _, v in series if math.isnan(v[g.column])) for g in GAUGES)
        if n:
            gaps[svc] = n / len(series)
    if gaps:
        worst = sorted(gaps.items(), key=lambda kv: -kv[1])[:3]
        quirks.append(f"{len(gaps)}/{len(rows)} pods have minutes without a value (no request served: latency "
                      f"is nan; written as NaN, a gap), worst: " + ", ".join(f"{s} {p:.0%}" for s, p in worst))
    for svc, series in rows.items():
        steps = [b - a for (a, _), (b, _) in zip(series, series[1:], strict=False)]
        if steps and max(steps) > 90:
            quirks.append(f"{svc}: {sum(1 for s in steps if s > 90)} holes in the minute rows (longest "
                          f"{max(steps) / 60:.0f} min)")


def _faults(day: str, path: Path, quirks: list[str]) -> list[Fault]:
    data = json.loads(path.read_text(encoding="utf-8"))
    out = []
    for hour in sorted(data):
        for item in data[hour]:
            at = datetime.fromisoformat(item["inject_time"]).replace(tzinfo=timezone.utc)
            out.append(Fault(day=day, index=len(out) + 1, at=at, inject_time=item["inject_time"],
                             inject_timestamp=int(item["inject_timestamp"]), pod=item["inject_pod"],
                             service=service_of(item["inject_pod"]), kind=item["inject_type"]))
    skewed = [f for f in out if f.timestamp_skew_s]
    if skewed:
        kinds = Counter(f"{round(f.timestamp_skew_s / 60):+d} min" for f in skewed)
        quirks.append(f"fault_list.json: inject_timestamp disagrees with inject_time for {len(skewed)}/{len(out)} "
                      f"faults ({', '.join(f'{k} x{n}' for k, n in kinds.most_common())}); inject_time used")
    dup = [k for k, n in Counter(f.inject_timestamp for f in out).items() if n > 1]
    if dup:
        quirks.append(f"fault_list.json: inject_timestamp repeated for different faults: {dup}")
    return out


def _dependencies(path: Path, services: set[str], quirks: list[str]) -> dict[str, list[str]] | None:
    if not path.exists():
        return None
    deps: dict[str, set[str]] = {s: set() for s in services}
    dropped = Counter()
    with path.open(newline="", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            src, dst = r["Source"].strip(), r["Target"].strip()
            if src in services and dst in services and src != dst:
                deps[src].add(dst)
            else:
                dropped["IP target" if _IP_RE.fullmatch(dst) else f"{src}->{dst}"] += 1
    if dropped:
        quirks.append("dependency.csv: dropped rows: " + ", ".join(f"{k} x{n}" for k, n in dropped.items()))
    linked = {s for s, ds in deps.items() if ds} | {d for ds in deps.values() for d in ds}
    if services - linked:
        quirks.append(f"dependency.csv: no row for {sorted(services - linked)}")
    return {s: sorted(ds) for s, ds in deps.items()}


def _entry(path: Path, rows: dict[str, list[tuple[float, dict[str, float]]]]) -> tuple[str, str]:
    """The service whose server p95 equals the front-end p95 (front_service.csv) in the most minutes."""
    with path.open(newline="", encoding="utf-8") as f:
        front = {round(_unix(r["Time"]) / 60): _float(r["LatencyP95(s)"]) for r in csv.DictReader(f)}
    best, score, of = "", -1, 0
    for svc, series in rows.items():
        same = sum(1 for t, v in series
                   if math.isclose(v["PodServerLatencyP95(s)"], front.get(round(t / 60), math.nan), rel_tol=1e-9))
        if same > score:
            best, score, of = svc, same, len(series)
    return best, f"server p95 equals front_service.csv LatencyP95 in {score}/{of} minutes"


def load_day(root: Path, day: str) -> Day:
    base = root / day
    metric = base / "metric"
    quirks: list[str] = []
    pods = {service_of(p.name.removesuffix("_metric.csv")): p.name.removesuffix("_metric.csv")
            for p in sorted(metric.glob("*_metric.csv"))}
    rows = {s: _read_pod(metric / f"{pod}_metric.csv", quirks) for s, pod in pods.items()}
    faults = _faults(day, base / "fault_list.json", quirks)
    _note_gaps(rows, quirks)
    first = min(t for series in rows.values() for t, _ in series[:1])
    if faults and faults[0].at.timestamp() - first < 3600:
        quirks.append(f"metrics start {round((faults[0].at.timestamp() - first) / 60)} min before the first fault: "
                      f"it has (almost) no baseline")
    until = max(f.at.timestamp() for f in faults) + KEEP_AFTER_S if faults else math.inf
    rows = {s: [(t, v) for t, v in series if t <= until] for s, series in rows.items()}
    entry, entry_how = _entry(metric / "front_service.csv", rows)
    depends_on = _dependencies(metric / "dependency.csv", set(pods), quirks)
    if depends_on is None:
        quirks.append("no dependency.csv: topology is a star (the entry service depends on every other service)")
        depends_on = {s: [] for s in pods}
        depends_on[entry] = sorted(s for s in pods if s != entry)
        topology = f"star from {entry} (no dependency.csv)"
    else:
        topology = "dependency.csv (Source depends on Target)"
        roots = sorted(s for s in pods if not any(s in ds for ds in depends_on.values()))
        entry_how += f"; dependency.csv in-degree 0: {', '.join(roots)}"
    missing = sorted({f.service for f in faults} - set(pods))
    if missing:
        quirks.append(f"faults on services without metrics: {missing}")
    return Day(name=day, app=APPS.get(day, day), path=base, pods=pods, rows=rows, faults=faults,
               depends_on=depends_on, topology=topology, entry=entry, entry_how=entry_how, quirks=quirks)


def _num(v: float) -> str:
    return "NaN" if math.isnan(v) else repr(v)


def openmetrics(days: list[Day]) -> str:
    """Every gauge of every pod of `days`, one family at a time, samples in time order, ending with `# EOF`."""
    out: list[str] = []
    for g in GAUGES:
        out.append(f"# TYPE {g.name} gauge\n# HELP {g.name} {g.help}\n")
        for day in days:
            for svc in day.services:
                labels = f'{{service="{svc}",pod="{day.pods[svc]}"}}'
                out.extend(f"{g.name}{labels} {_num(v[g.column])} {t:.3f}\n" for t, v in day.rows[svc])
    out.append("# EOF\n")
    return "".join(out)
