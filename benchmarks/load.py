"""`sre-bot serve` under load: signed Slack requests (mentions, `/sre status`, `/sre help`) from 1, 10 and 50
concurrent senders, against the sandbox shop, next to a bare aiohttp server on the same machine in the same run.

    .venv/bin/python -m benchmarks.load                                  # SQLite and PostgreSQL, 500 requests a level
    .venv/bin/python -m benchmarks.load --requests 60 --store sqlite --variants normal   # a quick run

Every process is real and separate: `sre-bot sandbox` (the simulated Prometheus, Loki, Argo CD, Alertmanager,
`--write-config` for the bot's config), `sre-bot serve` in HTTP mode (SQLite in a temp directory, or a fresh
PostgreSQL database), the fake Slack Web API (`tests/fakes/slack_api.py`, recording every post, with a small
summary endpoint), and the baseline: a bare aiohttp server that reads each body and answers 200. This process only
signs and sends the requests (aiohttp client) and measures. Each store runs twice (`--variants`): against the
sandbox as it is, and with one backend (`--slow-backend`, default Prometheus) behind a proxy that holds each of its
answers `--slow` seconds (default 2). Before the levels, one request of each kind goes alone, each answered before
the next: the first requests after a start, reported apart; then `--settle` seconds (default 10) pass, so that the
bot's own start-up work (topology discovery, the sandbox deploy's first verdict) is not inside the first level.

At each level the same mix goes first to the bare server, then to the bot: request i is a mention when i % 3 == 0
(its own channel), `/sre status checkout` when i % 3 == 1 (its own response_url), `/sre help` otherwise (answered
in the ack). Reported per store and level: ack p50/p99 next to the bare server's and their ratio; answers completed
vs requested (help: in the ack; status: the fake's recorded response_url posts; mentions: the final `chat.update`),
and how many investigations came with their feedback buttons; errors (acks that were not 200 or failed, answers
saying "went wrong", error lines in the bot's log, the store's "trying again" lines); `GET /healthz` latency,
polled every 100 ms while the level runs; the bot's RSS before the first level and after each; how many answers
carried the "Prometheus is busy" gap (a query that got no Prometheus thread within SRE_BOT_PROMETHEUS_QUEUE_TIMEOUT).
Targets from issues 14 and 21: every request answered, ack p99 ≤ 100 ms at 50 senders, `/healthz` ≤ 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from benchmarks._procs import child as _child
from benchmarks._procs import env as _env
from benchmarks._procs import free_port as _free_port
from benchmarks._procs import read_until as _read_until
from benchmarks._procs import sandbox_exports, wait_healthy
from benchmarks._procs import unquoted as _unquoted  # noqa: F401 (tests/benchmarks reads it here)
from benchmarks._report import (
    PG_ADMIN,
    REPO_ROOT,
    RESULTS_DIR,
    command_line,
    format_table,
    fresh_postgres,
    machine_info,
    num,
    progress,
    save_and_say,
    utc_now,
)
from tests.fakes.slack_api import BOT_USER_ID, Call, FakeSlack
from tests.slack_signing import SlackBody, app_mention, signed_headers, slash_command

SECRET = "bench-signing-secret-0123456789ab"
LEVELS = (1, 10, 50)
PG_DB = "sre_bot_load_bench"  # dropped and created afresh for each run
TARGET_ACK_P99_MS = 100.0  # at 50 senders
TARGET_HEALTHZ_MS = 50.0
HEALTHZ_EVERY_S = 0.1
NO_BUTTONS = "No feedback buttons on this answer"
BUSY = "Prometheus is busy"  # the named gap of a query that got no Prometheus thread in time
SETTLE_S = 10.0  # after the warm-up, before the first level
SLOW_S = 2.0  # the slow variant: every answer of the slowed backend held this long
SLOWABLE = ("prometheus", "loki", "argocd", "alertmanager")


# -- child processes ---------------------------------------------------------------------------------------------

def _rss_mb(pid: int, *, children: bool = False) -> float | None:
    """Resident memory of `pid` (with `children`: plus its descendants', e.g. the analysis worker processes)."""
    try:
        rss = next(int(line.split()[1]) / 1024 for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                   if line.startswith("VmRSS:"))
    except (OSError, StopIteration):
        return None
    if children:
        for task in Path(f"/proc/{pid}/task").glob("*"):
            with contextlib.suppress(OSError):
                for child in (task / "children").read_text().split():
                    rss += _rss_mb(int(child), children=True) or 0.0
    return rss


# -- the fake Slack and the bare server (run as `python -m benchmarks.load _fake-slack | _bare PORT`) --------------

def _summary(calls: list[Call]) -> dict[str, Any]:
    """What the bot posted: per mention channel its answer (the last update that is not "Looking…"), and the
    response_url names that got a post."""
    mentions: dict[str, dict[str, Any]] = {}
    for c in calls:
        if c.method == "chat.update" and "Looking…" not in str(c.args.get("text")):
            blocks = str(c.args.get("blocks"))
            mentions[c.args.get("channel", "")] = {
                "named": not str(c.args.get("text")).startswith("Insufficient evidence"),
                "buttons": "sre_feedback_yes" in blocks, "no_buttons_note": NO_BUTTONS in blocks,
                "went_wrong": "went wrong" in str(c.args.get("text")),
                "prometheus_busy": BUSY in blocks or BUSY in str(c.args.get("text"))}
    responses = sorted({c.path.rsplit("/", 1)[1] for c in calls if c.method == "response_url"})
    return {"mentions": mentions, "responses": responses, "calls": len(calls)}


async def _fake_slack_main() -> None:
    async with FakeSlack.start() as fake:
        app = web.Application()

        async def summary(_: web.Request) -> web.Response:
            return web.json_response(_summary(fake.calls()))

        app.router.add_get("/summary", summary)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        port = _free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        print(json.dumps({"api_url": fake.api_url, "url": fake.url, "summary": f"http://127.0.0.1:{port}/summary"}),
              flush=True)
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()
        await runner.cleanup()


async def _bare_main(port: int) -> None:
    """The floor: aiohttp reading each body and answering 200, nothing else."""
    async def events(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=200)

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_post("/slack/events", events)
    app.router.add_get("/healthz", healthz)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    print("ready", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await runner.cleanup()


async def _delay_main(port: int, target: str, seconds: float) -> None:
    """A reverse proxy holding every request `seconds` before passing it to `target` (a slow backend)."""
    async with aiohttp.ClientSession(auto_decompress=False, timeout=aiohttp.ClientTimeout(total=300)) as session:
        async def forward(request: web.Request) -> web.Response:
            body = await request.read()
            await asyncio.sleep(seconds)
            headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
            async with session.request(request.method, target + request.rel_url.path_qs, data=body,
                                       headers=headers) as resp:
                data = await resp.read()
                kept = {k: v for k, v in resp.headers.items() if k.lower() in ("content-type", "content-encoding")}
                return web.Response(status=resp.status, body=data, headers=kept)

        app = web.Application(client_max_size=64 * 2**20)
        app.router.add_route("*", "/{tail:.*}", forward)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        print("ready", flush=True)
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()
        await runner.cleanup()


# -- load --------------------------------------------------------------------------------------------------------

@dataclass
class LevelRun:
    acks_ms: list[float] = field(default_factory=list)
    acks_by_kind: dict[str, list[float]] = field(default_factory=dict)
    ack_errors: list[str] = field(default_factory=list)
    help_answered: int = 0
    mentions: list[str] = field(default_factory=list)  # channels
    statuses: list[str] = field(default_factory=list)  # response_url names
    healthz_ms: list[float] = field(default_factory=list)
    healthz_errors: int = 0
    send_s: float = 0.0


def _body(i: int, tag: str, fake_url: str) -> tuple[str, str, SlackBody]:
    """Request i of a level: (kind, the channel or response_url name its answer goes to, the body)."""
    user = f"W{tag}{i:05d}"
    if i % 3 == 0:
        return "mention", f"C{tag}{i:05d}", app_mention(f"<@{BOT_USER_ID}> why is checkout slow?",
                                                        channel=f"C{tag}{i:05d}", user=user)
    if i % 3 == 1:
        name = f"{tag}-status-{i}"
        return "status", name, slash_command(text="status checkout", user_id=user, trigger_id=f"{tag}.{i}.load",
                                             response_url=f"{fake_url}/response/{name}")
    return "help", "", slash_command(text="help", user_id=user, trigger_id=f"{tag}.{i}.load")


async def _healthz(session: aiohttp.ClientSession, url: str, run: LevelRun, stop: asyncio.Event) -> None:
    while not stop.is_set():
        t = time.perf_counter()
        try:
            async with session.get(f"{url}/healthz") as resp:
                await resp.read()
                if resp.status != 200:
                    run.healthz_errors += 1
        except (TimeoutError, aiohttp.ClientError):
            run.healthz_errors += 1
        run.healthz_ms.append((time.perf_counter() - t) * 1000)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), HEALTHZ_EVERY_S)


