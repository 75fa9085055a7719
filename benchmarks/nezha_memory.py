"""Incident memory on real data: does "seen before" find the right past case, and does it help the answer?

    .venv/bin/python -m benchmarks.nezha_memory                       # from benchmarks/results/nezha_rca.json
    .venv/bin/python -m benchmarks.nezha_memory --rca benchmarks/results/nezha_memory.rca.json

It replays the recorded engine inputs of a `benchmarks.nezha_rca` run (per fault, the typed evidence the engine was
given, `--evidence-dir`; each day's fullest row: call graph for OnlineBoutique, + logs for TrainTicket), so no
Prometheus is needed. Each day is replayed in time order with an empty memory: for each fault, the pure engine runs
again on its inputs (`engine.analyse`, as `services/investigate.py` does), its fingerprint
(`analysis.memory.fingerprint_of_analysis`) is compared with every case recorded so far (`analysis.memory.nearest`),
and then the fault's ground truth (the injected service, and the engine's cause kind for it) is recorded as the
team's confirmation: a new case, as a "Right cause?" yes or "the real cause was …" would make one.

For each fault: whether a past case of the same service and fault type exists (`repeat`), the best past case and its
similarity. At a threshold t, "seen before" is claimed when the best is ≥ t; it is right when that case has the
fault's service and type. Reported per day and per fault type: recall (right claims / repeats), precision (right
claims / claims), and the false "seen before" rate (wrong claims / faults). **The threshold is chosen on one day and
reported on the other** (leave-one-day-out): on each day, the lowest t in a grid whose wrong claims are ≤ 5% of
that day's faults; the shipped `services.memory.SEEN_THRESHOLD` should be the stricter of the two.

Top-1 of the answer, side by side in the same run: **without memory** (the engine's shown first hypothesis; none
when it abstains), and **with memory**: when "seen before" is claimed, the service of that past case (the answer's
"Seen before" section points at it; the engine's hypotheses and probabilities are left as they are), else the
engine's. A stricter variant only follows the memory when today's engine ranks that service at all.

Honest limits, printed with the tables: TrainTicket's faults are 4–9 minutes apart and each is asked about the
10 minutes around it, so a fault's window can hold the tail of the previous one on the same service; the
`non-overlapping` rows compare only with past cases whose window ended before this one began. OnlineBoutique has no
repeat at all (every claim there is false): it measures false "seen before" on hard negatives (the same service
with another fault type). Log templates in the recorded inputs are labels without their text, so the logs part
compares services with new templates, not the templates.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from sre_bot.analysis import engine
from sre_bot.analysis.memory import Fingerprint, Similarity, fingerprint_of_analysis, nearest

from ._nezha_replay import _shown_rule, load_engine_inputs
from ._report import (
    RESULTS_DIR,
    command_line,
    format_table,
    machine_info,
    pct,
    progress,
    save_and_say,
    utc_now,
)

__all__ = ["main", "replay_day", "choose_threshold", "score"]

FULLEST = ("logs", "callgraph", "metrics")  # the row whose inputs are replayed: the first a fault has
GRID = [round(0.30 + 0.01 * i, 2) for i in range(66)]  # 0.30 … 0.95
MAX_FALSE = 0.05  # the target: at most 5% false "seen before"
TARGET_RECALL = 0.90


def _row_inputs(row: dict[str, Any], results_dir: Path) -> tuple[str, Path] | None:
    for name in FULLEST:
        part = row["variants"].get(name)
        if part and part.get("evidence_file"):
            rel = Path(part["evidence_file"])
            return name, rel if rel.is_absolute() else results_dir / rel
    return None


def _best(pool: list[tuple[dict[str, Any], Fingerprint]], fp: Fingerprint, truth: str,
          kind: str) -> dict[str, Any] | None:
    """The nearest past case (whatever its score), and whether it is the fault's service and type."""
    near: list[tuple[dict[str, Any], Similarity]] = nearest(pool, fp, k=1)
    if not near:
        return None
    case, sim = near[0]
    return {"case": case["index"], "service": case["service"], "fault": case["fault"], "score": sim.score,
            "right": case["service"] == truth and case["fault"] == kind, "because": sim.because()}


