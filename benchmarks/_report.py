"""What every benchmark shares: the machine it ran on, the command, aligned tables, the JSON result file, progress.

    print(format_table(["method", "top-1"], [["engine", pct(0.5)]], title="accuracy"))
    write_json(path, {"machine": machine_info(), "command": command_line(), ...})
    progress("[3/24] frontend ...")   # to stderr, so stdout stays the table
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

__all__ = ["REPO_ROOT", "RESULTS_DIR", "machine_info", "command_line", "format_table", "write_json", "save_and_say", "progress",
           "pct", "num", "utc_now"]

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO_ROOT / "benchmarks" / "results"  # git-ignored
_NUMERIC = re.compile(r"^[-+]?[\d,.]+(?:[%x×s]|\s?(?:ms|s|MB|KB))?$|^[—-]$")


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _run(args: list[str]) -> str | None:
    try:
        out = subprocess.run(args, capture_output=True, text=True, timeout=10, cwd=REPO_ROOT)
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


def machine_info(*, binaries: Sequence[str] = ()) -> dict[str, Any]:
    """Platform, CPU, Python, the repo commit (read-only git), and `--version` of the named binaries."""
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "affinity_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
    }
    if shutil.which("git"):
        info["git_commit"] = _run(["git", "rev-parse", "HEAD"])
        status = _run(["git", "--no-optional-locks", "status", "--porcelain"])
        info["git_dirty_files"] = len(status.splitlines()) if status is not None else None
    for b in binaries:
        path = shutil.which(b)
        version = _run([path, "--version"]) if path else None
        info[f"{b}_version"] = version.splitlines()[0] if version else None
    return info


def command_line() -> str:
    """How this run was started, as one could type it again from the repo root."""
    prog = sys.argv[0]
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is not None and spec.name:
        prog = f"python -m {spec.name}"
    return " ".join([prog, *sys.argv[1:]])


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

    lines = []
    if title:
        lines.append(title)
    for n, r in enumerate(cells):
        parts = [(c.rjust(widths[i]) if side(i, c) == "r" and n else c.ljust(widths[i])) for i, c in enumerate(r)]
        lines.append("  ".join(parts).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


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