@contextlib.asynccontextmanager
async def _probing(url: str, run: LevelRun) -> AsyncIterator[None]:
    """`GET /healthz` every HEALTHZ_EVERY_S on its own connection while the block runs."""
    stop = asyncio.Event()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as probe:
        poller = asyncio.create_task(_healthz(probe, url, run, stop))
        try:
            yield
        finally:
            stop.set()
            await poller


async def _send(url: str, senders: int, n: int, tag: str, fake_url: str, run: LevelRun, first: int = 0) -> None:
    """`n` signed requests (numbered from `first`) from `senders` concurrent senders, each signed just before it
    is sent."""
    next_i = iter(range(first, first + n))
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=senders)) as session:

        async def sender() -> None:
            for i in next_i:
                kind, ref, body = _body(i, tag, fake_url)
                headers = signed_headers(SECRET, body)
                t = time.perf_counter()
                try:
                    async with session.post(f"{url}/slack/events", data=body.text.encode(), headers=headers) as resp:
                        text = await resp.text()
                        status = resp.status
                except (TimeoutError, aiohttp.ClientError) as e:
                    run.ack_errors.append(f"{kind}: {type(e).__name__}: {e}")
                    continue
                run.acks_ms.append((time.perf_counter() - t) * 1000)
                run.acks_by_kind.setdefault(kind, []).append(run.acks_ms[-1])
                if status != 200:
                    run.ack_errors.append(f"{kind}: HTTP {status} {text[:80]}")
                    continue
                if kind == "mention":
                    run.mentions.append(ref)
                elif kind == "status":
                    run.statuses.append(ref)
                elif '"text"' in text and len(text) > 200:  # help is answered in the ack itself
                    run.help_answered += 1

        started = time.perf_counter()
        await asyncio.gather(*(sender() for _ in range(senders)))
        run.send_s = time.perf_counter() - started