def replay_day(rows: list[dict[str, Any]], results_dir: Path) -> list[dict[str, Any]]:
    """Each fault of one day, in time order, against the cases recorded before it."""
    rule = _shown_rule()
    cases: list[tuple[dict[str, Any], Fingerprint]] = []  # newest first
    out = []
    for row in sorted(rows, key=lambda r: r["inject_time"]):
        found = _row_inputs(row, results_dir)
        if found is None:
            continue
        variant, path = found
        inputs = load_engine_inputs(path)
        result = engine.analyse(inputs["evidence"], graph=inputs["graph"], focus=inputs.get("focus"),
                                window=inputs["window"], gaps=inputs.get("gaps", 0))
        cands = list(result.candidates)
        probs = rule.confidences(cands)
        abstain = not cands or probs[0] < rule.abstain_below or getattr(cands[0], "over_at", None) is not None
        shown_top = None if abstain else cands[0].service
        fp = fingerprint_of_analysis(result, inputs["evidence"], inputs["window"])
        truth, kind = row["truth"], row["fault"]
        win_start, win_end = inputs["window"]

        apart = [(c, f) for c, f in cases if c["window_end"] <= win_start]
        out.append({
            "day": row["day"], "index": row["index"], "inject_time": row["inject_time"], "truth": truth,
            "fault": kind, "variant": variant, "shown_top": shown_top,
            "ranked": [c.service for c in cands],
            "repeat": any(c["service"] == truth and c["fault"] == kind for c, _ in cases),
            "repeat_apart": any(c["service"] == truth and c["fault"] == kind for c, _ in apart),
            "best": _best(cases, fp, truth, kind), "best_apart": _best(apart, fp, truth, kind), "fingerprint_size": {
                "signals": len(fp.signals), "edges": len(fp.edges), "logs": len(fp.logs)},
        })
        truth_kind = next((c.cause_kind for c in cands if c.service == truth), None)
        case = {"index": row["index"], "service": truth, "fault": kind, "window_end": win_end}
        cases.insert(0, (case, fp.confirmed(truth, truth_kind)))
    return out


def score(faults: list[dict[str, Any]], t: float, *, apart: bool = False) -> dict[str, Any]:
    """Claims at threshold `t`: recall, precision, false "seen before" rate, and top-1 with and without memory."""
    key, rep = ("best_apart", "repeat_apart") if apart else ("best", "repeat")
    n = len(faults)
    claims = [f for f in faults if f[key] is not None and f[key]["score"] >= t]
    right = [f for f in claims if f[key]["right"]]
    repeats = [f for f in faults if f[rep]]
    wrong = len(claims) - len(right)
    no_repeat = [f for f in faults if not f[rep]]
    false_on_new = [f for f in claims if not f[rep]]

    def top1(f: dict[str, Any], strict: bool) -> str | None:
        b = f[key]
        if b is not None and b["score"] >= t and (not strict or b["service"] in f["ranked"]):
            return str(b["service"])
        return f["shown_top"]

    return {
        "threshold": t, "faults": n, "repeats": len(repeats), "claims": len(claims), "right": len(right),
        "wrong": wrong,
        "recall": len(right) / len(repeats) if repeats else None,
        # whatever its score: is the nearest past case the right one, when one exists?
        "nearest_right": sum(bool(f[key] and f[key]["right"]) for f in repeats) / len(repeats) if repeats else None,
        "precision": len(right) / len(claims) if claims else None,
        "false_rate": wrong / n if n else None,
        "false_on_new": len(false_on_new) / len(no_repeat) if no_repeat else None,
        "top1_without": sum(f["shown_top"] == f["truth"] for f in faults) / n if n else None,
        "top1_with": sum(top1(f, False) == f["truth"] for f in faults) / n if n else None,
        "top1_with_supported": sum(top1(f, True) == f["truth"] for f in faults) / n if n else None,
    }


def choose_threshold(faults: list[dict[str, Any]]) -> float:
    """The lowest threshold of the grid whose wrong claims are at most `MAX_FALSE` of the faults."""
    for t in GRID:
        s = score(faults, t)
        if s["false_rate"] is not None and s["false_rate"] <= MAX_FALSE:
            return t
    return GRID[-1]


def _p(v: float | None) -> str:
    return "—" if v is None else pct(v)


def _row(name: str, s: dict[str, Any]) -> list[str]:
    return [name, f"{s['threshold']:.2f}", str(s["faults"]), str(s["repeats"]), str(s["claims"]),
            f"{s['right']}", _p(s["nearest_right"]), _p(s["recall"]), _p(s["precision"]), _p(s["false_rate"]),
            _p(s["false_on_new"]),
            _p(s["top1_without"]), _p(s["top1_with"]), _p(s["top1_with_supported"])]


