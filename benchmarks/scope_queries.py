"""Query cost of an investigation's signals: one query per (service, signal) against one per signal for the scope.

    .venv/bin/python -m benchmarks.scope_queries                      # both Nezha days, 5 faults each
    .venv/bin/python -m benchmarks.scope_queries --faults 0 --latency 0.5 --json /tmp/scope.json

For each fault of the two Nezha days (`../shared/benchmarks/nezha`, read in place; the pod gauges backfilled into a
real Prometheus with promtool, as `benchmarks.nezha_rca` does) and every configured service of that day's config
(`benchmarks/nezha/<app>.yml`: 46 services on TrainTicket), the signals of the window `inject+5m` back 10 min with
yesterday's too (`seasonal`, as an investigation asks): `golden_signals` per service, all at once (what an
investigation did), then `scope_signals`. Reported per day: Prometheus range queries per investigation (counted by
the bot's own backend metrics), median wall time, whether the evidence is identical (it must be, unless a query
failed), and the `error` items (a query that outlived SRE_BOT_BACKEND_TIMEOUT_S, queue time included).
`--latency S` puts a proxy in front of Prometheus that holds every answer S seconds (a slow or distant server):
then the wall time shows the waves (16 worker threads by default) the per-service queries queue in.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from sre_bot.backends.prometheus import PrometheusBackend
from sre_bot.config import load_config
from sre_bot.deps import Deps
from sre_bot.metrics import Metrics
from sre_bot.models import TimeRange
from sre_bot.settings import load_settings
from sre_bot.tools.signals import golden_signals, scope_signals
from tests.realprom import prometheus_server

from ._nezha_data import load_day, openmetrics
from ._report import REPO_ROOT, RESULTS_DIR, format_table, machine_info, num, progress, save_and_say, utc_now

DAYS = ("2022-08-22", "2023-01-29")
DATA = REPO_ROOT.parent / "shared" / "benchmarks" / "nezha"


@asynccontextmanager
async def _slow_proxy(target: str, latency: float) -> AsyncIterator[str]:
    """A loopback proxy to `target` that answers every request `latency` seconds late."""
    session = aiohttp.ClientSession()

    async def handle(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        await asyncio.sleep(latency)
        async with session.request(request.method, target + request.path_qs, data=body,
                                   headers={"Content-Type": request.headers.get("Content-Type", "")}) as resp:
            return web.Response(body=await resp.read(), status=resp.status, content_type="application/json")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()
        await session.close()


def _calls(metrics: Metrics) -> int:
    value = metrics.registry.get_sample_value("sre_bot_backend_request_duration_seconds_count",
                                              {"backend": "prometheus", "operation": "query_range"})
    return int(value or 0)


async def _measure(url: str, config_path: Path, windows: list[TimeRange]) -> list[dict[str, Any]]:
    config = load_config(config_path, required=True)
    rows = []
    for window in windows:
        out: dict[str, Any] = {"window": window.label()}
        results = {}
        for how in ("per_service", "scope"):
            m = Metrics()
            prom = PrometheusBackend(url, metrics=m)
            deps = Deps(settings=load_settings(None), config=config, metrics=m, prometheus=prom)
            started = time.perf_counter()
            if how == "per_service":
                lists = await asyncio.gather(*(golden_signals(deps, svc, window, seasonal=True)
                                               for svc in config.services))
                results[how] = {svc.name: items for svc, items in zip(config.services, lists, strict=True)}
            else:
                results[how] = await scope_signals(deps, config.services, window, seasonal=True)
            out[f"{how}_s"] = time.perf_counter() - started
            out[f"{how}_queries"] = _calls(m)
            prom.close()
        dump = {how: {k: [e.model_dump(mode="json") for e in v] for k, v in r.items()} for how, r in results.items()}
        out["identical"] = dump["per_service"] == dump["scope"]
        out["services"] = len(config.services)
        for how, r in results.items():  # a per-service wave that outlives the call timeout ends in `error` items
            out[f"{how}_errors"] = sum(e.status == "error" for items in r.values() for e in items)
        rows.append(out)
    return rows


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    per_day = {}
    for name in args.days:
        day = load_day(args.data, name)
        faults = day.faults[:args.faults] if args.faults else day.faults
        windows = [TimeRange.ending(f.at + timedelta(minutes=5), timedelta(minutes=10)) for f in faults]
        progress(f"{name} ({day.app}): {len(day.services)} services, {len(windows)} windows")
        with prometheus_server(openmetrics([day])) as url:
            if args.latency:
                async with _slow_proxy(url, args.latency) as slow:
                    rows = await _measure(slow, REPO_ROOT / "benchmarks" / "nezha" / f"{day.app.lower()}.yml", windows)
            else:
                rows = await _measure(url, REPO_ROOT / "benchmarks" / "nezha" / f"{day.app.lower()}.yml", windows)
        per_day[name] = {"app": day.app, "rows": rows}
    return per_day


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--days", nargs="+", default=list(DAYS), choices=DAYS)
    ap.add_argument("--faults", type=int, default=5, help="first N faults of each day (0: all)")
    ap.add_argument("--latency", type=float, default=0.0, help="hold every Prometheus answer this many seconds")
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--json", type=Path, default=RESULTS_DIR / "scope_queries.json")
    args = ap.parse_args(argv)
    if not args.data.exists():
        print(f"no Nezha data at {args.data}; nothing to measure")
        return 0
    began = time.perf_counter()
    per_day = asyncio.run(_run(args))
    table = []
    for name, d in per_day.items():
        rows = d["rows"]
        table.append([f"{name} {d['app']}", rows[0]["services"], len(rows),
                      num(statistics.median(r["per_service_queries"] for r in rows), 0),
                      num(statistics.median(r["scope_queries"] for r in rows), 0),
                      num(statistics.median(r["per_service_s"] for r in rows), 2),
                      num(statistics.median(r["scope_s"] for r in rows), 2),
                      f"{sum(r['identical'] for r in rows)}/{len(rows)}",
                      sum(r["per_service_errors"] for r in rows), sum(r["scope_errors"] for r in rows)])
    print(format_table(["day", "services", "windows", "queries per-service", "queries scope", "s per-service",
                        "s scope", "identical", "errors per-service", "errors scope"], table,
                       title=f"signals of every service, with yesterday's (latency added: {args.latency:g} s)"))
    save_and_say(args.json, {"benchmark": "scope_queries", "when": utc_now(),
                             "machine": machine_info(binaries=("prometheus",)), "latency_s": args.latency,
                             "days": per_day, "elapsed_s": time.perf_counter() - began})
    return 0


if __name__ == "__main__":
    sys.exit(main())
