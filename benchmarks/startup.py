"""How fast `sre-bot` starts: the median wall time of a few commands, against `python -c pass` in the same run,
and `sre-bot serve` to its first healthy `GET /healthz`, against a bare aiohttp server.

    .venv/bin/python -m benchmarks.startup                 # 7 runs of each command
    .venv/bin/python -m benchmarks.startup --runs 15 --json /tmp/startup.json

Commands, each a fresh process with no working backend (LOKI_URL, ARGOCD_URL, ALERTMANAGER_URL, ANTHROPIC_API_KEY
and SLACK_* removed from the environment, PROMETHEUS_URL a loopback port that refuses at once, SRE_BOT_CONFIG
pointing at a file that does not exist): `python -c pass` (the interpreter alone, the baseline), `sre-bot ask
--help`, and `sre-bot ask --json --no-llm "why is x slow?"` (a whole answer: settings, config, deps, the engine on
no evidence, the JSON). The target is under 1 s for `ask`. Each command runs once untimed first (so bytecode caches
are warm), then `--runs` times; the table shows the median, min and max. `--importtime` adds the ten slowest imports
of the `ask` run (`python -X importtime`).

Serve: against the sandbox (`sre-bot sandbox --write-config`, its backends and config), HTTP mode with placeholder
Slack credentials and SQLite in a fresh temp directory each run; the time from starting the process to the first
200 from `GET /healthz` (polled every 10 ms), next to a bare aiohttp server (`python -c`, one /healthz route)
started and polled the same way. Target: ≤ 1 s (issue 21). `--importtime` also lists serve's slowest imports.
"""

from __future__ import annotations

import argparse
import http.client
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ._report import REPO_ROOT, RESULTS_DIR, format_table, machine_info, num, save_and_say, utc_now

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


_BARE = """
from aiohttp import web
async def healthz(_):
    return web.json_response({"status": "ok"})
app = web.Application()
app.router.add_get("/healthz", healthz)
web.run_app(app, host="127.0.0.1", port=int(__import__("sys").argv[1]), print=None)
"""


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _healthy(port: int) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
    try:
        conn.request("GET", "/healthz")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


def _until_healthy(cmd: list[str], env: dict[str, str], cwd: Path, port: int, timeout: float = 60) -> float:
    """Seconds from starting `cmd` to its first 200 from /healthz on `port`; the process is stopped after."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL)
    try:
        while not _healthy(port):
            if proc.poll() is not None:
                raise RuntimeError(f"{cmd[1:4]} exited ({proc.returncode}): {proc.stderr.read().decode()[-1500:]}"
                                   if proc.stderr else f"{cmd} exited")
            if time.perf_counter() - start > timeout:
                raise RuntimeError(f"{cmd[1:4]} not healthy within {timeout:.0f} s")
            time.sleep(0.01)
        return time.perf_counter() - start
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()


def _sandbox(tmp: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], dict[str, str]]:
    """`sre-bot sandbox` on loopback; the environment it says to export (its backends and config file)."""
    proc = subprocess.Popen([sys.executable, "-m", "sre_bot", "sandbox", "--port", "0", "--write-config",
                             str(tmp / "sandbox.yaml")], env=env, cwd=tmp, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    assert proc.stdout is not None
    exported: dict[str, str] = {}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline().decode()
        if not line:
            raise RuntimeError("sre-bot sandbox exited before it was ready")
        if line.startswith("export "):
            key, _, value = shlex.split(line)[1].partition("=")
            exported[key] = value
        if "Then `sre-bot serve`" in line:
            return proc, exported
    raise RuntimeError("sre-bot sandbox was not ready within 60 s")


def _serve_runs(tmp: Path, env: dict[str, str], runs: int) -> list[dict[str, Any]]:
    base = {k: v for k, v in env.items() if k not in ("PROMETHEUS_URL", "SRE_BOT_CONFIG")}
    base["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), base.get("PYTHONPATH")]))
    sandbox, exported = _sandbox(tmp, base)
    try:
        out = []
        for name, make in (
            ("bare aiohttp server (baseline)", lambda port, d: [sys.executable, "-c", _BARE, str(port)]),
            ("sre-bot serve → /healthz 200", lambda port, d: [sys.executable, "-m", "sre_bot", "serve"]),
        ):
            times = []
            for i in range(runs + 1):  # the first run is untimed (bytecode caches)
                port = _free_port()
                d = tmp / f"serve-{len(out)}-{i}"
                d.mkdir()
                run_env = base | exported | {
                    "SLACK_BOT_TOKEN": "xoxb-startup-bench", "SLACK_SIGNING_SECRET": "startup-bench-secret-0123456789",
                    "SRE_BOT_HTTP_HOST": "127.0.0.1", "SRE_BOT_HTTP_PORT": str(port),
                    "SRE_BOT_DB_URL": f"sqlite+aiosqlite:///{d / 'sre-bot.db'}"}
                took = _until_healthy(make(port, d), run_env, d, port)
                if i:
                    times.append(took)
            out.append({"command": name, "median_s": statistics.median(times), "min_s": min(times),
                        "max_s": max(times), "runs": times})
        return out
    finally:
        sandbox.terminate()
        sandbox.wait(15)


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
    ap.add_argument("--importtime", action="store_true", help="also list the slowest imports of `ask` and `serve`")
    ap.add_argument("--no-serve", action="store_true", help="only the commands (no serve → /healthz)")
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
        serve_imports: list[tuple[str, float]] = []
        if args.importtime:
            imports = _slowest_imports(list(_commands().values())[-1], env, tmp)
            serve_imports = _slowest_imports([sys.executable, "-c", "import sre_bot.cli.serve"], env, tmp)
        serve = [] if args.no_serve else _serve_runs(tmp, env, args.runs)
    base = results[0]["median_s"]
    for row, r in zip(rows, results, strict=True):
        row.append(num(r["median_s"] - base, 3))
    print(format_table(["command", "median s", "min s", "max s", "over baseline s"], rows,
                       title=f"sre-bot start-up, {args.runs} runs each (target: ask < 1 s)"))
    if serve:
        floor = serve[0]["median_s"]
        print(format_table(["process", "median s", "min s", "max s", "over baseline s"],
                           [[r["command"], num(r["median_s"], 3), num(r["min_s"], 3), num(r["max_s"], 3),
                             num(r["median_s"] - floor, 3)] for r in serve],
                           title=f"start to first healthy GET /healthz, {args.runs} runs each (target: serve ≤ 1 s)"))
    if imports:
        print(format_table(["top-level import", "cumulative s"], [[n, num(s, 3)] for n, s in imports],
                           title="slowest imports of `ask`"))
    if serve_imports:
        print(format_table(["top-level import", "cumulative s"], [[n, num(s, 3)] for n, s in serve_imports],
                           title="slowest imports of `serve` (import sre_bot.cli.serve)"))
    payload: dict[str, Any] = {"benchmark": "startup", "when": utc_now(), "machine": machine_info(),
                               "runs": args.runs, "results": results, "serve": serve, "slowest_imports": imports,
                               "slowest_serve_imports": serve_imports,
                               "elapsed_s": time.perf_counter() - began}
    save_and_say(args.json, payload)
    return 0


if __name__ == "__main__":
    sys.exit(main())
