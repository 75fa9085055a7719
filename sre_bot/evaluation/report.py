"""The evaluation report, the same for `sre-bot eval` and the benchmark runners: a table for the terminal, a JSON
file, and a Markdown report with a reliability diagram (PNG), selective accuracy (a risk–coverage table and PNG)
and a row per case.

    doc = run_document(tool="sre-bot eval", title=..., scenarios=results, summary=summarize(results), ...)
    print(render_terminal(doc))
    paths = write_report(doc, out_dir, stem="eval")     # eval.json, eval.md, eval-reliability.png
                                                        # (and eval-risk-coverage.png next to them)

The document is plain JSON (what `--json` prints); both renderers read only it.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .diagram import reliability_png, risk_coverage_png
from .metrics import METRIC_LABELS
from .results import ScenarioResult
from .selective import SelectiveRow, describe_trusted, render_table
from .thresholds import Check

__all__ = ["format_table", "pct", "num", "machine_info", "command_line", "run_document", "render_terminal",
           "render_markdown", "write_report", "SUMMARY_METRICS"]

SUMMARY_METRICS = ("correlation_f1", "incident_root", "top1", "top3", "cause_kind", "abstention",
                   "false_abstention", "grounding", "action", "gaps")
_NUMERIC = re.compile(r"^[-+]?[\d,.]+(?:[%x×s]|\s?(?:ms|s|MB|KB))?$|^[—-]$")


def pct(x: float | None, digits: int = 1) -> str:
    return "—" if x is None else f"{x * 100:.{digits}f}%"


def num(x: float | None, digits: int = 1) -> str:
    return "—" if x is None else f"{x:,.{digits}f}"


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], *, title: str | None = None,
                 align: str | None = None) -> str:
    """Plain text, one space-padded column per header; numbers right-aligned unless `align` ("lrr...") says."""
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells if i < len(r)) for i in range(len(headers))]

    def side(i: int, text: str) -> str:
        if align and i < len(align):
            return align[i]
        return "r" if _NUMERIC.match(text.strip()) else "l"

    lines = [title] if title else []
    for n, r in enumerate(cells):
        parts = [(c.rjust(widths[i]) if side(i, c) == "r" and n else c.ljust(widths[i])) for i, c in enumerate(r)]
        lines.append("  ".join(parts).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _run(args: list[str], cwd: Path | None = None) -> str | None:
    try:
        out = subprocess.run(args, capture_output=True, text=True, timeout=10, cwd=cwd)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info(*, binaries: Sequence[str] = (), repo: Path | None = None) -> dict[str, Any]:
    """Platform, CPU, Python, the repo commit (read-only git), and `--version` of the named binaries."""
    info: dict[str, Any] = {
        "platform": platform.platform(), "machine": platform.machine(), "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "affinity_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "python": sys.version.split()[0], "implementation": platform.python_implementation(),
    }
    if shutil.which("git"):
        info["git_commit"] = _run(["git", "rev-parse", "HEAD"], repo)
        status = _run(["git", "--no-optional-locks", "status", "--porcelain"], repo)
        info["git_dirty_files"] = len(status.splitlines()) if status is not None else None
    for b in binaries:
        path = shutil.which(b)
        version = _run([path, "--version"]) if path else None
        info[f"{b}_version"] = version.splitlines()[0] if version else None
    return info


def command_line() -> str:
    """How this run was started, as one could type it again."""
    prog = sys.argv[0]
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    if spec is not None and spec.name:
        prog = f"python -m {spec.name}"
    elif prog.endswith("sre-bot"):
        prog = "sre-bot"
    return " ".join([prog, *sys.argv[1:]])


def run_document(*, tool: str, title: str, scenarios: Sequence[ScenarioResult], summary: dict[str, Any],
                 settings: dict[str, Any], elapsed_s: float, checks: Sequence[Check] = (),
                 machine: dict[str, Any] | None = None, notes: Sequence[str] = ()) -> dict[str, Any]:
    return {
        "tool": tool, "title": title, "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": command_line(), "machine": machine if machine is not None else machine_info(),
        "settings": settings, "elapsed_s": round(elapsed_s, 2), "summary": summary,
        "thresholds": [{"metric": c.metric, "value": c.value, "op": c.op, "bound": c.bound, "ok": c.ok,
                        "text": c.describe()} for c in checks],
        "passed": all(c.ok for c in checks), "notes": list(notes),
        "scenarios": [s.to_dict() for s in scenarios],
    }


def _cell(v: Any) -> str:
    return "—" if v is None else ("✓" if v is True else "✗" if v is False else str(v))


def _case_rows(doc: dict[str, Any]) -> list[list[str]]:
    rows = []
    for s in doc["scenarios"]:
        corr = s.get("correlation") or {}
        f1 = pct(corr.get("f1"), 0) if corr else "—"
        if not s["cases"]:
            rows.append([s["name"], "", "", "error: " + (s.get("error") or "no truth"), "", "", "", "", "", f1,
                         "—", f"{s['wall_s']:.1f}s"])
        for c in s["cases"]:
            truth = f"{c['truth_root']} {c['truth_cause']}" if c["fault"] else "no cause"
            if c.get("error"):
                answer = f"error: {c['error'][:40]}"
            elif c["abstained"]:
                answer = "insufficient evidence"
            else:
                answer = ", ".join(c["services"][:3])
            right = c["top1"] if c["fault"] else c["abstained"]
            conf = "—" if c["confidence"] is None else f"{c['confidence']:.2f}"
            if c.get("calibrated") is not None:
                conf += f"→{c['calibrated']:.2f}"
            quotes = "—" if c["quotes_shown"] is None else f"{c['quotes_verified']}/{c['quotes_shown']}"
            toks = c.get("tokens") or {}
            tokens = sum(toks.get(k, 0) for k in ("input", "cache_write", "cache_read", "output"))
            rows.append([s["name"], c["case"], truth, answer, _cell(right), conf,
                         _cell(c["kind_ok"] if c["fault"] else None), _cell(c["action_ok"]), quotes, f1,
                         f"{tokens:,}" if toks else "—", f"{c['wall_s']:.1f}s" if c.get("wall_s") is not None else "—"])
            f1 = ""
    return rows


_CASE_HEADERS = ["scenario", "case", "truth", "answer (top 3)", "right", "conf", "kind", "action", "quotes",
                 "corr F1", "tokens", "wall"]


def _summary_rows(doc: dict[str, Any]) -> list[list[str]]:
    s = doc["summary"]
    bounds = {t["metric"]: f"{t['op']} {t['bound']:g} "
                           f"{'skipped' if t['value'] is None else 'ok' if t['ok'] else 'FAILED'}"
              for t in doc["thresholds"]}
    rows = []
    for m in SUMMARY_METRICS:
        v = s.get(m) or {}
        count = f"{v.get('hits')}/{v.get('n')}" if "n" in v else (
            f"{v.get('pairs_both')}/{v.get('pairs_truth')} pairs" if m == "correlation_f1" else "")
        rows.append([METRIC_LABELS[m], pct(v.get("value")), count, bounds.get(m, "")])
    cal = s.get("calibration") or {}
    for m in ("brier", "ece", "brier_calibrated", "ece_calibrated", "brier_loo", "ece_loo"):
        val = cal.get(m)
        if val is None and m not in ("brier", "ece"):
            continue  # no second confidence (the shown one is the calibrated one), or too few points to refit
        rows.append([METRIC_LABELS[m], "—" if val is None else f"{val:.3f}",
                     f"{cal.get('points', 0)} answers" if val is not None else "", bounds.get(m, "")])
    rows.append([METRIC_LABELS["errors"], str(s.get("errors", 0)), "", bounds.get("errors", "")])
    toks = s.get("tokens") or {}
    if toks:
        total_in = toks.get("input", 0) + toks.get("cache_write", 0) + toks.get("cache_read", 0)
        rows.append(["tokens (input+cache / output)", f"{total_in:,} / {toks.get('output', 0):,}",
                     f"{toks.get('requests', 0)} requests, ${s.get('cost_usd', 0):.4f}", ""])
    w = s.get("wall_s") or {}
    rows.append(["wall time per scenario (mean / max)", f"{num(w.get('mean_per_scenario'), 2)}s / "
                 f"{num(w.get('max_per_scenario'), 2)}s", f"{num(w.get('total'), 1)}s in all", ""])
    return rows


def render_terminal(doc: dict[str, Any]) -> str:
    s = doc["summary"]
    by = ", ".join(f"{k} {v}" for k, v in s.get("answered_by", {}).items()) or "nobody"
    head = (f"{doc['title']} — {s['scenarios']} scenarios, {s['cases']} questions (answered by {by}); "
            f"{doc['elapsed_s']:.0f}s")
    out = [head, "", format_table(_CASE_HEADERS, _case_rows(doc), align="llllllllrrrr"), "",
           format_table(["metric", "value", "count", "threshold"], _summary_rows(doc), align="lrrl")]
    failed = [t["text"] for t in doc["thresholds"] if not t["ok"]]
    if failed:
        out += ["", "Regression gate FAILED:", *(f"  {t}" for t in failed)]
    elif doc["thresholds"]:
        out += ["", f"Regression gate passed ({len(doc['thresholds'])} thresholds)."]
    return "\n".join(out)


def _md_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    esc = lambda x: str(x).replace("|", "\\|").replace("\n", " ")  # noqa: E731
    lines = ["| " + " | ".join(map(esc, headers)) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(esc(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def _selective_lines(sel: dict[str, Any], png: str | None, png_note: str | None) -> list[str]:
    if not sel:
        return []
    lines = ["## Selective accuracy", "",
             "If only the answers with a confidence at or above a threshold are trusted: how many questions that "
             "leaves answered (coverage) and how often those answers were right (accuracy).", ""]
    if png:
        lines += [f"![risk–coverage plot]({png})", ""]
    elif png_note:
        lines += [f"(No risk–coverage plot: {png_note}.)", ""]
    if not sel.get("total"):
        return lines + ["No question had a true root cause or an answer naming one: nothing to select.", ""]
    no_cause = sel.get("no_cause_answers") or 0
    total, answers = sel.get("total", 0), sel.get("answers", 0)
    lines.append(f"{total} questions ({sel.get('fault_cases', 0)} with a true root cause"
                 + (f", {no_cause} without one that named a cause anyway, a wrong answer" if no_cause else "")
                 + f"); {answers} answered with a confidence (the {sel.get('confidence', 'stated')} one, as shown); "
                 f"the {total - answers} not answered are not covered.")
    rows = [SelectiveRow.from_dict(r) for r in sel.get("rows") or []]
    if rows:
        lines += ["", render_table(rows)]
    trusted = sel.get("trusted")
    lines += ["", describe_trusted(SelectiveRow.from_dict(trusted) if trusted else None)]
    if sel.get("aurc") is not None:
        best = sel.get("aurc_optimal")
        lines += ["", f"AURC (area under the risk–coverage curve, mean share wrong over the coverage levels, most "
                      f"confident first; unanswered questions count as wrong; lower is better): {sel['aurc']:.3f}"
                      + (f" (the same answers perfectly ranked: {best:.3f})." if best is not None else ".")]
    return lines + [""]


def render_markdown(doc: dict[str, Any], *, png: str | None, png_note: str | None = None,
                    rc_png: str | None = None, rc_png_note: str | None = None) -> str:
    s, m = doc["summary"], doc["machine"]
    cal = s.get("calibration") or {}
    fitted = cal.get("fitted") or {}
    lines = [f"# {doc['title']}", "",
             f"`{doc['command']}` — {doc['when']}, {doc['elapsed_s']:.0f}s on {m.get('cpu')} ×{m.get('cpu_count')}, "
             f"Python {m.get('python')}" + (f", commit {str(m['git_commit'])[:10]}" if m.get("git_commit") else ""),
             "", "Settings: " + ", ".join(f"{k} `{v}`" for k, v in doc["settings"].items() if v is not None), "",
             "## Summary", "", _md_table(["metric", "value", "count", "threshold"], _summary_rows(doc)), ""]
    lines += [f"- {n}" for n in doc.get("notes", [])]
    lines += ["", "## Calibration", ""]
    if png:
        lines += [f"![reliability diagram]({png})", ""]
    elif png_note:
        lines += [f"(No reliability diagram: {png_note}.)", ""]
    if cal.get("points"):
        lines.append(f"{cal['points']} answers named a cause with a confidence; {cal['right']} were right. A Platt "
                     f"fit on them: method {fitted.get('method')}, a = {fitted.get('a', 0):.3f}, "
                     f"b = {fitted.get('b', 0):.3f}.")
    lines += [""] + _selective_lines(s.get("selective") or {}, rc_png, rc_png_note)
    lines += ["## Cases", "", _md_table(_CASE_HEADERS, _case_rows(doc)), ""]
    problems = [(sc["name"], c["case"], p) for sc in doc["scenarios"] for c in sc["cases"]
                for p in (c.get("unverified") or []) + ([c["error"]] if c.get("error") else [])]
    problems += [(sc["name"], "", sc["error"]) for sc in doc["scenarios"] if sc.get("error")]
    if problems:
        lines += ["## Problems", "", *(f"- `{a}` {b}: {p}" for a, b, p in problems), ""]
    return "\n".join(lines)


def write_report(doc: dict[str, Any], out_dir: Path, *, stem: str) -> dict[str, Path]:
    """`<stem>.json`, `<stem>.md` and (with confidences and matplotlib) `<stem>-reliability.png` in `out_dir`; the
    risk–coverage plot `<stem>-risk-coverage.png` next to them, named in the Markdown (not in the returned paths)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    png = out_dir / f"{stem}-reliability.png"
    note = reliability_png(doc["summary"].get("calibration") or {}, png, title=doc["title"])
    rc_png, rc_note = _write_risk_coverage(doc, out_dir / f"{stem}-risk-coverage.png")
    paths = {"json": out_dir / f"{stem}.json", "markdown": out_dir / f"{stem}.md"}
    if note is None:
        paths["png"] = png
    tmp = paths["json"].with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    tmp.replace(paths["json"])
    paths["markdown"].write_text(render_markdown(doc, png=png.name if note is None else None, png_note=note,
                                                 rc_png=rc_png, rc_png_note=rc_note), encoding="utf-8")
    return paths


def _write_risk_coverage(doc: dict[str, Any], path: Path) -> tuple[str | None, str | None]:
    """(the PNG's file name, None) when written, else (None, why not)."""
    sel = doc["summary"].get("selective") or {}
    rows = [SelectiveRow.from_dict(r) for r in sel.get("rows") or []]
    label = doc["title"] + (f" (AURC {sel['aurc']:.3f})" if sel.get("aurc") is not None else "")
    note = risk_coverage_png({label: rows}, path,
                             title=f"{doc['title']}\nselective accuracy: {sel.get('answers', 0)} answers to "
                                   f"{sel.get('total', 0)} questions, {sel.get('confidence', 'stated')} confidence")
    return (path.name, None) if note is None else (None, note)
