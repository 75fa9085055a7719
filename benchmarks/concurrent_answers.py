"""Answers under a burst: one lone mention, then 10 at once about different services, then 10 at once about the same
service, each answer's latency next to the lone one's, through a real `sre-bot serve` against `sre-bot sandbox`.

    .venv/bin/python -m benchmarks.concurrent_answers               # the default shop, 3 lone answers as baseline
    .venv/bin/python -m benchmarks.concurrent_answers --lone 1      # a quicker run

Every process is real and separate: `sre-bot sandbox` (the simulated Prometheus, Loki, Argo CD, Alertmanager and
`--write-config`), `sre-bot serve` in HTTP mode (no model, SQLite in a temp directory, its Slack Web API calls going
to the fake Slack of `tests/fakes/slack_api.py`, run here on its own thread). This process signs and sends the
mentions (aiohttp) and times each from its send to the `chat.update` that replaced "Looking…" with the answer (both
clocks are this process's).

Phases, each in a minute of its own (questions in the same minute share work, `services/admission.py`; so the
lone answers are never helped by the bursts, nor a burst by the one before):
- a warm-up mention (imports, connections, the analysis workers), not counted;
- the lone answers: `--lone` questions one after the other, each over its own window (so none shares another's
  work): "why is checkout slow in the last 60m?", "… 59m?", …; the baseline is their median;
- 10 at once about different things: each of the shop's services ("why is X slow?"), then the first ones again
  over the last 30 minutes, to 10 distinct investigations (the default shop has 6 services);
- 10 at once about the same service, worded differently ("why is checkout slow?", "is checkout failing?", …).
Per phase: answer latency p50 and max, the max ÷ the lone median (target: each of the 10 ≤ 2× a lone answer), the
backend calls the bot made (its `/metrics`), answers that said "went wrong" or "busy".
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp

from benchmarks._procs import child as _child
from benchmarks._procs import env as _env
from benchmarks._procs import free_port as _free_port
from benchmarks._procs import read_until as _read_until
from benchmarks._procs import sandbox_exports, wait_healthy
from benchmarks._report import (
    REPO_ROOT,
    RESULTS_DIR,
    command_line,
    format_table,
    machine_info,
    num,
    progress,
    save_and_say,
    utc_now,
)
from tests.fakes.slack_api import BOT_USER_ID, FakeSlack
from tests.slack_signing import app_mention, signed_headers

SECRET = "bench-signing-secret-0123456789ab"
BURST = 10
TARGET_RATIO = 2.0  # each concurrent answer ≤ 2× a lone answer
SAME = ["why is checkout slow?", "is checkout failing?", "what is wrong with checkout?", "checkout is slow, why?",
        "why is checkout so slow?", "is checkout down?", "why is checkout erroring?", "checkout latency?",
        "what happened to checkout?", "why is checkout slow right now?"]


def different_questions(services: list[str], n: int = BURST) -> list[str]:
    """`n` questions that are `n` distinct investigations: every service, then again over the last 30 minutes."""
    out = [f"why is {s} slow?" for s in services]
    out += [f"why is {s} slow in the last 30m?" for s in services]
    if len(out) < n:
        raise SystemExit(f"the scenario has {len(services)} services: too few for {n} distinct questions")
    return out[:n]


async def _next_minute() -> None:
    """Until second 1 of the next minute: a phase's questions share nothing with the phase before."""
    await asyncio.sleep(61 - time.time() % 60)


@contextlib.asynccontextmanager
async def _serve(work: Path, config: Path, api_url: str, sandbox_env: dict[str, str]) -> AsyncIterator[str]:
    port = _free_port()
    env = _env(SLACK_BOT_TOKEN="xoxb-concurrent-bench", SLACK_SIGNING_SECRET=SECRET, SLACK_API_URL=api_url,
               SRE_BOT_HTTP_HOST="127.0.0.1", SRE_BOT_HTTP_PORT=str(port), SRE_BOT_CONFIG=str(config),
               SRE_BOT_DB_URL=f"sqlite+aiosqlite:///{work}/sre-bot.db", SRE_BOT_LOG_FORMAT="json", **sandbox_env)
    log = work / "serve.log"
    with _child([sys.executable, "-m", "sre_bot", "serve"], cwd=work, env=env, log=log, reads_stdout=False) as proc:
        url = f"http://127.0.0.1:{port}"
        await wait_healthy(url, proc, log)
        yield url


