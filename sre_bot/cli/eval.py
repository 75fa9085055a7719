"""`sre-bot eval [PATH...] [--no-llm] [--json] [--out DIR]`: every scenario through the bot, scored against its truth.

PATH is a folder of scenario YAML files, a file, or a shipped scenario's name (default: every shipped scenario).
Each scenario runs on its own sandbox on loopback with the bot's real clients (`evaluation/runner.py`); the model
answers when ANTHROPIC_API_KEY is set and `--no-llm` is not given. The clock is frozen at `--now` (default a fixed
instant, so every run sees the same data: seasonality depends on the time of day).

Prints a table (or, with `--json`, the JSON document), writes `eval.json`, `eval.md` and `eval-reliability.png` to
`--out` (default `benchmarks/results/eval/` in a checkout, else `./sre-bot-eval/`), and checks the thresholds
(`evaluation/thresholds.yaml`, the `engine` or `llm` section by who answered): exit 1 when one fails, naming it.
The shipped thresholds are the whole library's; on a subset (`PATH`, `--only`) only the invariants hold — every
shown quote verified, every missing backend said, no crash — unless `--thresholds FILE` is given.
The engine's confidences are shown as the shipped calibration maps them; `python -m benchmarks.calibrate` refits
it on the library and the real benchmark data together.
"""

from __future__ import annotations

import fnmatch
import json
import sys
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TextIO

from ..errors import UsageError
from ..evaluation.metrics import summarize
from ..evaluation.report import render_terminal, run_document, write_report
from ..evaluation.runner import eval_settings, run_scenario
from ..evaluation.thresholds import check_thresholds, load_thresholds
from ..investigation import ENGINE_VERSION
from ..sandbox.scenario import Scenario, list_scenarios, load_scenario
from ..services.confidence import shipped_calibration
from ..windows import parse_time

__all__ = ["run_eval", "DEFAULT_NOW", "INVARIANTS", "collect_scenarios", "default_out_dir"]

DEFAULT_NOW = "2026-11-21T14:35:00Z"  # the sandbox tests' instant: the same data on every run
INVARIANTS: dict[str, dict[str, float]] = {"grounding": {"min": 1.0}, "gaps": {"min": 1.0}, "errors": {"max": 0}}


def collect_scenarios(paths: Sequence[str], only: Sequence[str] = ()) -> list[Scenario]:
    """Folders (every *.yaml / *.yml, sorted), files and shipped names; `only` keeps names matching a pattern."""
    files: list[str | Path] = []
    for p in paths or list_scenarios():
        path = Path(p)
        if path.is_dir():
            found = sorted([*path.glob("*.yaml"), *path.glob("*.yml")])
            if not found:
                raise UsageError(f"no scenario files (*.yaml) in {path}")
            files += found
        else:
            files.append(p)
    scenarios = [load_scenario(f) for f in files]
    if only:
        scenarios = [s for s in scenarios if any(fnmatch.fnmatch(s.name, pat) or pat in s.name for pat in only)]
        if not scenarios:
            raise UsageError(f"no scenario matches {', '.join(only)}")
    missing = [s.name for s in scenarios if s.truth is None]
    if missing:
        raise UsageError(f"these scenarios have no `truth:` to score against: {', '.join(missing)}")
    return scenarios


def default_out_dir() -> Path:
    return Path("benchmarks/results/eval") if Path("benchmarks").is_dir() else Path("sre-bot-eval")


def _progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


async def run_eval(paths: Sequence[str] = (), *, use_llm: bool = True, as_json: bool = False,
                   out_dir: str | Path | None = None, only: Sequence[str] = (), thresholds: str | None = None,
                   check: bool = True, now: str = DEFAULT_NOW,
                   env_file: str | None = ".env", out: TextIO | None = None) -> int:
    out = out or sys.stdout
    when = parse_time(now, now=datetime.now(timezone.utc)) if now != "now" else datetime.now(timezone.utc)
    scenarios = collect_scenarios(paths, only)
    base = eval_settings({}, env_file=env_file)
    model = use_llm and base.anthropic_api_key is not None
    profile = "llm" if model else "engine"
    whole_library = not paths and not only
    if not check:
        bounds, which = {}, "not checked"
    elif thresholds or whole_library:
        bounds, which = load_thresholds(thresholds, profile), f"{thresholds or 'shipped thresholds.yaml'} [{profile}]"
    else:
        bounds, which = dict(INVARIANTS), "invariants only (a subset of the library)"
    started = time.perf_counter()
    results = []
    for i, sc in enumerate(scenarios, 1):
        r = await run_scenario(sc, now=when, use_llm=use_llm, env_file=env_file)
        results.append(r)
        marks = " ".join(("✓" if c.top1 else "✗") if c.fault else ("✓" if c.abstained else "✗") for c in r.cases)
        _progress(f"[{i}/{len(scenarios)}] {sc.name}: {marks or r.error or 'no case'} ({r.wall_s:.1f}s)")
    summary = summarize(results)
    shown = None if model else shipped_calibration()
    checks = check_thresholds(summary, bounds)
    settings = {"answered by": "engine + model" if model else "engine only", "engine": ENGINE_VERSION,
                "model": base.anthropic_model if model else None, "now": when.isoformat(),
                "thresholds": which,
                "calibration shown": shown.describe() if shown else "none (the engine's own confidence)"}
    notes = ["Cause kind of a model's answer is read from the words of its cause (approximate)."] if model else [
        "Confidence is the shipped calibration's probability; the library is one of the datasets it was fitted on, "
        "so these calibration scores are in-sample. Held-out scores per dataset: `python -m benchmarks.calibrate` "
        "(benchmarks/results/calibration.md)."]
    doc = run_document(tool="sre-bot eval", title="sre-bot eval", scenarios=results, summary=summary,
                       settings=settings, elapsed_s=time.perf_counter() - started, checks=checks, notes=notes)
    target = Path(out_dir) if out_dir else default_out_dir()
    paths_written = write_report(doc, target, stem="eval")
    if as_json:
        out.write(json.dumps(doc, indent=2, ensure_ascii=False, default=str) + "\n")
    else:
        out.write(render_terminal(doc) + "\n")
    _progress("wrote " + ", ".join(str(p) for p in paths_written.values()))
    return 0 if all(c.ok for c in checks) else 1
