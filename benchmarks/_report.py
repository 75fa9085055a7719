"""What every benchmark shares: the machine it ran on, the command, aligned tables, the JSON result file, progress,
and the evaluation report (`sre_bot/evaluation/report.py`) that `sre-bot eval` writes too.

    print(format_table(["method", "top-1"], [["engine", pct(0.5)]], title="accuracy"))
    write_json(path, {"machine": machine_info(), "command": command_line(), ...})
    progress("[3/24] frontend ...")   # to stderr, so stdout stays the table
    write_eval_report("nezha_rca", "Nezha RCA", scenario_results, settings={...})   # .json, .md, PNG

Tables, machine info and the command line come from the evaluation's report module, so a benchmark and
`sre-bot eval` print and record runs the same way.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sre_bot.evaluation import report as _eval_report
from sre_bot.evaluation.metrics import summarize
from sre_bot.evaluation.report import command_line, format_table, num, pct, render_terminal, run_document
from sre_bot.evaluation.results import ScenarioResult

__all__ = ["REPO_ROOT", "RESULTS_DIR", "PG_ADMIN", "machine_info", "command_line", "format_table", "write_json",
           "save_and_say", "progress", "pct", "num", "utc_now", "write_eval_report", "fresh_postgres"]

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO_ROOT / "benchmarks" / "results"  # git-ignored


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def machine_info(*, binaries: Sequence[str] = ()) -> dict[str, Any]:
    """Platform, CPU, Python, the repo commit (read-only git), and `--version` of the named binaries."""
    return _eval_report.machine_info(binaries=binaries, repo=REPO_ROOT)


def write_json(path: Path, payload: dict[str, Any]) -> Path:
    """Write `payload` (indented, UTF-8) atomically; parent folders are created."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def save_and_say(path: Path, results: dict[str, Any]) -> Path:
    """Write the results and print where (relative to the repo when inside it) and how long the run took."""
    write_json(path, results)
    shown = path.relative_to(REPO_ROOT) if path.resolve().is_relative_to(REPO_ROOT) else path
    print(f"\n{results['elapsed_s']:.0f}s; JSON: {shown}")
    return path


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def write_eval_report(name: str, title: str, scenarios: Sequence[ScenarioResult], *, settings: dict[str, Any],
                      elapsed_s: float, machine: dict[str, Any] | None = None, notes: Sequence[str] = (),
                      source: str = "benchmark", print_table: bool = False) -> dict[str, Path]:
    """The benchmark's cases as `sre-bot eval` reports them: `<name>-eval.json`, `.md` and `-reliability.png`."""
    summary = summarize(scenarios, source=source)
    doc = run_document(tool=name, title=title, scenarios=scenarios, summary=summary, settings=settings,
                       elapsed_s=elapsed_s, machine=machine or machine_info(), notes=notes)
    if print_table:
        print(render_terminal(doc))
    paths = _eval_report.write_report(doc, RESULTS_DIR, stem=f"{name}-eval")
    shown = [p.relative_to(REPO_ROOT) if p.resolve().is_relative_to(REPO_ROOT) else p for p in paths.values()]
    print("evaluation report: " + ", ".join(str(p) for p in shown))
    return paths


# The machine's PostgreSQL, where benchmarks that measure the store make a database of their own.
PG_ADMIN = os.environ.get("SRE_BOT_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


async def fresh_postgres(database: str) -> str | None:
    """`database` dropped and created afresh next to PG_ADMIN; its SQLAlchemy URL, or None when the server is not
    reachable (the benchmark then skips PostgreSQL and says so)."""
    import asyncpg

    try:
        conn = await asyncpg.connect(PG_ADMIN, timeout=3)
    except (OSError, asyncpg.PostgresError):
        return None
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        await conn.execute(f"CREATE DATABASE {database}")
    finally:
        await conn.close()
    base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"{base}/{database}"