async def _backend_calls(session: aiohttp.ClientSession, url: str) -> int:
    async with session.get(f"{url}/metrics") as resp:
        text = await resp.text()
    return int(sum(float(m[1]) for m in re.finditer(
        r"^sre_bot_backend_request_duration_seconds_count\{[^}]*\} (\S+)$", text, re.M)))


async def _answered(fake: FakeSlack, channel: str, timeout: float) -> tuple[float, str]:
    """When (this process's clock) the mention's "looking…" message was replaced by its answer, and its text."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for c in fake.calls("chat.update"):
            text = str(c.args.get("text"))
            if c.args.get("channel") == channel and "Looking…" not in text:
                return c.at, text
        await asyncio.sleep(0.02)
    raise TimeoutError(f"no answer in {channel} within {timeout:.0f} s")


async def _phase(name: str, questions: list[str], *, session: aiohttp.ClientSession, url: str, fake: FakeSlack,
                 timeout: float, together: bool) -> dict[str, Any]:
    """Send `questions` (all at once, or one after another when not `together`); each answer's latency."""
    calls_before = await _backend_calls(session, url)
    tag = re.sub(r"\W", "", name.upper())[:6]

    async def one(i: int, q: str) -> dict[str, Any]:
        channel = f"C{tag}{i:02d}{int(time.time()) % 100000}"
        body = app_mention(f"<@{BOT_USER_ID}> {q}", channel=channel, user=f"W{i:04d}")
        sent = time.time()
        async with session.post(f"{url}/slack/events", data=body.text.encode(),
                                headers=signed_headers(SECRET, body)) as resp:
            ack_ms = (time.time() - sent) * 1000
            if resp.status != 200:
                return {"question": q, "error": f"HTTP {resp.status}", "ack_ms": ack_ms}
        try:
            at, text = await _answered(fake, channel, timeout)
        except TimeoutError as e:
            return {"question": q, "error": str(e), "ack_ms": ack_ms}
        return {"question": q, "seconds": at - sent, "ack_ms": ack_ms, "went_wrong": "went wrong" in text,
                "busy": "ask again in a minute" in text, "insufficient": text.startswith("Insufficient evidence")}

    started = time.perf_counter()
    if together:
        answers = await asyncio.gather(*(one(i, q) for i, q in enumerate(questions)))
    else:
        answers = [await one(i, q) for i, q in enumerate(questions)]
    wall = time.perf_counter() - started
    secs = [a["seconds"] for a in answers if "seconds" in a]
    out = {"phase": name, "questions": len(questions), "answered": len(secs), "wall_s": wall,
           "p50_s": statistics.median(secs) if secs else None, "max_s": max(secs, default=None),
           "backend_calls": await _backend_calls(session, url) - calls_before,
           "went_wrong": sum(bool(a.get("went_wrong")) for a in answers),
           "busy": sum(bool(a.get("busy")) for a in answers), "answers": answers}
    progress(f"  {name}: p50 {num(out['p50_s'], 2)} s, max {num(out['max_s'], 2)} s, "
             f"{out['answered']}/{len(questions)} answered, {out['backend_calls']} backend calls")
    return out


