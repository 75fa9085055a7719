"""Does the span that dominates slow traces' critical path name the fault? Nezha's injected faults, read as traces.

    .venv/bin/python -m benchmarks.traces_nezha                      # both days, the 20 slowest traces per fault
    .venv/bin/python -m benchmarks.traces_nezha --slowest 50 --after 120 --json /tmp/traces.json

For every fault in `fault_list.json` (OnlineBoutique 2022-08-22, TrainTicket 2023-01-29, read in place from
/work/shared/benchmarks/nezha), the spans of the `--after` seconds after the injection (`trace/HH_MM_trace.csv.gz`)
are grouped into traces, the `--slowest` longest are kept, and each names a service three ways:

- **critical path** (what `/sre traces` and the investigation quote): the service of the span with the most own time
  on the trace's critical path (`sre_bot.analysis.traces.critical_path`);
- **total span time** (the baseline, in the same run): the service whose spans add up to the most time in the trace
  (nested and concurrent spans counted in full, as a flame graph's widest service reads);
- **deepest slow span**: the service of the longest span that has no child.

The services named by the slowest traces are then voted (one vote per trace) and the winner compared with the
injected pod's service: top-1 and top-3 per method, per dataset and per fault kind. Nezha's spans carry no status
and no kind, so failed requests are invisible here and `exception` / `return` faults show only if they change time.
The numbers are the analysis's alone (no Tempo, no network): this measures the critical path, not the backend.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from sre_bot.analysis.traces import Span, Trace, critical_path

from ._nezha_data import Fault, _faults, service_of
from ._report import RESULTS_DIR, command_line, format_table, machine_info, pct, progress, save_and_say, utc_now

DATA = Path("/work/shared/benchmarks/nezha")
DAYS = {"2022-08-22": "OnlineBoutique", "2023-01-29": "TrainTicket"}
Method = Callable[[Trace], str | None]


def _files(day: Path, fault: Fault, after_s: int) -> list[Path]:
    out = []
    for m in range(0, after_s // 60 + 2):
        t = fault.at + timedelta(minutes=m)
        p = day / "trace" / f"{t:%H_%M}_trace.csv.gz"
        if p.exists():
            out.append(p)
    return out


def _traces(day: Path, fault: Fault, after_s: int) -> list[Trace]:
    lo = int(fault.at.timestamp() * 1e9)
    hi = lo + after_s * 10**9
    spans: dict[str, list[Span]] = defaultdict(list)
    for path in _files(day, fault, after_s):
        with gzip.open(path, "rt", encoding="utf-8", newline="") as f:
            for r in csv.DictReader(f):
                parent = r["ParentID"].strip()
                spans[r["TraceID"]].append(Span(
                    span_id=r["SpanID"], parent_id=None if parent in ("", "root") else parent,
                    service=service_of(r["PodName"]), name=r["OperationName"],
                    start_ns=int(r["StartTimeUnixNano"]), end_ns=int(r["EndTimeUnixNano"])))
    out = []
    for tid, ss in spans.items():
        t = Trace(tid, tuple(ss))
        if lo <= t.start_ns < hi:
            out.append(t)
    return out


def by_critical_path(t: Trace) -> str | None:
    cp = critical_path(t)
    return cp.dominant.service if cp is not None else None


def by_total_time(t: Trace) -> str | None:
    total: Counter[str] = Counter()
    for s in t.spans:
        total[s.service] += s.duration_ns
    return total.most_common(1)[0][0] if total else None


def by_deepest(t: Trace) -> str | None:
    parents = {s.parent_id for s in t.spans}
    leaves = [s for s in t.spans if s.span_id not in parents]
    return max(leaves, key=lambda s: s.duration_ns).service if leaves else None


METHODS: dict[str, Method] = {"critical path": by_critical_path, "total span time (baseline)": by_total_time,
                              "deepest slow span": by_deepest}


def _rank(traces: list[Trace], method: Method) -> list[str]:
    votes = Counter(s for s in (method(t) for t in traces) if s)
    return [s for s, _ in votes.most_common()]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--slowest", type=int, default=20, help="traces per fault (the longest ones)")
    ap.add_argument("--after", type=int, default=120, help="seconds after the injection read")
    ap.add_argument("--limit", type=int, default=0, help="only the first N faults of each day (a quick run)")
    ap.add_argument("--json", type=Path, default=RESULTS_DIR / "traces_nezha.json")
    args = ap.parse_args(argv)
    started = time.perf_counter()
    rows: list[dict[str, Any]] = []
    cp_seconds = 0.0
    cp_spans = 0
    for day, app in DAYS.items():
        faults = _faults(day, DATA / day / "fault_list.json", [])
        if args.limit:
            faults = faults[: args.limit]
        for f in faults:
            progress(f"[{app}] fault {f.index}/{len(faults)} {f.kind} at {f.service}")
            traces = _traces(DATA / day, f, args.after)
            slow = sorted(traces, key=lambda t: -t.duration_ns)[: args.slowest]
            row: dict[str, Any] = {"dataset": app, "day": day, "fault": f.index, "kind": f.kind, "truth": f.service,
                                   "traces": len(traces), "read": len(slow)}
            for name, method in METHODS.items():
                t0 = time.perf_counter()
                ranked = _rank(slow, method)
                if method is by_critical_path:
                    cp_seconds += time.perf_counter() - t0
                    cp_spans += sum(len(t.spans) for t in slow)
                row[name] = ranked[:3]
            rows.append(row)
    summary: list[list[str]] = []
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        groups[r["dataset"]].append(r)
        groups[f"{r['dataset']} {r['kind']}"].append(r)
    groups["all"] = rows
    results: dict[str, Any] = {}
    for g, rs in sorted(groups.items(), key=lambda kv: (kv[0] != "all", kv[0])):
        line = [g, str(len(rs))]
        for name in METHODS:
            top1 = sum(bool(r[name]) and r[name][0] == r["truth"] for r in rs) / len(rs)
            top3 = sum(r["truth"] in r[name] for r in rs) / len(rs)
            line += [pct(top1), pct(top3)]
            results.setdefault(g, {})[name] = {"top1": top1, "top3": top3, "n": len(rs)}
        summary.append(line)
    head = ["faults", "n"] + [f"{m.split(' (')[0]} {k}" for m in METHODS for k in ("top-1", "top-3")]
    print(format_table(head, summary, title=f"Nezha: the service named by the {args.slowest} slowest traces in the "
                                            f"{args.after} s after each injection"))
    cp = results["all"]["critical path"]["top1"]
    base = results["all"]["total span time (baseline)"]["top1"]
    ratio = cp / base if base else None
    print(f"\ncritical path top-1 / total-span-time top-1 = {ratio:.2f}" if ratio is not None else "")
    print(f"critical path: {cp_spans:,} spans in {cp_seconds:.2f} s "
          f"({cp_spans / cp_seconds / 1e3:,.0f}k spans/s)" if cp_seconds else "")
    save_and_say(args.json, {"benchmark": "traces_nezha", "when": utc_now(), "command": command_line(),
                             "machine": machine_info(), "settings": vars(args) | {"json": str(args.json)},
                             "results": results, "ratio_top1_vs_baseline": ratio, "faults": rows,
                             "critical_path_spans_per_s": cp_spans / cp_seconds if cp_seconds else None,
                             "elapsed_s": time.perf_counter() - started})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
