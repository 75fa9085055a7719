"""What the escalation rule adds to each incident cycle: the time of `Escalator.run` (follow open pages, then the
rule over every open incident) with N open incidents, next to the cycle's idle work that runs anyway (an
`IncidentProcessor.step()` on an empty inbox and `IncidentWorkflow.due()`), on SQLite and PostgreSQL.

    .venv/bin/python -m benchmarks.escalation_cycle                       # 10 and 50 open incidents, both stores
    .venv/bin/python -m benchmarks.escalation_cycle --incidents 10 --cycles 5 --store sqlite   # a quick run

Setup per store and N: a fresh database, N unrelated critical alerts (one service each, 3 minutes apart, 20 minutes
ago onwards) through the real inbox and processor, each incident given a message ts as if posted; one team owns
every service (PagerDuty), `max_per_hour: 2`, no investigation (every incident is "unknown"). The first cycle writes
each incident's decision and offers two pages (through `propose`: prepared, stored, audited); the next cycles are the
steady state (nothing changed: no writes). Reported: ms for the first cycle, the median steady cycle, the idle
baseline, and steady ÷ baseline. Against the default `incidents.every` of 10 s, the share of a cycle is also shown.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from benchmarks._report import (
    RESULTS_DIR,
    command_line,
    format_table,
    fresh_postgres,
    machine_info,
    progress,
    save_and_say,
    utc_now,
)
from sre_bot.compose import open_deps
from sre_bot.config import parse_config
from sre_bot.escalation.service import Escalator
from sre_bot.incidents.processor import IncidentProcessor
from sre_bot.incidents.workflow import IncidentWorkflow
from sre_bot.settings import load_settings

EVERY_S = 10.0  # incidents.every's default


def _body(i: int, now: datetime) -> dict[str, Any]:
    labels = {"alertname": f"Unknown{i}", "service": f"svc-{i}", "severity": "critical"}
    start = now - timedelta(minutes=20) + timedelta(minutes=3 * i)
    return {"receiver": "sre-bot", "status": "firing", "version": "4", "groupKey": f"{{}}:{{alertname=\"Unknown{i}\"}}",
            "truncatedAlerts": 0, "groupLabels": {"alertname": labels["alertname"]}, "commonLabels": labels,
            "commonAnnotations": {}, "externalURL": "http://alertmanager:9093",
            "alerts": [{"status": "firing", "labels": labels, "annotations": {"summary": f"svc-{i} is unwell"},
                        "startsAt": start.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "endsAt": "0001-01-01T00:00:00Z",
                        "generatorURL": "", "fingerprint": f"{i:016x}"}]}


def _config(n: int) -> Any:
    services = {f"svc-{i}": {} for i in range(n)}
    return parse_config({
        "services": services,
        "incidents": {"channel": "C0INCIDENTS", "investigate": False},
        "actions": {"approvers": {"users": ["W222"]}},
        "escalation": {"teams": {"t": {"services": list(services), "pagerduty": True}},
                       "unknown": {"after": "10m", "max_per_hour": 2}},
    })


async def _ms(work: Any) -> float:
    t = time.perf_counter()
    await work
    return (time.perf_counter() - t) * 1000


async def _run(db_url: str, n: int, cycles: int) -> dict[str, Any]:
    # the incidents start 20 minutes ago and 3 minutes apart: the first 4 are past `after` in the last cycles too
    now = datetime.now(timezone.utc)
    settings = load_settings(None, SRE_BOT_DB_URL=db_url, SRE_BOT_TOPOLOGY_REFRESH="0",
                             SRE_BOT_PAGERDUTY_ROUTING_KEYS='{"t": "R0UT1NGK3Y0000000000000000000001"}')
    async with open_deps(settings, config=_config(n), use_store=True, use_llm=False) as deps:
        store = deps.store
        assert store is not None
        for i in range(n):
            await store.inbox_add(_body(i, now), alerts=1, source="bench", now=now)
        processor = IncidentProcessor(deps)
        while (await processor.step()).bodies:
            pass
        for s in await store.incidents.listing(open_only=True, limit=n):
            await store.incidents.set_message(s.key, ts=f"1700000000.{s.number:06d}")
        workflow = IncidentWorkflow(deps)
        escalator = Escalator(deps)
        said: list[str] = []

        async def send(s: Any, text: str) -> None:
            said.append(text)

        async def post(req: Any) -> None:
            said.append(req.id)

        async def idle() -> None:
            await processor.step()
            await workflow.due()

        first = await _ms(escalator.run(send, post))
        steady = [await _ms(escalator.run(send, post)) for _ in range(cycles)]
        base = [await _ms(idle()) for _ in range(cycles)]
        offered = len(await store.recent(100))
    med, base_med = statistics.median(steady), statistics.median(base)
    return {"incidents": n, "first_ms": first, "steady_ms": med, "baseline_ms": base_med,
            "ratio": med / base_med if base_med else None, "share_of_cycle": med / 1000 / EVERY_S,
            "requests": offered}


async def _main(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for store in args.store:
        for n in args.incidents:
            if store == "sqlite":
                tmp = tempfile.TemporaryDirectory(prefix="bench-esc-")
                url: str | None = f"sqlite+aiosqlite:///{tmp.name}/bot.db"
            else:
                url = await fresh_postgres("sre_bot_bench_escalation")
                if url is None:
                    progress("PostgreSQL not reachable: skipped")
                    continue
            progress(f"{store}: {n} open incidents, {args.cycles} cycles")
            results[f"{store}/{n}"] = {"store": store, **await _run(url, n, args.cycles)}
    return results


def _table(results: dict[str, Any]) -> str:
    rows = [[r["store"], str(r["incidents"]), f"{r['first_ms']:.0f}", f"{r['steady_ms']:.1f}",
             f"{r['baseline_ms']:.1f}", f"{r['ratio']:.1f}×" if r["ratio"] else "—",
             f"{r['share_of_cycle']:.2%}", str(r["requests"])] for r in results.values()]
    return format_table(["store", "open incidents", "first cycle ms", "steady cycle ms", "idle cycle ms",
                         "steady ÷ idle", "of a 10 s cycle", "requests made"], rows,
                        title="escalation rule per incident cycle")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--incidents", type=int, nargs="+", default=[10, 50])
    p.add_argument("--cycles", type=int, default=20)
    p.add_argument("--store", nargs="+", choices=["sqlite", "postgresql"], default=["sqlite", "postgresql"])
    p.add_argument("--json", type=Path, default=RESULTS_DIR / "escalation_cycle.json")
    args = p.parse_args(argv)
    started = time.monotonic()
    results = asyncio.run(_main(args))
    print(_table(results))
    info = machine_info()
    print(f"machine: {info['cpu']} ×{info['cpu_count']}, Python {info['python']}")
    save_and_say(args.json, {"benchmark": "escalation_cycle", "when": utc_now(), "machine": info,
                             "command": command_line(), "results": results,
                             "elapsed_s": time.monotonic() - started})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