async def _main(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="sre-bot-concurrent-"))
    config = work / "sre-bot.yaml"
    sandbox_args = [sys.executable, "-m", "sre_bot", "sandbox", *([args.scenario] if args.scenario else []),
                    "--port", "0", "--write-config", str(config)]
    with _child(sandbox_args, cwd=work, env=_env(), log=work / "sandbox.log") as sandbox:
        lines = _read_until(sandbox, "Then `sre-bot serve`")
        sandbox_env = sandbox_exports(lines)
        sandbox_env.pop("SRE_BOT_CONFIG", None)
        services = re.findall(r"^- name: (\S+)$", config.read_text(), re.M)
        async with FakeSlack.start() as fake, _serve(work, config, fake.api_url, sandbox_env) as url, \
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
            common = {"session": session, "url": url, "fake": fake, "timeout": args.timeout}
            progress("warm-up …")
            await _phase("warm-up", ["why is checkout slow?"], together=False, **common)
            await _next_minute()
            progress(f"{args.lone} lone answer(s), one after another, each over its own window …")
            lone = await _phase("lone", [f"why is checkout slow in the last {60 - i}m?" for i in range(args.lone)],
                                together=False, **common)
            await _next_minute()
            progress(f"{BURST} at once about different services …")
            different = await _phase("different", different_questions(services), together=True, **common)
            await _next_minute()
            progress(f"{BURST} at once about the same service …")
            same = await _phase("same", SAME[:BURST], together=True, **common)
    return {"scenario": args.scenario or "checkout-bad-deploy", "services": services, "phases": [lone, different, same],
            "work_dir": str(work)}


def _table(results: dict[str, Any]) -> str:
    lone = results["phases"][0]
    base = lone["p50_s"]
    rows = []
    for p in results["phases"]:
        ratio = f"{p['max_s'] / base:.1f}×" if base and p["max_s"] else "—"
        rows.append([p["phase"], p["questions"], f"{p['answered']}/{p['questions']}", num(p["p50_s"], 2),
                     num(p["max_s"], 2), ratio, num(p["wall_s"], 2), p["backend_calls"], p["went_wrong"], p["busy"]])
    return format_table(["phase", "questions", "answered", "p50 s", "max s", "max ÷ lone p50", "wall s",
                         "backend calls", "went wrong", "busy"], rows,
                        title="Answers to a burst of mentions through sre-bot serve (no model), against the sandbox")


def _targets(results: dict[str, Any]) -> list[str]:
    base = results["phases"][0]["p50_s"]
    out = []
    for p in results["phases"][1:]:
        ok = bool(base) and p["answered"] == p["questions"] and (p["max_s"] or 1e9) <= TARGET_RATIO * base
        out.append(f"{p['phase']}: each of {p['questions']} ≤ {TARGET_RATIO:g}× a lone answer "
                   f"({TARGET_RATIO * base:.2f} s): {'yes' if ok else 'NO'}" if base else f"{p['phase']}: no baseline")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.concurrent_answers", description=__doc__.split("\n\n")[0])
    p.add_argument("scenario", nargs="?", help="sandbox scenario (default: the shop's checkout-bad-deploy)")
    p.add_argument("--lone", type=int, default=3, help="lone answers for the baseline (default 3; their median)")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for each answer (default 120)")
    p.add_argument("--json", type=Path, default=RESULTS_DIR / "concurrent_answers.json")
    args = p.parse_args(argv)
    if not 1 <= args.lone <= 30:
        p.error("--lone takes 1 to 30")
    started = time.perf_counter()
    load_before = os.getloadavg()
    results = asyncio.run(_main(args))
    load_after = os.getloadavg()
    print(_table(results))
    print("\n".join(_targets(results)))
    info = machine_info()
    print(f"machine: {info['cpu']} ×{info['cpu_count']}, Python {info['python']}; load average "
          f"{load_before[0]:.1f} before, {load_after[0]:.1f} after (other work on the machine skews every number)")
    save_and_say(args.json, {"machine": info, "command": command_line(), "at": utc_now(),
                             "load_average": {"before": load_before, "after": load_after},
                             "settings": {"lone": args.lone, "burst": BURST, "timeout_s": args.timeout},
                             **results, "targets": _targets(results), "elapsed_s": time.perf_counter() - started,
                             "repo": str(REPO_ROOT)})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
