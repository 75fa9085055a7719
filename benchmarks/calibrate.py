"""Refit the shipped confidence calibration on every dataset with ground truth, chosen and checked out of sample.

    .venv/bin/python -m benchmarks.calibrate                  # library + the recorded Nezha run; writes the file
    .venv/bin/python -m benchmarks.calibrate --check          # fit and report only; the shipped file is untouched
    .venv/bin/python -m benchmarks.calibrate --out my-calibration.json

Datasets (each question: the engine's whole ranking and the truth):
- **scenario library**: every shipped scenario through `sre-bot eval`'s runner (sandbox on loopback, the bot's real
  clients, no model); fault cases and no-cause cases.
- **Nezha OnlineBoutique / Nezha TrainTicket**: the engine inputs `python -m benchmarks.nezha_rca` recorded for
  every fault and config row (and its no-fault windows, when the run has them), re-run through the current engine
  (`--nezha PATH`, default benchmarks/results/nezha_rca.json; run that benchmark first, ~15 min).
- ITBench is not a dataset here: it carries alerts and a causal graph but no metrics, logs or traces, so the engine
  has nothing to rank on it (its alert grouping is measured by `benchmarks/correlation.py`).

Then (`sre_bot/evaluation/calibrate.py`): every method fitted leave-one-dataset-out, the lowest mean held-out Brier
wins and is refitted on everything; the abstention threshold is picked on the held-out probabilities; the file
records the scoring code's digest, so CI can tell when it is stale. Writes `sre_bot/evaluation/calibration.json`
(unless `--check` or `--out`), and a report `benchmarks/results/calibration.{json,md}` with per-dataset reliability
diagrams and risk–coverage tables of the held-out probabilities.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sre_bot.analysis.calibration import METHODS, CalibrationPoint, fit_method
from sre_bot.evaluation.calibrate import (
    HIGH,
    Question,
    balanced,
    choose,
    pick_threshold,
    score_points,
    scoring_digest,
    thresholds_table,
)
from sre_bot.investigation import ENGINE_VERSION

from ._nezha_replay import load_engine_inputs
from ._report import REPO_ROOT, RESULTS_DIR, command_line, progress, utc_now, write_json

__all__ = ["main", "library_questions", "nezha_questions"]

SHIPPED = REPO_ROOT / "sre_bot" / "evaluation" / "calibration.json"
LIBRARY = "scenario library"


def _question(dataset: str, name: str, ranking: Sequence[Any], truth: str | None, *, forced: bool = False,
              get: Any = getattr) -> Question:
    return Question(dataset=dataset, name=name,
                    scores=tuple(float(get(r, "score")) for r in ranking),
                    confidences=tuple(float(get(r, "engine_confidence")) for r in ranking),
                    truth=tuple(truth is not None and get(r, "service") == truth for r in ranking),
                    fault=truth is not None, forced=forced)


async def library_questions() -> list[Question]:
    """Every case of every shipped scenario, as `sre-bot eval --no-llm` runs it."""
    from sre_bot.cli.eval import DEFAULT_NOW, collect_scenarios
    from sre_bot.evaluation.runner import run_scenario
    from sre_bot.windows import parse_time

    now = parse_time(DEFAULT_NOW, now=datetime.now(timezone.utc))
    out = []
    for sc in collect_scenarios(()):
        r = await run_scenario(sc, now=now, use_llm=False, env_file=None)
        for c in r.cases:
            ranking = c.extra.get("ranking") or []
            out.append(_question(LIBRARY, f"{sc.name}/{c.case}", ranking, c.truth_root, get=lambda d, k: d[k],
                                 forced=c.extra.get("abstain_reason") == "past episode"))
    progress(f"{LIBRARY}: {len(out)} questions")
    return out


def _engine_ranking(path: Path) -> list[Any]:
    from sre_bot.analysis import engine

    inputs = load_engine_inputs(path)
    res = engine.analyse(inputs["evidence"], graph=inputs["graph"], focus=inputs.get("focus"),
                         window=inputs["window"], gaps=inputs.get("gaps", 0))
    return [{"service": c.service, "score": c.score01, "engine_confidence": c.confidence} for c in res.candidates]


def nezha_questions(path: Path) -> list[Question]:
    """The recorded run's faults (every config row) and no-fault windows, re-run through the current engine.
    Asked about a past moment (`--at`, as the CLI headline asks), so the "past episode" rule never forces."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    base = path.parent
    out = []
    for row in doc.get("faults", []):
        for name, part in row["variants"].items():
            if part.get("evidence_file"):
                f = Path(part["evidence_file"])
                ranking = _engine_ranking(f if f.is_absolute() else base / f)
                out.append(_question(f"Nezha {row['app']}", f"{row['app']} #{row['index']} {row['fault']} {name}",
                                     ranking, row["truth"], get=lambda d, k: d[k]))
    for row in doc.get("quiet", []) or []:
        rel = row.get("evidence_file")
        if rel:
            f = Path(rel)
            ranking = _engine_ranking(f if f.is_absolute() else base / f)
            if row.get("kind") == "recovering":
                continue  # the previous fault's recovery is in the window: neither a fault nor a quiet window
            out.append(_question(f"Nezha {row['app']}", f"{row['app']} quiet {row.get('kind')} {row.get('asked_at')}",
                                 ranking, None, get=lambda d, k: d[k]))
    progress(f"Nezha ({path}): {len(out)} questions "
             f"({sum(q.fault for q in out)} fault, {sum(not q.fault for q in out)} no-fault)")
    return out


