"""The Alertmanager webhook over HTTP on loopback: alerts/s accepted (authenticated, parsed, committed to the
inbox before the 200) and alerts/s turned into stored incidents by the processor, next to the pure correlator on
the same alerts in the same run.

    .venv/bin/python -m benchmarks.alert_webhook                       # 1k and 10k alerts, SQLite
    .venv/bin/python -m benchmarks.alert_webhook --sizes 1000 10000 100000 --postgres

Storm: alerts from a 30-service graph (10 chains of 3), each storm one chain failing (one alert per service per
alert name, pods crash-looping) plus unrelated single alerts, a storm every 15 minutes of alert time; sent the way
Alertmanager sends them — v4 bodies of up to 10 alerts (its `max_alerts`-style batches), 8 concurrent senders
(Alertmanager sends each group on its own), bearer token. "accept" is wall time from the first POST to the last
200; "process" is draining the inbox into incidents with `IncidentProcessor.step()` (batches of 200 bodies, each
one transaction), no Slack. The baseline is `Correlator.add` over the same alerts in memory (no HTTP, no store).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
from aiohttp import web

from benchmarks._report import (
    PG_ADMIN,
    RESULTS_DIR,
    command_line,
    format_table,
    fresh_postgres,
    machine_info,
    num,
    progress,
    save_and_say,
)
from sre_bot.alert_payloads import fingerprint, parse_webhook
from sre_bot.alert_webhook import alertmanager_handler
from sre_bot.analysis.correlation import Correlator
from sre_bot.compose import open_deps
from sre_bot.config import parse_config
from sre_bot.incidents.processor import IncidentProcessor
from sre_bot.settings import load_settings
from sre_bot.web import build_web_app

TOKEN = "bench-token"
BODY_ALERTS = 10
SENDERS = 8
T0 = datetime(2026, 11, 1, tzinfo=timezone.utc)
NAMES = ("HighErrorRate", "HighLatency", "KubePodCrashLooping")
PG_DB = "sre_bot_bench"  # dropped and created afresh for each size


def _services() -> tuple[list[str], dict[str, list[str]]]:
    names, graph = [], {}
    for c in range(10):
        chain = [f"web-{c}", f"api-{c}", f"db-{c}"]
        names += chain
        graph[chain[0]], graph[chain[1]], graph[chain[2]] = [chain[1]], [chain[2]], []
    return names, graph


def _bodies(n_alerts: int) -> list[dict[str, Any]]:
    """Storms of alerts as v4 bodies of up to BODY_ALERTS alerts, all firing, in time order."""
    services, _ = _services()
    alerts, storm = [], 0
    while len(alerts) < n_alerts:
        start = T0 + timedelta(minutes=15 * storm)
        chain = storm % 10
        for depth, svc in enumerate((f"db-{chain}", f"api-{chain}", f"web-{chain}")):
            for k, name in enumerate(NAMES):
                for pod in range(3 if name == "KubePodCrashLooping" else 1):
                    labels = {"alertname": name, "service": svc, "namespace": "shop", "severity": "critical",
                              "pod": f"{svc}-7d9f8b6c5-{'bcdfg'[pod]}{storm % 10}x{k}z"}
                    alerts.append((labels, start + timedelta(seconds=30 * depth + 5 * k + pod)))
        for noise in range(4):  # unrelated single alerts elsewhere
            svc = services[(storm * 7 + noise * 3 + 1) % len(services)]
            labels = {"alertname": "DiskSpaceLow", "node": f"n{storm}-{noise}", "service": svc + "-disk",
                      "severity": "warning"}
            alerts.append((labels, start + timedelta(seconds=200 + 10 * noise)))
        storm += 1
    alerts = alerts[:n_alerts]
    bodies = []
    for i in range(0, len(alerts), BODY_ALERTS):
        chunk = alerts[i:i + BODY_ALERTS]
        bodies.append({"version": "4", "status": "firing", "receiver": "sre-bot", "groupKey": f"{{}}:{{batch=\"{i}\"}}",
                       "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {}, "truncatedAlerts": 0,
                       "externalURL": "http://alertmanager:9093",
                       "alerts": [{"status": "firing", "labels": lab, "annotations": {"summary": "bench"},
                                   "startsAt": t.isoformat().replace("+00:00", "Z"),
                                   "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://prom/graph",
                                   "fingerprint": fingerprint(lab)} for lab, t in chunk]})
    return bodies


def _config() -> Any:
    _, graph = _services()
    return parse_config({"services": [{"name": s, "depends_on": d} for s, d in graph.items()],
                         "incidents": {"investigate": False}})


async def _run(n: int, db_url: str) -> dict[str, Any]:
    bodies = _bodies(n)
    settings = load_settings(None, SRE_BOT_DB_URL=db_url, SRE_BOT_ALERTMANAGER_TOKEN=TOKEN,
                             SRE_BOT_ALERTMANAGER_MAX_BYTES=str(4 * 2**20))
    async with open_deps(settings, config=_config(), use_store=True) as deps:
        runner = web.AppRunner(build_web_app(deps, None, alertmanager_handler(deps)), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        for b in bodies:
            queue.put_nowait(b)

        async def sender(client: httpx.AsyncClient) -> None:
            while not queue.empty():
                body = queue.get_nowait()
                resp = await client.post("/alertmanager", json=body, headers={"Authorization": f"Bearer {TOKEN}"})
                resp.raise_for_status()

        limits = httpx.Limits(max_connections=SENDERS)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60, limits=limits) as client:
            t = time.perf_counter()
            await asyncio.gather(*(sender(client) for _ in range(SENDERS)))
            accept_s = time.perf_counter() - t
        await runner.cleanup()
        processor = IncidentProcessor(deps, holder="bench")
        t = time.perf_counter()
        while (await processor.step()).bodies:
            pass
        process_s = time.perf_counter() - t
        incidents = await deps.store.incidents.listing(open_only=False, limit=100_000)  # type: ignore[union-attr]
    events = [a for b in bodies for a in parse_webhook(b).alerts]
    _, graph = _services()
    t = time.perf_counter()
    corr = Correlator(_config().correlation, graph)
    for e in events:
        corr.add(e)
    pure_s = time.perf_counter() - t
    return {"alerts": n, "bodies": len(bodies), "incidents": len(incidents), "accept_s": accept_s,
            "process_s": process_s, "pure_s": pure_s, "pure_incidents": len(corr.incidents())}




def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.alert_webhook", description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    p.add_argument("--postgres", action="store_true",
                   help=f"also on PostgreSQL (a fresh database {PG_DB} next to {PG_ADMIN})")
    p.add_argument("--json", type=Path, default=RESULTS_DIR / "alert_webhook.json")
    args = p.parse_args(argv)
    started = time.perf_counter()
    rows, results = [], []
    stores = ["sqlite"] + (["postgresql"] if args.postgres else [])
    for store in stores:
        for n in args.sizes:
            if store == "postgresql":
                fresh = asyncio.run(fresh_postgres(PG_DB))
                if fresh is None:
                    progress(f"PostgreSQL not reachable at {PG_ADMIN}: skipped")
                    break
                url = fresh
            else:
                tmp = tempfile.mkdtemp(prefix="sre-bot-bench-")
                url = f"sqlite+aiosqlite:///{tmp}/bench.db"
            progress(f"{store}: {n} alerts …")
            r = asyncio.run(_run(n, url)) | {"store": store}
            results.append(r)
            rows.append([store, f"{n:,}", f"{r['bodies']:,}", f"{r['incidents']:,} ({r['pure_incidents']:,})",
                         num(n / r["accept_s"], 0), num(n / r["process_s"], 0),
                         num(n / (r["accept_s"] + r["process_s"]), 0), num(n / r["pure_s"], 0),
                         f"{(r['accept_s'] + r['process_s']) / r['pure_s']:.0f}×"])
    print(format_table(["store", "alerts", "bodies", "incidents (pure)", "accept alerts/s", "process alerts/s",
                        "end-to-end alerts/s", "pure correlator alerts/s", "cost ÷ pure"], rows,
                       title=f"Alertmanager webhook over loopback HTTP ({SENDERS} senders, "
                             f"{BODY_ALERTS} alerts a body)"))
    info = machine_info()
    print(f"machine: {info['cpu']} ×{info['cpu_count']}, Python {info['python']}")
    save_and_say(args.json, {"machine": info, "command": command_line(), "results": results,
                             "elapsed_s": time.perf_counter() - started})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
