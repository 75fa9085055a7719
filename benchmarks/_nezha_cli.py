"""The Nezha benchmark's headline path: the real `sre-bot ask --json --no-llm` CLI, one subprocess per question.

For each fault and row the benchmark runs what a user would type, with the environment a user would set:

    PROMETHEUS_URL=… [LOKI_URL=…] SRE_BOT_CONFIG=<row's file> \\
        .venv/bin/sre-bot ask --json --no-llm --at <inject + offset − W/4> --window <W> "why is <entry> slow?"

`--at` sits three quarters of the way into the CLI's window (`investigation_window`), so `inject + offset − W/4`
gives exactly the in-process window `[inject + offset − W, inject + offset]`; every answer's JSON "window" is checked
against it. Each row's config is a file the CLI can read: the day's file as written, or (metrics only, or extra
signals) a variant written to a temporary folder and checked to load equal to the in-process config.

Environment: nothing of the caller's shell that configures the bot (`SRE_BOT_*`, backend URLs and tokens, Slack,
Anthropic) is passed on; the working directory is an empty temporary folder (no `.env`, no store file left behind).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import time
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from sre_bot.config import Config, load_config

from ._nezha_quiet import answer_fields
from ._report import REPO_ROOT

__all__ = ["cli_at", "cli_env", "cli_exe", "write_row_configs", "ask_cli", "cli_part", "quiet_cli_part",
           "CLI_TIMEOUT_S", "ENV_DROP_PREFIXES"]

CLI_TIMEOUT_S = 180.0  # a question that runs longer is killed and counted as an error (a miss)
# What a user's shell might hold that configures the bot: none of it reaches the CLI.
ENV_DROP_PREFIXES = ("SRE_BOT_", "PROMETHEUS_", "LOKI_", "ARGOCD_", "ALERTMANAGER_", "GRAFANA_", "ANTHROPIC_",
                     "SLACK_")


def cli_exe() -> str | None:
    """The repo's `sre-bot` entry point (the venv's), else the one on PATH."""
    local = REPO_ROOT / ".venv" / "bin" / "sre-bot"
    return str(local) if local.exists() else shutil.which("sre-bot")


def cli_at(at: datetime, window: timedelta) -> datetime:
    """The `--at` that makes the CLI's window end at `at` and span `window` (at is 3/4 of the way in)."""
    return at - window / 4