def _risk_coverage(points: list[CalibrationPoint], total: int) -> list[dict[str, Any]]:
    from sre_bot.evaluation.selective import risk_coverage

    return [r.to_dict() for r in risk_coverage(points, total)]


def _f(x: float | None, d: int = 3) -> str:
    return "—" if x is None else f"{x:.{d}f}"


def render(doc: dict[str, Any]) -> str:
    chosen = doc["chosen"]
    lines = [f"# Confidence calibration ({doc['fitted_at']})", "",
             f"Command: `{doc['command']}`. Engine {doc['engine']} (scoring digest {doc['engine_digest']}).", "",
             "## Held out: each dataset scored by a calibration fitted on the others", "",
             "| method | " + " | ".join(doc["datasets"]) + " | mean Brier |", "|---" * (len(doc["datasets"]) + 2) + "|"]
    for m, row in doc["held_out"].items():
        cells = [f"Brier {_f(row['datasets'][d]['brier'])} · ECE {_f(row['datasets'][d]['ece'])}"
                 for d in doc["datasets"]]
        lines.append(f"| {m}{' (chosen)' if m == chosen else ''} | " + " | ".join(cells)
                     + f" | {_f(row['mean_brier'])} |")
    lines += ["", "## The chosen method, held out, per dataset", "",
              "| dataset | questions (fault / no-fault) | top answers | right | Brier | base-rate Brier | ECE | "
              f"mean p right / wrong | answers ≥ {HIGH} (right) |", "|---" * 9 + "|"]
    for d, s in doc["per_dataset"].items():
        h = s["held_out"]
        lines.append(f"| {d} | {s['questions']} ({s['fault']} / {s['quiet']}) | {h['points']} | {h['right']} | "
                     f"{_f(h['brier'])} | {_f(h['brier_base_rate'])} | {_f(h['ece'])} | "
                     f"{_f(h['mean_when_right'], 2)} / {_f(h['mean_when_wrong'], 2)} | "
                     f"{h['high']['answers']} ({h['high']['right']}) |")
    lines += ["", "Base-rate Brier: always saying the dataset's own share of right top answers (a constant that "
              "already knew the dataset).", "",
              "## Abstention (held-out probabilities)", "",
              "Per dataset: no-fault questions that abstained (right) · fault questions that abstained (missed) · "
              "answers named, of which right. The threshold shipped (←) maximises (right − wrong answers) per "
              "question, averaged over the datasets.", "",
              "| threshold | " + " | ".join(doc["datasets"]) + " | mean (right − wrong) / question |",
              "|---" * (len(doc["datasets"]) + 2) + "|"]
    for r in doc["thresholds"]:
        mark = " ←" if r["threshold"] == doc["abstain_below"] else ""
        cells = []
        for d in doc["datasets"]:
            v = r["datasets"][d]
            cells.append(f"{v['quiet_abstained']}/{v['quiet']} · {v['fault_abstained']}/{v['fault']} · "
                         f"{v['named_right']}/{v['named']}")
        lines.append(f"| {r['threshold']:.2f}{mark} | " + " | ".join(cells) + f" | {r['net_rate']:+.3f} |")
    lines += ["", "## Selective accuracy per dataset (held out; coverage over fault questions)", ""]
    for d, s in doc["per_dataset"].items():
        lines += [f"**{d}**", "", "| confidence ≥ | answers | coverage | right | accuracy |", "|---|---|---|---|---|"]
        for r in s["risk_coverage"]:
            lines.append(f"| {r['threshold']:.1f} | {r['answered']} | {_f(r['coverage'], 2)} | {r['right']} | "
                         f"{_f(r['accuracy'], 2)} |")
        lines.append("")
    for d, png in doc.get("diagrams", {}).items():  # reliability per dataset, then risk–coverage
        lines.append(f"Plot, {d}: `{png}`")
    return "\n".join(lines) + "\n"