async def _summary_of(summary_url: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as s, s.get(summary_url) as resp:
        return dict(await resp.json())


async def _drain(summary_url: str, run: LevelRun, timeout: float) -> tuple[dict[str, Any], float]:
    """Wait until every acked mention and status has its answer (or `timeout`); the summary and the wait."""
    started = time.perf_counter()
    while True:
        s = await _summary_of(summary_url)
        done = sum(c in s["mentions"] for c in run.mentions) + len(set(run.statuses) & set(s["responses"]))
        if done >= len(run.mentions) + len(run.statuses) or time.perf_counter() - started > timeout:
            return s, time.perf_counter() - started
        await asyncio.sleep(0.5)


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def _log_counts(log: Path) -> dict[str, int]:
    errors = retries = 0
    with contextlib.suppress(OSError), open(log, encoding="utf-8", errors="replace") as f:
        for line in f:
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            errors += rec.get("level") == "error"
            retries += rec.get("event") == "store busy; trying again"
    return {"error_lines": errors, "store_retries": retries}


@contextlib.asynccontextmanager
async def _bot(store: str, db_url: str, work: Path, fake: dict[str, str], sandbox_env: dict[str, str],
               config: Path, profile: Path | None = None, variant: str = "normal",
               ) -> AsyncIterator[tuple[str, subprocess.Popen[bytes], Path]]:
    port = _free_port()
    log = work / f"serve-{store}-{variant}.log"
    env = _env(SLACK_BOT_TOKEN="xoxb-load-bench", SLACK_SIGNING_SECRET=SECRET, SLACK_API_URL=fake["api_url"],
               SRE_BOT_HTTP_HOST="127.0.0.1", SRE_BOT_HTTP_PORT=str(port), SRE_BOT_CONFIG=str(config),
               SRE_BOT_DB_URL=db_url, SRE_BOT_LOG_FORMAT="json", **sandbox_env)
    # --profile: the bot runs under pyinstrument (a sampling profiler: its own install, e.g. PYTHONPATH=/tmp/pyinst)
    prof = ["-m", "pyinstrument", "-r", "session", "-o",
            str(profile.with_suffix(f".{store}-{variant}.pyisession"))] if profile else []
    with _child([sys.executable, *prof, "-m", "sre_bot", "serve"], cwd=work, env=env, log=log,
                reads_stdout=False) as proc:
        url = f"http://127.0.0.1:{port}"
        await wait_healthy(url, proc, log)
        yield url, proc, log




async def _warm_up(url: str, tag: str, fake: dict[str, str], drain_s: float) -> dict[str, Any]:
    """One request of each kind, one after the other, each answered before the next: what the first people after
    a start wait (imports on first use, connections, caches), kept apart from the levels' numbers."""
    run = LevelRun()
    for i in range(3):
        one = LevelRun()
        await _send(url, 1, 1, f"{tag}{i}", fake["url"], one, first=i)
        _, waited = await _drain(fake["summary"], one, drain_s)
        run.acks_by_kind.update(one.acks_by_kind)
        run.ack_errors += one.ack_errors
        run.send_s += waited
    return {"ack_ms": {k: v[0] for k, v in run.acks_by_kind.items()}, "answered_s": round(run.send_s, 2),
            "ack_errors": run.ack_errors}


async def _run_store(store: str, db_url: str, levels: list[int], n: int, drain_s: float, work: Path,
                     fake: dict[str, str], sandbox_env: dict[str, str], config: Path, bare_url: str,
                     store_tag: str, profile: Path | None = None, variant: str = "normal",
                     settle_s: float = 0.0) -> dict[str, Any]:
    out: dict[str, Any] = {"store": store, "variant": variant, "levels": []}
    async with _bot(store, db_url, work, fake, sandbox_env, config, profile, variant) as (url, proc, log):
        out["rss_before_mb"] = _rss_mb(proc.pid)
        out["rss_before_with_workers_mb"] = _rss_mb(proc.pid, children=True)
        progress(f"{store} ({variant}): warm-up, one request of each kind …")
        out["warm_up"] = await _warm_up(url, f"W{store_tag}", fake, drain_s)
        w = out["warm_up"]
        progress(f"  first acks (ms): {w['ack_ms']}; all three answered in {w['answered_s']} s")
        await asyncio.sleep(settle_s)  # the rest of the start-up work (the first deploy verdict, …) is over
        for senders in levels:
            tag = f"{store_tag}{senders:02d}"
            progress(f"{store} ({variant}): {senders} sender(s), {n} requests: bare aiohttp …")
            bare = LevelRun()
            await _send(bare_url, senders, n, f"B{tag}", fake["url"], bare)
            progress(f"{store} ({variant}): {senders} sender(s), {n} requests: sre-bot serve …")
            run = LevelRun()
            async with _probing(url, run):  # while the requests are sent and answered
                await _send(url, senders, n, tag, fake["url"], run)
                summary, waited = await _drain(fake["summary"], run, drain_s)
            answers = summary["mentions"]
            mine = [answers[c] for c in run.mentions if c in answers]
            statuses = len(set(run.statuses) & set(summary["responses"]))
            requested = {"mention": sum(i % 3 == 0 for i in range(n)), "status": sum(i % 3 == 1 for i in range(n)),
                         "help": sum(i % 3 == 2 for i in range(n))}
            level = {
                "senders": senders, "requests": n, "send_s": run.send_s, "drain_s": waited,
                "ack_ms": {"p50": _pct(run.acks_ms, 0.5), "p99": _pct(run.acks_ms, 0.99), "max": max(run.acks_ms,
                                                                                                      default=None)},
                "ack_ms_by_kind": {k: {"p50": _pct(v, 0.5), "p99": _pct(v, 0.99)} for k, v in run.acks_by_kind.items()},
                "bare_ack_ms": {"p50": _pct(bare.acks_ms, 0.5), "p99": _pct(bare.acks_ms, 0.99),
                                "max": max(bare.acks_ms, default=None)},
                "requested": requested,
                "answered": {"mention": len(mine), "status": statuses, "help": run.help_answered},
                "mentions_naming_a_cause": sum(a["named"] for a in mine),
                "mentions_with_buttons": sum(a["buttons"] for a in mine),
                "mentions_without_buttons_note": sum(a["no_buttons_note"] for a in mine),
                "answers_went_wrong": sum(a["went_wrong"] for a in mine),
                "mentions_prometheus_busy": sum(a.get("prometheus_busy", False) for a in mine),
                "ack_errors": run.ack_errors[:20], "ack_error_count": len(run.ack_errors),
                "bare_ack_error_count": len(bare.ack_errors),
                "healthz_ms": {"p50": _pct(run.healthz_ms, 0.5), "p99": _pct(run.healthz_ms, 0.99),
                               "max": max(run.healthz_ms, default=None), "samples": len(run.healthz_ms),
                               "errors": run.healthz_errors},
                "rss_after_mb": _rss_mb(proc.pid),
                "rss_after_with_workers_mb": _rss_mb(proc.pid, children=True),
            } | _log_counts(log)
            out["levels"].append(level)
            progress(f"  ack p50/p99 {num(level['ack_ms']['p50'])}/{num(level['ack_ms']['p99'])} ms "
                     f"(bare {num(level['bare_ack_ms']['p50'])}/{num(level['bare_ack_ms']['p99'])}); answered "
                     f"{sum(level['answered'].values())}/{n}; /healthz p99 {num(level['healthz_ms']['p99'])} ms")
        out["rss_after_mb"] = _rss_mb(proc.pid)
        out["rss_after_with_workers_mb"] = _rss_mb(proc.pid, children=True)
    out |= _log_counts(log)
    return out


async def _main(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="sre-bot-load-"))
    config = work / "sre-bot.yaml"
    bare_port = _free_port()
    results: dict[str, Any] = {"stores": []}
    py = sys.executable
    with _child([py, "-m", "sre_bot", "sandbox", "--port", "0", "--write-config", str(config)], cwd=work,
                env=_env(), log=work / "sandbox.log") as sandbox, \
            _child([py, "-m", "benchmarks.load", "_fake-slack"], cwd=REPO_ROOT, env=_env(),
                   log=work / "fake-slack.log") as fake_proc, \
            _child([py, "-m", "benchmarks.load", "_bare", str(bare_port)], cwd=REPO_ROOT, env=_env(),
                   log=work / "bare.log") as bare:
        lines = _read_until(sandbox, "Then `sre-bot serve`")
        sandbox_env = sandbox_exports(lines)
        sandbox_env.pop("SRE_BOT_CONFIG", None)
        fake = json.loads(_read_until(fake_proc, "summary")[-1])
        _read_until(bare, "ready")
        bare_url = f"http://127.0.0.1:{bare_port}"
        async with contextlib.AsyncExitStack() as slowed:
            envs = {"normal": sandbox_env}
            if "slow" in args.variants:  # the slowed backend behind a proxy that holds each of its answers
                key = f"{args.slow_backend.upper()}_URL"
                port = _free_port()
                proxy = slowed.enter_context(_child(
                    [py, "-m", "benchmarks.load", "_delay", str(port), sandbox_env[key], f"{args.slow:g}"],
                    cwd=REPO_ROOT, env=_env(), log=work / "delay.log"))
                _read_until(proxy, "ready")
                envs["slow"] = sandbox_env | {key: f"http://127.0.0.1:{port}"}
            for v, variant in enumerate(args.variants):
                for k, store in enumerate(args.store):
                    if store == "postgresql":
                        db_url = await fresh_postgres(PG_DB)
                        if db_url is None:
                            progress(f"PostgreSQL not reachable at {PG_ADMIN}: skipped")
                            continue
                    else:
                        db_url = f"sqlite+aiosqlite:///{work}/sre-bot-{variant}.db"
                    results["stores"].append(await _run_store(
                        store, db_url, args.levels, args.requests, args.drain, work, fake, envs[variant], config,
                        bare_url, f"{v}{k}", args.profile, variant, args.settle))
    results["work_dir"] = str(work)
    results["slow"] = {"backend": args.slow_backend, "seconds": args.slow} if "slow" in args.variants else None
    return results


