"""How fast `sre-bot` starts: the median wall time of a few commands, against `python -c pass` in the same run.

    .venv/bin/python -m benchmarks.startup                 # 7 runs of each command
    .venv/bin/python -m benchmarks.startup --runs 15 --json /tmp/startup.json

Commands, each a fresh process with no working backend (LOKI_URL, ARGOCD_URL, ALERTMANAGER_URL, ANTHROPIC_API_KEY
and SLACK_* removed from the environment, PROMETHEUS_URL a loopback port that refuses at once, SRE_BOT_CONFIG
pointing at a file that does not exist): `python -c pass` (the interpreter alone, the baseline), `sre-bot ask
--help`, and `sre-bot ask --json --no-llm "why is x slow?"` (a whole answer: settings, config, deps, the engine on
no evidence, the JSON). The target is under 1 s for `ask`. Each command runs once untimed first (so bytecode caches
are warm), then `--runs` times; the table shows the median, min and max. `--importtime` adds the ten slowest imports
of the `ask` run (`python -X importtime`).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ._report import RESULTS_DIR, format_table, machine_info, num, save_and_say, utc_now

_BACKEND_VARS = ("PROMETHEUS_", "LOKI_", "ARGOCD_", "ALERTMANAGER_", "ANTHROPIC_", "SLACK_")


def _env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_BACKEND_VARS)}
    # a Prometheus that refuses at once (the discard port): `ask` with nothing configured exits 2 instead of answering
    env.update(SRE_BOT_CONFIG=str(tmp / "absent.yaml"), SRE_BOT_LLM_AUDIT_PATH=str(tmp / "llm-audit"),
               PROMETHEUS_URL="http://127.0.0.1:9")
    return env


def _commands() -> dict[str, list[str]]:
    bot = [sys.executable, "-m", "sre_bot.cli.main"]
    return {
        "python -c pass (baseline)": [sys.executable, "-c", "pass"],
        "sre-bot ask --help": [*bot, "ask", "--help"],
        'sre-bot ask --json --no-llm "why is x slow?"': [*bot, "ask", "--json", "--no-llm", "why is x slow?"],
    }


def _time(cmd: list[str], env: dict[str, str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True,
                   timeout=120)
    return time.perf_counter() - start


def _slowest_imports(cmd: list[str], env: dict[str, str], cwd: Path, n: int = 10) -> list[tuple[str, float]]:
    out = subprocess.run([cmd[0], "-X", "importtime", *cmd[1:]], env=env, cwd=cwd, capture_output=True, text=True,
                         timeout=120)
    rows = []
    for line in out.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            _, cumulative, name = line.split("|", 2)
            if cumulative.strip().isdigit() and not name.startswith("  "):  # top-level imports only
                rows.append((name.strip(), int(cumulative) / 1e6))
    return sorted(rows, key=lambda r: -r[1])[:n]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--json", type=Path, default=RESULTS_DIR / "startup.json")
    ap.add_argument("--importtime", action="store_true", help="also list the slowest imports of `ask`")
    args = ap.parse_args(argv)
    began = time.perf_counter()
    rows, results = [], []
    with tempfile.TemporaryDirectory(prefix="sre-bot-startup-") as d:
        tmp = Path(d)
        env = _env(tmp)
        for name, cmd in _commands().items():
            _time(cmd, env, tmp)  # warm the bytecode cache
            times = [_time(cmd, env, tmp) for _ in range(args.runs)]
            med = statistics.median(times)
            results.append({"command": name, "argv": cmd[1:], "median_s": med, "min_s": min(times),
                            "max_s": max(times), "runs": times})
            rows.append([name, num(med, 3), num(min(times), 3), num(max(times), 3)])
        imports: list[tuple[str, float]] = []
        if args.importtime:
            imports = _slowest_imports(list(_commands().values())[-1], env, tmp)
    base = results[0]["median_s"]
    for row, r in zip(rows, results, strict=True):
        row.append(num(r["median_s"] - base, 3))
    print(format_table(["command", "median s", "min s", "max s", "over baseline s"], rows,
                       title=f"sre-bot start-up, {args.runs} runs each (target: ask < 1 s)"))
    if imports:
        print(format_table(["top-level import", "cumulative s"], [[n, num(s, 3)] for n, s in imports],
                           title="slowest imports of `ask`"))
    payload: dict[str, Any] = {"benchmark": "startup", "when": utc_now(), "machine": machine_info(),
                               "runs": args.runs, "results": results, "slowest_imports": imports,
                               "elapsed_s": time.perf_counter() - began}
    save_and_say(args.json, payload)
    return 0


if __name__ == "__main__":
    sys.exit(main())