HEAD = ["", "t", "faults", "repeats", "claims", "right", "nearest right", "recall", "precision", "false/faults",
        "false/new", "top-1 w/o", "top-1 with", "with (ranked)"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rca", type=Path, default=RESULTS_DIR / "nezha_rca.json",
                   help="a benchmarks.nezha_rca results JSON with evidence files (default: %(default)s)")
    p.add_argument("--json", type=Path, default=RESULTS_DIR / "nezha_memory.json")
    p.add_argument("--md", type=Path, default=RESULTS_DIR / "nezha_memory.md")
    args = p.parse_args(argv)
    if not args.rca.exists():
        progress(f"{args.rca} not found: run `.venv/bin/python -m benchmarks.nezha_rca --no-cli --no-quiet` first "
                 "(it records the engine inputs this benchmark replays)")
        return 2
    import json

    t0 = time.perf_counter()
    rca = json.loads(args.rca.read_text(encoding="utf-8"))
    results_dir = args.rca.parent
    by_day: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rca["faults"]:
        by_day[row["day"]].append(row)
    days = sorted(by_day)
    faults: dict[str, list[dict[str, Any]]] = {}
    for day in days:
        progress(f"{day}: replaying {len(by_day[day])} faults in time order")
        faults[day] = replay_day(by_day[day], results_dir)

    chosen = {d: choose_threshold(faults[d]) for d in days}
    shipped = max(chosen.values())
    from sre_bot.services.memory import SEEN_THRESHOLD

    lines: list[str] = []

    def say(text: str = "") -> None:
        lines.append(text)
        print(text)

    say(f"# Incident memory on Nezha (`{command_line()}`)\n")
    say(f"Run {utc_now()}; replayed from `{args.rca.name}` (recorded {rca.get('started_at', '?')}). "
        f"Shipped threshold `SEEN_THRESHOLD` = {SEEN_THRESHOLD:.2f}; this run's leave-one-day-out choices: "
        + ", ".join(f"{d}: {t:.2f}" for d, t in chosen.items()) + f" (stricter: {shipped:.2f}).\n")
    tables: dict[str, Any] = {}
    for d in days:
        others = [o for o in days if o != d]
        rows = [_row(f"chosen on {d} (fitted)", score(faults[d], chosen[d]))]
        rows += [_row(f"chosen on {o} (held out)", score(faults[d], chosen[o])) for o in others]
        rows.append(_row("shipped", score(faults[d], SEEN_THRESHOLD)))
        rows.append(_row("shipped, non-overlapping", score(faults[d], SEEN_THRESHOLD, apart=True)))
        title = f"{d} ({by_day[d][0]['app']}): seen before at threshold t"
        say("```\n" + format_table(HEAD, rows, title=title) + "\n```\n")
        tables[d] = {"chosen_here": score(faults[d], chosen[d]),
                     "held_out": {o: score(faults[d], chosen[o]) for o in others},
                     "shipped": score(faults[d], SEEN_THRESHOLD),
                     "shipped_non_overlapping": score(faults[d], SEEN_THRESHOLD, apart=True)}
    # per fault type, at the shipped threshold, both days
    types: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for d in days:
        for f in faults[d]:
            types[f"{f['fault']}"].append(f)
    rows = [_row(k, score(v, SEEN_THRESHOLD)) for k, v in sorted(types.items())]
    rows.append(_row("all", score([f for d in days for f in faults[d]], SEEN_THRESHOLD)))
    say("```\n" + format_table(HEAD, rows, title="per fault type, shipped threshold, both days") + "\n```\n")
    sweep = {d: [score(faults[d], t) for t in GRID[::5]] for d in days}
    rows = [[d, f"{s['threshold']:.2f}", _p(s["recall"]), _p(s["precision"]), _p(s["false_rate"]),
             _p(s["top1_with"])] for d in days for s in sweep[d]]
    say("```\n" + format_table(["day", "t", "recall", "precision", "false/faults", "top-1 with"], rows,
                               title="threshold sweep") + "\n```\n")
    say("Per fault (shipped threshold): day, time, truth, type, repeat?, best past case (score), right?")
    for d in days:
        for f in faults[d]:
            b = f["best"]
            mark = "" if b is None else (f"#{b['case']} {b['service']} {b['fault']} {b['score']:.2f}"
                                         + (" ✓" if b["right"] else " ✗") + (" (claimed)" if b["score"] >=
                                                                             SEEN_THRESHOLD else ""))
            say(f"- {d} {f['inject_time'][11:16]} {f['truth']} {f['fault']} repeat={'yes' if f['repeat'] else 'no'}"
                f" shown={f['shown_top'] or '—'} best: {mark or '—'}")
    say("\nLimits: TrainTicket's faults are 4–9 min apart and each window is 10 min, so a window can hold the tail "
        "of the previous fault (see the non-overlapping rows); OnlineBoutique has no repeated (service, type) at "
        "all, so there every claim is false; the recorded log evidence has no template text (the logs part "
        "compares services with new templates).")
    elapsed = time.perf_counter() - t0
    args.md.parent.mkdir(parents=True, exist_ok=True)
    args.md.write_text("\n".join(lines) + "\n", encoding="utf-8")
    save_and_say(args.json, {
        "benchmark": "nezha_memory", "started_at": utc_now(), "command": command_line(), "machine": machine_info(),
        "rca": str(args.rca), "rca_started_at": rca.get("started_at"), "grid": GRID, "max_false": MAX_FALSE,
        "chosen": chosen, "shipped_threshold": SEEN_THRESHOLD, "tables": tables, "sweep": sweep,
        "faults": faults, "elapsed_s": elapsed})
    return 0


if __name__ == "__main__":
    sys.exit(main())