def _name(s: dict[str, Any], slow: dict[str, Any] | None) -> str:
    """The store, and the variant when it is the slow one: 'sqlite', 'sqlite, prometheus +2s'."""
    if s.get("variant", "normal") == "normal" or not slow:
        return str(s["store"])
    return f"{s['store']}, {slow['backend']} +{slow['seconds']:g}s"


def _table(results: dict[str, Any]) -> str:
    rows = []
    slow = results.get("slow")
    for s in results["stores"]:
        for lv in s["levels"]:
            a, b, h = lv["ack_ms"], lv["bare_ack_ms"], lv["healthz_ms"]
            ratio = f"{a['p99'] / b['p99']:.1f}×" if a["p99"] and b["p99"] else "—"
            answered = sum(lv["answered"].values())
            errors = lv["ack_error_count"] + lv["answers_went_wrong"]
            rows.append([_name(s, slow), lv["senders"], lv["requests"], num(a["p50"]), num(a["p99"]),
                         num(b["p50"]), num(b["p99"]), ratio, f"{answered}/{lv['requests']}",
                         f"{lv['mentions_with_buttons']}/{lv['mentions_naming_a_cause']}",
                         lv.get("mentions_prometheus_busy", 0), errors, lv["error_lines"], lv["store_retries"],
                         num(h["p50"]), num(h["p99"]), num(h["max"]),
                         f"{num(lv['rss_after_mb'], 0)} ({num(lv['rss_after_with_workers_mb'], 0)})"])
    table = format_table(["store", "senders", "requests", "ack p50 ms", "ack p99 ms", "bare p50", "bare p99",
                          "p99 ÷ bare", "answered", "buttons/named", "busy gaps", "errors", "log errors*",
                          "store retries*", "healthz p50", "healthz p99", "healthz max", "RSS MB (+workers)"], rows,
                         title="sre-bot serve under mixed Slack load (mentions, /sre status, /sre help)")
    rss = "; ".join(f"{_name(s, slow)}: RSS {num(s['rss_before_mb'], 0)} MB before, {num(s['rss_after_mb'], 0)} MB "
                    f"after ({num(s['rss_before_with_workers_mb'], 0)} → {num(s['rss_after_with_workers_mb'], 0)} MB "
                    "with worker processes)" for s in results["stores"])
    kinds = [[_name(s, slow), lv["senders"], *(f"{num(lv['ack_ms_by_kind'].get(k, {}).get('p50'))} / "
                                               f"{num(lv['ack_ms_by_kind'].get(k, {}).get('p99'))}"
                                               for k in ("mention", "status", "help"))]
             for s in results["stores"] for lv in s["levels"]]
    by_kind = format_table(["store", "senders", "mention ack p50 / p99 ms", "status ack p50 / p99 ms",
                            "help ack p50 / p99 ms"], kinds, title="Acks by request kind", align="lrrrr")
    warm = [[_name(s, slow), *(num(s.get("warm_up", {}).get("ack_ms", {}).get(k)) for k in ("mention", "status",
                                                                                           "help")),
             num(s.get("warm_up", {}).get("answered_s"))] for s in results["stores"]]
    first = format_table(["store", "first mention ack ms", "first status ack ms", "first help ack ms",
                          "all three answered s"], warm,
                         title="The first requests after start (one at a time, before the levels)", align="lrrrr")
    return table + "\n* cumulative since the bot started\n" + rss + "\n\n" + by_kind + "\n\n" + first