def _diagrams(doc: dict[str, Any], out: Path) -> dict[str, str]:
    """A reliability diagram per dataset, and one risk–coverage plot with a line per dataset (held out)."""
    from sre_bot.evaluation.diagram import reliability_png, risk_coverage_png
    from sre_bot.evaluation.selective import SelectiveRow

    def shown(path: Path) -> str:
        return str(path.relative_to(REPO_ROOT) if path.resolve().is_relative_to(REPO_ROOT) else path)

    made = {}
    for d, s in doc["per_dataset"].items():
        h = s["held_out"]
        if not h["points"]:
            continue
        path = out / f"calibration-{d.lower().replace(' ', '-')}.png"
        cal = {"points": h["points"], "right": h["right"], "brier": h["brier"], "ece": h["ece"], "bins": h["bins"]}
        if reliability_png(cal, path, title=f"{d}, held out ({doc['chosen']})") is None:
            made[d] = shown(path)
    path = out / "calibration-risk-coverage.png"
    series = {d: [SelectiveRow.from_dict(r) for r in s["risk_coverage"]] for d, s in doc["per_dataset"].items()}
    if risk_coverage_png(series, path, title=f"Held out ({doc['chosen']}): accuracy at or above each confidence") \
            is None:
        made["risk–coverage, every dataset"] = shown(path)
    return made


async def _run(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    questions: list[Question] = []
    if not args.no_library:
        questions += await library_questions()
    if args.nezha.exists():
        questions += nezha_questions(args.nezha)
    else:
        progress(f"no recorded Nezha run at {args.nezha}: run `python -m benchmarks.nezha_rca` first "
                 f"(fitting on the library alone cannot be checked out of sample)")
    datasets = sorted({q.dataset for q in questions})
    if len(datasets) < 2:
        print("need at least two datasets to choose a method out of sample", file=sys.stderr)
        return 2
    methods = [m for m in METHODS if m in args.methods]
    chosen, table, probs = choose(questions, methods)
    held = probs[chosen]
    rows = thresholds_table(questions, held)
    threshold = args.abstain_below if args.abstain_below is not None else pick_threshold(rows)
    per: dict[str, Any] = {}
    for d in datasets:
        qs = [(q, p) for q, p in zip(questions, held, strict=True) if q.dataset == d]
        pts = [CalibrationPoint(p, q.truth[0]) for q, p in qs if p is not None]
        faults = sum(q.fault for q, _ in qs)
        engine_pts = [CalibrationPoint(q.confidences[0], q.truth[0]) for q, _ in qs if q.ranked]
        fault_pts = [CalibrationPoint(p, q.truth[0]) for q, p in qs if p is not None and q.fault]
        per[d] = {"questions": len(qs), "fault": faults, "quiet": len(qs) - faults,
                  "held_out": score_points(pts),
                  "engine_uncalibrated": {k: v for k, v in score_points(engine_pts).items()
                                          if k not in ("pairs", "bins")},
                  "risk_coverage": _risk_coverage(fault_pts, faults)}
    source = ", ".join(sorted(datasets, key=lambda d: (d != LIBRARY, d)))
    final = fit_method(chosen, [q.ranking() for q in questions], source=source, weights=balanced(questions))
    meta = {"engine": ENGINE_VERSION, "engine_digest": scoring_digest(), "abstain_below": threshold,
            "datasets": {d: {k: per[d][k] for k in ("questions", "fault", "quiet")} for d in datasets},
            "chosen_by": "lowest mean leave-one-dataset-out Brier of the top hypothesis",
            "held_out_brier": {m: table[m]["mean_brier"] for m in methods},
            "fitted_at": utc_now(), "command": "python -m benchmarks.calibrate"}
    fitted = type(final).from_dict({**final.to_dict(), **meta})
    doc = {"benchmark": "calibrate", "command": command_line(), "fitted_at": meta["fitted_at"],
           "engine": ENGINE_VERSION, "engine_digest": meta["engine_digest"], "datasets": datasets,
           "chosen": chosen, "held_out": table, "per_dataset": per, "thresholds": rows, "abstain_below": threshold,
           "calibration": fitted.to_dict(), "nezha_run": str(args.nezha), "elapsed_s": None}
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    doc["diagrams"] = _diagrams(doc, RESULTS_DIR)
    doc["elapsed_s"] = round(time.perf_counter() - t0, 1)
    write_json(RESULTS_DIR / "calibration.json", doc)
    text = render(doc)
    (RESULTS_DIR / "calibration.md").write_text(text, encoding="utf-8")
    print(text)
    target = args.out or (None if args.check else SHIPPED)
    if target is not None:
        target.write_text(json.dumps(fitted.to_dict(), indent=2) + "\n", encoding="utf-8")
        progress(f"calibration ({chosen}, {fitted.points} top answers, abstain below {threshold}) written to "
                 f"{target}")
    progress(f"report: {RESULTS_DIR / 'calibration.md'} ({doc['elapsed_s']}s)")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.calibrate", description=__doc__.split("\n\n")[0])
    p.add_argument("--nezha", type=Path, default=RESULTS_DIR / "nezha_rca.json",
                   help="a recorded nezha_rca run with its evidence files (default: %(default)s)")
    p.add_argument("--no-library", action="store_true", help="leave the scenario library out")
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    p.add_argument("--abstain-below", type=float, default=None, help="ship this threshold instead of the picked one")
    p.add_argument("--check", action="store_true", help="fit and report; do not write the shipped file")
    p.add_argument("--out", type=Path, default=None, help="write the calibration here instead of the shipped file")
    return asyncio.run(_run(p.parse_args(argv)))


if __name__ == "__main__":
    raise SystemExit(main())