def cli_env(prometheus: str, config: Path, loki: str | None = None,
            base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The caller's environment without anything that configures the bot, plus what a user would set."""
    env = {k: v for k, v in (os.environ if base is None else base).items()
           if not k.startswith(ENV_DROP_PREFIXES)}
    env.update(PROMETHEUS_URL=prometheus, SRE_BOT_CONFIG=str(config))
    if loki:
        env["LOKI_URL"] = loki
    return env


def write_row_configs(app_file: Path, configs: Mapping[str, Config], out_dir: Path) -> dict[str, Path]:
    """A config file per row that loads equal to `configs[row]`: the day's file itself when it does, otherwise
    the file's YAML with the row's call graph and signals replaced, written to `out_dir`. Raises when a written
    file would not give the in-process config (the two paths must answer from the same config)."""
    raw = yaml.safe_load(app_file.read_text(encoding="utf-8")) or {}
    as_written = load_config(app_file, required=True)
    out: dict[str, Path] = {}
    for row, cfg in configs.items():
        if cfg == as_written:
            out[row] = app_file
            continue
        data = dict(raw)
        if cfg.call_graph != as_written.call_graph:
            data["call_graph"] = {"builtin": cfg.call_graph.builtin,
                                  **cfg.call_graph.model_dump(mode="json", exclude_defaults=True)}
        extra = {n: s.model_dump(mode="json", exclude_defaults=True) for n, s in cfg.signals.items()
                 if n not in as_written.signals}
        if extra:
            data["signals"] = {**(raw.get("signals") or {}), **extra}
        path = out_dir / f"{app_file.stem}-{row}.yml"
        head = (f"# {app_file.name} for the `{row}` row of benchmarks/nezha_rca.py (written by the benchmark for "
                f"`sre-bot ask`).\n")
        path.write_text(head + yaml.safe_dump(data, sort_keys=False, width=120), encoding="utf-8")
        if load_config(path, required=True) != cfg:
            raise RuntimeError(f"{path} does not load as the in-process `{row}` config")
        out[row] = path
    return out


async def ask_cli(exe: str, question: str, at: datetime, window: str, env: Mapping[str, str], cwd: Path,
                  sem: asyncio.Semaphore, *, timeout_s: float = CLI_TIMEOUT_S) -> dict[str, Any]:
    """Run `sre-bot ask --json --no-llm` once (when `sem` allows); its parsed JSON, exit code, wall seconds from
    start to exit, and stderr's last lines when it failed."""
    argv = [exe, "ask", "--json", "--no-llm", "--at", at.isoformat(), "--window", window, question]
    async with sem:
        t0 = time.perf_counter()
        proc = await asyncio.create_subprocess_exec(*argv, env=dict(env), cwd=cwd, stdout=asyncio.subprocess.PIPE,
                                                    stderr=asyncio.subprocess.PIPE)
        try:
            out, err = await asyncio.wait_for(proc.communicate(), timeout_s)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            return {"argv": argv, "exit": None, "wall_s": round(time.perf_counter() - t0, 3),
                    "error": f"timed out after {timeout_s:.0f}s"}
        wall = round(time.perf_counter() - t0, 3)
    res: dict[str, Any] = {"argv": argv, "exit": proc.returncode, "wall_s": wall}
    try:
        res["json"] = json.loads(out.decode("utf-8"))
    except ValueError:
        res["json"] = None
    if proc.returncode != 0 or res["json"] is None:
        tail = err.decode("utf-8", "replace").strip().splitlines()[-5:]
        res["error"] = f"exit {proc.returncode}: " + (" | ".join(tail) or "no JSON on stdout")
    return res


def _iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def cli_part(res: Mapping[str, Any], truth: str, expected: tuple[datetime, datetime],
             inprocess: Mapping[str, Any]) -> dict[str, Any]:
    """What the CLI showed for one fault and row, scored like the in-process answer, and compared with it:
    `same` when both show the same services in the same order (and both abstain or neither)."""
    data = res.get("json") or {}
    insufficient = bool(data.get("insufficient_evidence")) if data else True
    hyps = [h.get("service") for h in data.get("hypotheses") or []]
    shown = [] if insufficient else [s for s in hyps if s]
    part: dict[str, Any] = {
        "exit": res.get("exit"), "wall_s": res.get("wall_s"), "argv": res.get("argv"),
        "insufficient": insufficient, "shown": shown, "hypotheses": hyps,
        "shown_rank": shown.index(truth) + 1 if truth in shown else None,
        "shown_hit1": shown[:1] == [truth], "shown_hit3": truth in shown[:3],
        "confidence": (data.get("hypotheses") or [{}])[0].get("confidence") if shown else None,
        "ranking": [r.get("service") for r in (data.get("ranking") or [])[:5]],
        "gaps": list(data.get("gaps") or []), "answered_by": data.get("answered_by"),
    }
    if res.get("error"):
        part["error"] = res["error"]
    win = data.get("window")
    if win:
        part["window"] = win
        part["window_ok"] = (_iso(win["start"]), _iso(win["end"])) == expected
    else:
        part["window_ok"] = False
    part["extra_gaps"] = [g for g in part["gaps"] if g not in (inprocess.get("gaps") or [])]
    part["same"] = (shown == list(inprocess.get("shown") or [])
                    and insufficient == bool(inprocess.get("insufficient")) and not res.get("error"))
    return part


def quiet_cli_part(res: Mapping[str, Any], expected: tuple[datetime, datetime],
                   inprocess: Mapping[str, Any]) -> dict[str, Any]:
    """What the CLI answered on a no-fault window (`answer_fields` of its JSON), its window checked, and `same`
    when it shows what the in-process answer showed (both abstaining, or the same services in the same order)."""
    data = res.get("json") or {}
    part: dict[str, Any] = {"exit": res.get("exit"), "wall_s": res.get("wall_s"), "argv": res.get("argv"),
                            **answer_fields(data), "answered_by": data.get("answered_by")}
    if res.get("error") or not data:
        part["error"] = res.get("error") or "no JSON on stdout"
    win = data.get("window")
    part["window_ok"] = False
    if win:
        part["window"] = win
        part["window_ok"] = (_iso(win["start"]), _iso(win["end"])) == expected
    part["extra_gaps"] = [g for g in part["gaps"] if g not in (inprocess.get("gaps") or [])]
    part["same"] = (not part.get("error") and part["shown"] == list(inprocess.get("shown") or [])
                    and part["insufficient"] == bool(inprocess.get("insufficient")))
    return part
