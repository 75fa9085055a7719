"""The Alertmanager webhook through a real `sre-bot serve`: alerts/s accepted (authenticated, parsed, committed to
the inbox before the 200) and alerts/s into stored incidents, with the incident loop running in the same process —
next to the real Alertmanager's own `POST /api/v2/alerts` receiving the same alerts from the same senders.

    .venv/bin/python -m benchmarks.alert_webhook                          # 10k alerts, SQLite and PostgreSQL
    .venv/bin/python -m benchmarks.alert_webhook --alerts 2000 --store sqlite   # a quick run

Every process is real and separate: `sre-bot sandbox` (the simulated Prometheus, Loki, Argo CD, Alertmanager, and
`--write-config` for the bot's config, with `incidents.investigate: false` unless `--investigate`), the fake Slack
Web API (`tests/fakes/slack_api.py`; incidents are posted to `#incidents`), `sre-bot serve` in HTTP mode (SQLite in
a temp directory, or a fresh PostgreSQL database), and the real Alertmanager binary (`prometheus-alertmanager`, no
receivers). This process only sends and measures.

Storm: alerts from a 30-service graph (10 chains of 3), each storm one chain failing (one alert per service per
alert name, pods crash-looping) plus unrelated single alerts, a storm every 15 minutes of alert time; sent the way
Alertmanager sends them — v4 bodies of up to 10 alerts, 8 concurrent senders (Alertmanager sends each group on its
own), bearer token, bodies serialised before the clock starts. The same alerts go to Alertmanager first, in the
same bodies' grouping, as the JSON list `POST /api/v2/alerts` takes (labels, annotations, startsAt, generatorURL).

Reported per store: accept alerts/s (first POST to last 200), body p50/p99 (each POST to its 200), end to end
alerts/s (first POST until every inbox row is processed into incidents, polled in the database every 50 ms), the
same for Alertmanager, and the bot ÷ Alertmanager ratio. Targets (issue 21): ≥ 10k alerts/s accepted on PostgreSQL,
≥ 3k/s on SQLite, body p99 ≤ 50 ms, within 3× of Alertmanager.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from benchmarks._procs import child as _child
from benchmarks._procs import env as _env
from benchmarks._procs import free_port as _free_port
from benchmarks._procs import read_until as _read_until
from benchmarks._procs import sandbox_exports
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
from sre_bot.alert_payloads import fingerprint

TOKEN = "bench-token"
BODY_ALERTS = 10
SENDERS = 8
T0 = datetime(2026, 11, 1, tzinfo=timezone.utc)
NAMES = ("HighErrorRate", "HighLatency", "KubePodCrashLooping")
PG_DB = "sre_bot_webhook_bench"  # dropped and created afresh for each run
TARGETS = {"sqlite": 3_000.0, "postgresql": 10_000.0}
TARGET_P99_MS = 50.0
TARGET_RATIO = 3.0
_AM_CONFIG = "route:\n  receiver: none\nreceivers:\n  - name: none\n"


# -- the storm ---------------------------------------------------------------------------------------------------

def _services() -> list[str]:
    return [f"{tier}-{c}" for c in range(10) for tier in ("web", "api", "db")]


def _alerts(n_alerts: int) -> list[tuple[dict[str, str], datetime]]:
    services = _services()
    alerts: list[tuple[dict[str, str], datetime]] = []
    storm = 0
    while len(alerts) < n_alerts:
        start = T0 + timedelta(minutes=15 * storm)
        chain = storm % 10
        for depth, svc in enumerate((f"db-{chain}", f"api-{chain}", f"web-{chain}")):
            for k, name in enumerate(NAMES):
                for pod in range(3 if name == "KubePodCrashLooping" else 1):
                    labels = {"alertname": name, "service": svc, "namespace": "shop", "severity": "critical",
                              "pod": f"{svc}-7d9f8b6c5-{'bcdfg'[pod]}{storm % 10}x{k}z{storm}"}
                    alerts.append((labels, start + timedelta(seconds=30 * depth + 5 * k + pod)))
        for noise in range(4):  # unrelated single alerts elsewhere
            svc = services[(storm * 7 + noise * 3 + 1) % len(services)]
            labels = {"alertname": "DiskSpaceLow", "node": f"n{storm}-{noise}", "service": svc + "-disk",
                      "severity": "warning"}
            alerts.append((labels, start + timedelta(seconds=200 + 10 * noise)))
        storm += 1
    return alerts[:n_alerts]


def _z(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def _bodies(n_alerts: int) -> tuple[list[bytes], list[bytes]]:
    """The same alerts as webhook v4 bodies (to the bot) and as `POST /api/v2/alerts` lists (to Alertmanager),
    BODY_ALERTS a body, serialised."""
    alerts = _alerts(n_alerts)
    bot, am = [], []
    for i in range(0, len(alerts), BODY_ALERTS):
        chunk = alerts[i:i + BODY_ALERTS]
        bot.append(json.dumps({
            "version": "4", "status": "firing", "receiver": "sre-bot", "groupKey": f'{{}}:{{batch="{i}"}}',
            "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {}, "truncatedAlerts": 0,
            "externalURL": "http://alertmanager:9093",
            "alerts": [{"status": "firing", "labels": lab, "annotations": {"summary": "bench"}, "startsAt": _z(t),
                        "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://prom/graph",
                        "fingerprint": fingerprint(lab)} for lab, t in chunk]}).encode())
        am.append(json.dumps([{"labels": lab, "annotations": {"summary": "bench"}, "startsAt": _z(t),
                               "generatorURL": "http://prom/graph"} for lab, t in chunk]).encode())
    return bot, am


# -- child processes ---------------------------------------------------------------------------------------------

async def _wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as s:
        while True:
            with contextlib.suppress(aiohttp.ClientError):
                async with s.get(url) as resp:
                    if resp.status == 200:
                        return
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{proc.args!r} did not come up (see {log}):\n"
                                   + log.read_text(errors="replace")[-2000:])
            await asyncio.sleep(0.1)


async def _fake_slack_main() -> None:
    from tests.fakes.slack_api import FakeSlack

    async with FakeSlack.start() as fake:
        print(json.dumps({"api_url": fake.api_url}), flush=True)
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()


# -- sending and measuring ---------------------------------------------------------------------------------------

def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


async def _send(url: str, bodies: list[bytes], headers: dict[str, str]) -> dict[str, Any]:
    """Every body from SENDERS concurrent senders; wall time, per-body latency, failures."""
    latencies: list[float] = []
    when: list[tuple[float, float]] = []  # (seconds after the first POST, ms) of each body
    errors: list[str] = []
    queue = list(reversed(bodies))
    conn = aiohttp.TCPConnector(limit=SENDERS)
    async with aiohttp.ClientSession(connector=conn, timeout=aiohttp.ClientTimeout(total=120)) as session:

        async def sender() -> None:
            while queue:
                body = queue.pop()
                t = time.perf_counter()
                try:
                    async with session.post(url, data=body, headers=headers) as resp:
                        await resp.read()
                        if resp.status != 200:
                            errors.append(f"{resp.status}")
                except aiohttp.ClientError as e:
                    errors.append(type(e).__name__)
                latencies.append((time.perf_counter() - t) * 1000)
                when.append((round(t - started, 3), round(latencies[-1], 1)))

        started = time.perf_counter()
        await asyncio.gather(*(sender() for _ in range(SENDERS)))
        wall = time.perf_counter() - started
    return {"wall_s": wall, "started": started, "p50_ms": _pct(latencies, 0.5), "p99_ms": _pct(latencies, 0.99),
            "max_ms": max(latencies, default=None),
            "slowest": sorted(when, key=lambda w: -w[1])[:10], "errors": len(errors), "error_sample": errors[:10]}


async def _pending(db_url: str) -> tuple[int, int]:
    """(inbox rows, of which not yet processed) straight from the database."""
    query = "SELECT count(*), count(*) - count(processed_at) FROM alert_inbox"
    if db_url.startswith("sqlite"):
        path = db_url.split("///", 1)[1]
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)) as c:
            total, pending = c.execute(query).fetchone()
        return int(total), int(pending)
    import asyncpg

    conn = await asyncpg.connect(db_url.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        row = await conn.fetchrow(query)
    finally:
        await conn.close()
    return int(row[0]), int(row[1])


async def _end_to_end(db_url: str, bodies: int, started: float, timeout: float) -> float | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        total, pending = await _pending(db_url)
        if total >= bodies and pending == 0:
            return time.perf_counter() - started
        await asyncio.sleep(0.05)
    return None


@contextlib.asynccontextmanager
async def _alertmanager(work: Path) -> AsyncIterator[str]:
    binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    if binary is None:
        raise RuntimeError("prometheus-alertmanager not installed (apt-get install -y prometheus-alertmanager)")
    (work / "am.yml").write_text(_AM_CONFIG)
    url = f"http://127.0.0.1:{_free_port()}"
    data = work / f"am-data-{time.monotonic_ns()}"
    with _child([binary, f"--config.file={work / 'am.yml'}", f"--storage.path={data}",
                 f"--web.listen-address={url[7:]}", "--cluster.listen-address=", "--log.level=warn"],
                cwd=work, env=_env(), log=work / "am.log") as proc:
        await _wait_ready(f"{url}/-/ready", proc, work / "am.log", timeout=30)
        yield url


async def _run_store(store: str, db_url: str, bot_bodies: list[bytes], am_bodies: list[bytes], n: int,
                     work: Path, config: Path, sandbox_env: dict[str, str], slack_api: str,
                     timeout: float, settle: float, profile: Path | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"store": store, "alerts": n, "bodies": len(bot_bodies)}
    progress(f"{store}: Alertmanager POST /api/v2/alerts, {n} alerts …")
    async with _alertmanager(work) as am_url:
        out["alertmanager"] = await _send(f"{am_url}/api/v2/alerts", am_bodies,
                                          {"Content-Type": "application/json"})
    port = _free_port()
    log = work / f"serve-{store}.log"
    env = _env(SLACK_BOT_TOKEN="xoxb-webhook-bench", SLACK_SIGNING_SECRET="bench-signing-secret-0123456789ab",
               SLACK_API_URL=slack_api, SRE_BOT_HTTP_HOST="127.0.0.1", SRE_BOT_HTTP_PORT=str(port),
               SRE_BOT_CONFIG=str(config), SRE_BOT_DB_URL=db_url, SRE_BOT_LOG_FORMAT="json",
               SRE_BOT_ALERTMANAGER_TOKEN=TOKEN, **sandbox_env)
    # --profile: the bot runs under cProfile (the file is written when serve stops on SIGTERM)
    prof = ["-m", "cProfile", "-o", f"{profile}.{store}"] if profile else []
    with _child([sys.executable, *prof, "-m", "sre_bot", "serve"], cwd=work, env=env, log=log) as proc:
        url = f"http://127.0.0.1:{port}"
        await _wait_ready(f"{url}/healthz", proc, log)
        await _wait_ready(f"{url}/readyz", proc, log)
        await asyncio.sleep(settle)  # start-up work (the first topology discovery, a deploy verdict) is done
        progress(f"{store}: sre-bot serve POST /alertmanager, {n} alerts …")
        bot = await _send(f"{url}/alertmanager", bot_bodies,
                          {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"})
        e2e = await _end_to_end(db_url, len(bot_bodies), bot.pop("started"), timeout)
        bot["end_to_end_s"] = e2e
        out["bot"] = bot
    out["alertmanager"].pop("started")
    text = log.read_text(errors="replace")
    out["bot"]["error_lines"] = text.count('"level": "error"') + text.count('"level":"error"')
    out["bot"]["store_retries"] = text.count("store busy; trying again")
    return out


def _config(sandbox_config: Path, dest: Path, *, investigate: bool) -> Path:
    """The sandbox's config file, with the storm's services added and investigations as asked."""
    doc = yaml.safe_load(sandbox_config.read_text())
    doc.setdefault("incidents", {})["investigate"] = investigate
    dest.write_text(yaml.safe_dump(doc, sort_keys=False))
    return dest


async def _main(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="sre-bot-webhook-"))
    bot_bodies, am_bodies = _bodies(args.alerts)
    results: dict[str, Any] = {"stores": [], "work_dir": str(work)}
    py = sys.executable
    with _child([py, "-m", "sre_bot", "sandbox", "--port", "0", "--write-config", str(work / "sandbox.yaml")],
                cwd=work, env=_env(), log=work / "sandbox.log", reads_stdout=True) as sandbox, \
            _child([py, "-m", "benchmarks.alert_webhook", "_fake-slack"], cwd=REPO_ROOT, env=_env(),
                   log=work / "fake-slack.log", reads_stdout=True) as fake:
        lines = _read_until(sandbox, "Then `sre-bot serve`")
        sandbox_env = sandbox_exports(lines)
        sandbox_env.pop("SRE_BOT_CONFIG", None)
        config = _config(work / "sandbox.yaml", work / "sre-bot.yaml", investigate=args.investigate)
        slack_api = json.loads(_read_until(fake, "api_url")[-1])["api_url"]
        for store in args.store:
            if store == "postgresql":
                db_url = await fresh_postgres(PG_DB)
                if db_url is None:
                    progress(f"PostgreSQL not reachable at {PG_ADMIN}: skipped")
                    continue
            else:
                db_url = f"sqlite+aiosqlite:///{work}/sre-bot-{store}.db"
            results["stores"].append(await _run_store(store, db_url, bot_bodies, am_bodies, args.alerts, work,
                                                      config, sandbox_env, slack_api, args.timeout,
                                                      args.settle, args.profile))
    return results


def _rate(n: int, s: float | None) -> str:
    return num(n / s, 0) if s else "–"


def _table(results: dict[str, Any]) -> str:
    rows = []
    for r in results["stores"]:
        n, bot, am = r["alerts"], r["bot"], r["alertmanager"]
        rows.append([r["store"], f"{n:,}", _rate(n, bot["wall_s"]), f"{num(bot['p50_ms'])}/{num(bot['p99_ms'])}",
                     _rate(n, bot["end_to_end_s"]), str(bot["errors"]), _rate(n, am["wall_s"]),
                     f"{num(am['p50_ms'])}/{num(am['p99_ms'])}", f"{bot['wall_s'] / am['wall_s']:.1f}×"])
    return format_table(["store", "alerts", "bot accept/s", "bot body p50/p99 ms", "bot end-to-end/s", "bot errors",
                         "Alertmanager accept/s", "AM body p50/p99 ms", "bot ÷ AM time"], rows,
                        title=f"POST /alertmanager in sre-bot serve vs Alertmanager POST /api/v2/alerts "
                              f"({SENDERS} senders, {BODY_ALERTS} alerts a body)")


def _targets(results: dict[str, Any]) -> list[str]:
    lines = []
    for r in results["stores"]:
        n, bot, am = r["alerts"], r["bot"], r["alertmanager"]
        rate = n / bot["wall_s"]
        ok = rate >= TARGETS[r["store"]] and (bot["p99_ms"] or 0) <= TARGET_P99_MS and \
            bot["wall_s"] / am["wall_s"] <= TARGET_RATIO and bot["errors"] == 0
        lines.append(f"{r['store']}: {'met' if ok else 'NOT met'} — accept {rate:,.0f}/s (target "
                     f"{TARGETS[r['store']]:,.0f}), body p99 {num(bot['p99_ms'])} ms (≤ {TARGET_P99_MS:.0f}), "
                     f"{bot['wall_s'] / am['wall_s']:.1f}× Alertmanager's time (≤ {TARGET_RATIO:.0f}×)")
    return lines


def main(argv: list[str] | None = None) -> int:
    if argv is None and sys.argv[1:2] == ["_fake-slack"]:
        asyncio.run(_fake_slack_main())
        return 0
    p = argparse.ArgumentParser(prog="python -m benchmarks.alert_webhook", description=__doc__.split("\n\n")[0])
    p.add_argument("--alerts", type=int, default=10_000)
    p.add_argument("--store", nargs="+", choices=["sqlite", "postgresql"], default=["sqlite", "postgresql"])
    p.add_argument("--investigate", action="store_true", help="keep the sandbox's incident investigations on")
    p.add_argument("--timeout", type=float, default=300.0, help="longest wait for the inbox to drain (s)")
    p.add_argument("--settle", type=float, default=5.0,
                   help="seconds between serve's first 200 from /readyz and the first alert (start-up work)")
    p.add_argument("--profile", type=Path, help="run serve under cProfile, writing PROFILE.<store>")
    p.add_argument("--json", type=Path, default=RESULTS_DIR / "alert_webhook.json")
    args = p.parse_args(argv)
    began = time.perf_counter()
    results = asyncio.run(_main(args))
    print(_table(results))
    for line in _targets(results):
        print(line)
    info = machine_info(binaries=["prometheus-alertmanager"])
    print(f"machine: {info['cpu']} ×{info['cpu_count']}, Python {info['python']}")
    save_and_say(args.json, {"benchmark": "alert_webhook", "when": utc_now(), "machine": info,
                             "command": command_line(), "senders": SENDERS, "body_alerts": BODY_ALERTS,
                             "targets": {"accept_per_s": TARGETS, "body_p99_ms": TARGET_P99_MS,
                                         "ratio_to_alertmanager": TARGET_RATIO},
                             "results": results, "elapsed_s": time.perf_counter() - began})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
