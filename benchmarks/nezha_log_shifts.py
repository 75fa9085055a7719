"""Do the faulty service's logs show a new or surging template after a Nezha fault, and how many others do too?

    .venv/bin/python -m benchmarks.nezha_log_shifts [--data ../shared/benchmarks/nezha] [--day 2023-01-29]

For each fault, as `sre-bot ask` would see it (asked 5 min after `inject_time`, about the 10 min before, baseline
the hour before that): `scope_log_shifts` over every service, through the real LokiBackend and the Loki
wire-format server over the day's logs (`_nezha_logs.py`): error-filtered lines (the bot's default
`log_error_filter`). The same comparison over all lines (no filter) runs in process with the same analysis
(`shifts_by_service`, rates per covered minute) for contrast. A row: the faulty service flagged or not, and how
many other services were flagged (false positives).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from benchmarks._nezha_data import _faults
from benchmarks._nezha_logs import DayLogs, create_app, load_logs, serve_app
from benchmarks._report import RESULTS_DIR, format_table, machine_info, save_and_say, utc_now
from sre_bot.analysis.log_shift import active_minutes, shifts_by_service
from sre_bot.backends.loki import LokiBackend
from sre_bot.config import parse_config
from sre_bot.deps import Deps
from sre_bot.models import TimeRange
from sre_bot.settings import load_settings
from sre_bot.tools.logs import scope_log_shifts

AT, WINDOW = timedelta(minutes=5), timedelta(minutes=10)


def _all_lines(logs: DayLogs, window: TimeRange, baseline: TimeRange) -> set[str]:
    def grab(period: TimeRange) -> dict[str, list[str]]:
        a, b = int(period.start.timestamp() * 1e9), int(period.end.timestamp() * 1e9)
        out: dict[str, list[tuple[int, str]]] = {}
        for s in logs.streams:
            i, j = s.span(a, b)
            out.setdefault(s.labels["app"], []).extend(zip(s.ts[i:j], s.lines[i:j], strict=True))
        return {k: [x for _, x in sorted(v)] for k, v in out.items()}

    minutes = []
    for s in logs.streams:
        minutes += [(t / 1e9 // 60 * 60 + 60, 1.0) for t in s.ts]
    bm = active_minutes(minutes, baseline.start.timestamp(), baseline.end.timestamp())
    wm = active_minutes(minutes, window.start.timestamp(), window.end.timestamp())
    return set(shifts_by_service(grab(baseline), grab(window), before_minutes=bm, during_minutes=wm))


async def run(data: Path, day: str) -> dict[str, Any]:
    logs = load_logs(data, day)
    faults = _faults(day, data / day / "fault_list.json", [])
    names = logs.services()
    config = parse_config({"defaults": {"namespace": "trainticket"}, "services": [{"name": n} for n in names]})
    rows = []
    with serve_app(create_app(logs)) as url:
        async with httpx.AsyncClient(timeout=60) as client:
            deps = Deps(settings=load_settings(None, LOKI_URL=url), config=config, loki=LokiBackend(client, url))
            for f in faults:
                window = TimeRange.ending(f.at + AT, WINDOW)
                baseline = window.before(timedelta(hours=1))
                t0 = time.perf_counter()
                found = await scope_log_shifts(deps, config.services, window, baseline)
                secs = time.perf_counter() - t0
                flagged = {k for k, v in found.items() if any(e.status == "ok" for e in v)}
                unjudged = {k for k, v in found.items() if any(e.status == "no_data" for e in v)}
                top = next((e for e in found.get(f.service, []) if e.status == "ok"), None)
                all_flagged = set(_all_lines(logs, window, baseline))
                rows.append({
                    "fault": f.index, "at": f.at.strftime("%H:%M:%S"), "kind": f.kind, "service": f.service,
                    "errors_hit": f.service in flagged, "errors_others": len(flagged - {f.service}),
                    "errors_unjudged": len(unjudged), "all_hit": f.service in all_flagged,
                    "all_others": len(all_flagged - {f.service}), "seconds": round(secs, 2),
                    "evidence": top.label if top else "", "others": sorted(flagged - {f.service}),
                })
    return {"rows": rows, "lines": logs.lines, "quirks": logs.quirks}


def _summary(rows: list[dict[str, Any]], kinds: tuple[str, ...]) -> list[str]:
    sel = [r for r in rows if r["kind"] in kinds]
    n = len(sel) or 1
    return [", ".join(kinds), str(len(sel)),
            f"{sum(r['errors_hit'] for r in sel)}/{len(sel)}", f"{sum(r['errors_others'] for r in sel) / n:.2f}",
            f"{sum(r['all_hit'] for r in sel)}/{len(sel)}", f"{sum(r['all_others'] for r in sel) / n:.2f}"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared/benchmarks/nezha")
    p.add_argument("--day", default="2023-01-29")
    args = p.parse_args()
    if not (args.data / args.day / "log").is_dir():
        print(f"skipped: no logs under {args.data / args.day}")
        return
    started = time.time()
    res = asyncio.run(run(args.data, args.day))
    rows = res["rows"]
    print(format_table(["#", "inject (UTC)", "type", "faulty service", "error tpl", "others", "all-lines tpl",
                        "others", "s", "evidence"],
                       [[r["fault"], r["at"], r["kind"], r["service"], "yes" if r["errors_hit"] else "-",
                         r["errors_others"], "yes" if r["all_hit"] else "-", r["all_others"], r["seconds"],
                         r["evidence"][:70]] for r in rows], title=f"log shifts per fault, {args.day}"))
    print(format_table(["faults", "n", "error tpl: faulty flagged", "others/fault", "all lines: faulty flagged",
                        "others/fault"],
                       [_summary(rows, ("return", "exception")), _summary(rows, ("return",)),
                        _summary(rows, ("exception",)), _summary(rows, ("cpu_contention",))], title="summary"))
    save_and_say(RESULTS_DIR / "nezha_log_shifts.json", {
        "machine": machine_info(), "started": utc_now(), "elapsed_s": time.time() - started, **res,
        "settings": {"day": args.day, "ask_at": "inject+5m", "window": "10m", "baseline": "1h"}})


if __name__ == "__main__":
    main()