def _targets(results: dict[str, Any]) -> list[str]:
    out = []
    slow = results.get("slow")
    for s in results["stores"]:
        for lv in s["levels"]:
            missing = lv["requests"] - sum(lv["answered"].values())
            out.append(f"{_name(s, slow)} {lv['senders']:>2} senders: every request answered: "
                       f"{'yes' if missing == 0 else f'NO ({missing} missing)'}; /healthz p99 ≤ {TARGET_HEALTHZ_MS:.0f}"
                       f" ms: {'yes' if (lv['healthz_ms']['p99'] or 1e9) <= TARGET_HEALTHZ_MS else 'NO'}"
                       + (f"; ack p99 ≤ {TARGET_ACK_P99_MS:.0f} ms: "
                          f"{'yes' if (lv['ack_ms']['p99'] or 1e9) <= TARGET_ACK_P99_MS else 'NO'}"
                          if lv["senders"] >= 50 else ""))
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_fake-slack"]:
        asyncio.run(_fake_slack_main())
        return 0
    if argv[:1] == ["_bare"]:
        asyncio.run(_bare_main(int(argv[1])))
        return 0
    if argv[:1] == ["_delay"]:
        asyncio.run(_delay_main(int(argv[1]), argv[2], float(argv[3])))
        return 0
    p = argparse.ArgumentParser(prog="python -m benchmarks.load", description=__doc__.split("\n\n")[0])
    p.add_argument("--requests", type=int, default=500, help="requests per level (default 500)")
    p.add_argument("--levels", type=lambda v: [int(x) for x in v.split(",")], default=list(LEVELS),
                   help="concurrent senders per level, comma-separated (default 1,10,50)")
    p.add_argument("--store", type=lambda v: v.split(","), default=["sqlite", "postgresql"],
                   help=f"sqlite, postgresql or both (default); PostgreSQL: a fresh database {PG_DB} next to "
                        f"{PG_ADMIN} (SRE_BOT_BENCH_POSTGRES)")
    p.add_argument("--drain", type=float, default=300.0,
                   help="seconds to wait after a level's last ack for its answers (default 300)")
    p.add_argument("--variants", type=lambda v: v.split(","), default=["normal", "slow"],
                   help="normal (the sandbox as it is) and/or slow (one backend behind a proxy holding each answer "
                        "--slow seconds); default both")
    p.add_argument("--slow", type=float, default=SLOW_S, help=f"seconds the slow variant adds (default {SLOW_S:g})")
    p.add_argument("--slow-backend", choices=SLOWABLE, default="prometheus",
                   help="the backend the slow variant slows (default prometheus)")
    p.add_argument("--settle", type=float, default=SETTLE_S,
                   help=f"seconds between the warm-up and the first level (default {SETTLE_S:g}): the bot's own "
                        "start-up work (topology discovery, the sandbox deploy's first verdict) is over by then")
    p.add_argument("--profile", type=Path, default=None,
                   help="run the bot under pyinstrument (importable by the child: pip install pyinstrument) and "
                        "write its report to FILE.<store>.txt")
    p.add_argument("--json", type=Path, default=RESULTS_DIR / "load.json")
    args = p.parse_args(argv)
    if not set(args.store) <= {"sqlite", "postgresql"} or args.requests < 1 or min(args.levels) < 1:
        p.error("--store takes sqlite and/or postgresql; --requests and --levels must be positive")
    if not args.variants or not set(args.variants) <= {"normal", "slow"} or args.slow <= 0:
        p.error("--variants takes normal and/or slow; --slow must be positive")
    started = time.perf_counter()
    load_before = os.getloadavg()
    results = asyncio.run(_main(args))
    load_after = os.getloadavg()
    print(_table(results))
    print("\n".join(_targets(results)))
    info = machine_info()
    print(f"machine: {info['cpu']} ×{info['cpu_count']}, Python {info['python']}; load average "
          f"{load_before[0]:.1f} before, {load_after[0]:.1f} after (other work on the machine skews every number)")
    save_and_say(args.json, {"machine": info, "command": command_line(), "at": utc_now(), "load_average": {
        "before": load_before, "after": load_after}, "settings": {"requests": args.requests, "levels": args.levels,
        "stores": args.store, "variants": args.variants, "settle_s": args.settle,
        "slow": {"backend": args.slow_backend, "seconds": args.slow},
        "drain_s": args.drain}, **results, "targets": _targets(results),
        "elapsed_s": time.perf_counter() - started})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
