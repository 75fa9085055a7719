"""What one answer costs in backend calls and waves: an investigation, and `/sre status`, behind slow backends.

    .venv/bin/python -m benchmarks.investigation_cost                     # sandbox + Nezha TrainTicket, 0 and 0.5 s
    .venv/bin/python -m benchmarks.investigation_cost --latency 1 --no-nezha
    .venv/bin/python -m benchmarks.investigation_cost --nezha-fault 3 --no-traces

Every backend sits behind a delaying reverse proxy (aiohttp, real TCP on loopback, in a thread and event loop of
its own so the bot's CPU work cannot stretch what it records) that holds every request `--latency` seconds and then
forwards it, recording (backend, method, path, query, start, end, status). The bot's settings point at the proxies
(`load_settings` with their URLs, as `sre-bot demo` does) and `open_deps` builds its real clients, once per latency
as in a running bot; every case runs once unrecorded first (the analysis worker processes start on first use),
then `--repeat` times: calls and waves from the first recorded run, wall time the median. Latency 0 runs in the
same process as the baseline.

Cases:
- the sandbox (`checkout-bad-deploy`; Prometheus, Loki, Argo CD, Alertmanager wire formats), served in the
  proxies' loop: `investigate(deps, "why is payments-api slow?")`, `"what happened to payments-db?"`, and what
  `/sre status checkout` runs (`status_report` over the default window); and the first question again with
  `--wide` idle services added to the bot's config (no data anywhere: 6 + 54 = 60 services in scope, the
  investigation's cap), for the cost of a wide scope with all four backends;
- Nezha TrainTicket (`../shared/benchmarks/nezha/2023-01-29`, read in place, 46 services): the pod gauges (and,
  unless `--no-traces`, the Tempo service-graph and span-metric series of `_nezha_traces.py`) backfilled into a
  real Prometheus (`tests.realprom`), the bot configured with `benchmarks/nezha/trainticket.yml`, Prometheus only,
  clock frozen 5 min after fault `--nezha-fault`'s injection: `investigate(deps, "why is ts-ui-dashboard slow?",
  window=10m)` as `benchmarks.nezha_rca` asks it.

Per case: requests per backend, repeated requests (same method, path and query), waves (a wave starts with the
first request that starts after every earlier request has ended: the gaps in the union of the call intervals),
chain (the most calls of the case that ran one after another, none overlapping: wall ≥ chain × latency), the most
calls in flight at once, wall time, wall ÷ latency and wall ÷ the slowest call (issue 15's target: ≤ 3×).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
from aiohttp import web

from ._report import (
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

__all__ = ["Call", "CaseCost", "waves", "chain", "max_in_flight", "cost_of", "main"]

BACKENDS = ("prometheus", "loki", "argocd", "alertmanager")
NEZHA_DAY = "2023-01-29"  # TrainTicket, 46 services
DATA = REPO_ROOT.parent / "shared" / "benchmarks" / "nezha"
_HOP = {"host", "content-length", "transfer-encoding", "connection", "keep-alive", "accept-encoding"}
T = TypeVar("T")


# ---------------------------------------------------------------------------------------------------- the numbers

@dataclass(frozen=True)
class Call:
    """One request as the proxy saw it; times in perf_counter seconds."""

    backend: str
    method: str
    path: str
    query: str
    start: float
    end: float
    status: int
    body: str = ""

    @property
    def key(self) -> tuple[str, str, str, str, str]:
        return (self.backend, self.method, self.path, self.query, self.body)


def waves(calls: Sequence[Call]) -> list[list[Call]]:
    """The calls split where no call is in flight: a wave starts with the first call that starts after every
    earlier call has ended."""
    out: list[list[Call]] = []
    end = float("-inf")
    for c in sorted(calls, key=lambda c: (c.start, c.end)):
        if not out or c.start >= end:
            out.append([])
        out[-1].append(c)
        end = max(end, c.end)
    return out


def chain(calls: Sequence[Call]) -> int:
    """The most calls that ran one after another (each starting after the previous ended): the largest set of
    pairwise disjoint intervals, by earliest end first."""
    n, last = 0, float("-inf")
    for c in sorted(calls, key=lambda c: c.end):
        if c.start >= last:
            n, last = n + 1, c.end
    return n


def max_in_flight(calls: Sequence[Call]) -> int:
    events = sorted([(c.start, 1) for c in calls] + [(c.end, -1) for c in calls], key=lambda e: (e[0], e[1]))
    most = now = 0
    for _, d in events:
        now += d
        most = max(most, now)
    return most


def endpoint(c: Call) -> str:
    """A call's kind, names collapsed: `prometheus query_range`, `argocd GET /api/v1/applications/*`."""
    path = c.path
    if c.backend == "argocd" and path.startswith("/api/v1/applications/"):
        path = "/api/v1/applications/*"
    if c.backend == "prometheus" and path.startswith("/api/v1/label/"):
        path = "/api/v1/label/*/values"
    short = path.rsplit("/", 1)[-1] if c.backend in ("prometheus", "loki") and "label" not in path else path
    return f"{c.backend} {c.method} {short}"


@dataclass
class CaseCost:
    suite: str
    case: str
    latency_s: float
    wall_s: float
    requests: dict[str, int]
    total: int
    repeated: int  # calls whose (backend, method, path, query, body) an earlier call of the case already sent
    after_answer: int  # calls still running when the answer was given (cut by its deadline, say)
    waves: int
    chain: int
    max_in_flight: int
    slowest_call_s: float
    wall_over_latency: float | None
    wall_over_slowest: float | None
    per_wave: list[dict[str, Any]] = field(default_factory=list)
    endpoints: dict[str, int] = field(default_factory=dict)
    repeats: list[dict[str, Any]] = field(default_factory=list)
    answer: dict[str, Any] = field(default_factory=dict)
    walls_s: list[float] = field(default_factory=list)  # every recorded run (wall_s is their median)
    calls: list[dict[str, Any]] = field(default_factory=list)  # the first run's calls, times from its start


def cost_of(suite: str, case: str, latency: float, calls: Sequence[Call], wall: float, t0: float,
            answer: dict[str, Any] | None = None) -> CaseCost:
    """The case's numbers from its recorded calls (`t0`: when the case started, for relative times)."""
    ws = waves(calls)
    seen: Counter[tuple[str, str, str, str, str]] = Counter(c.key for c in calls)
    slowest = max((c.end - c.start for c in calls), default=0.0)
    per_wave = [{"start_s": round(min(c.start for c in w) - t0, 3), "end_s": round(max(c.end for c in w) - t0, 3),
                 "calls": dict(sorted(Counter(endpoint(c) for c in w).items()))} for w in ws]
    return CaseCost(
        suite=suite, case=case, latency_s=latency, wall_s=round(wall, 4),
        requests={b: sum(c.backend == b for c in calls) for b in BACKENDS}, total=len(calls),
        repeated=sum(n - 1 for n in seen.values()), after_answer=sum(c.end > t0 + wall for c in calls),
        waves=len(ws), chain=chain(calls),
        max_in_flight=max_in_flight(calls), slowest_call_s=round(slowest, 4),
        wall_over_latency=round(wall / latency, 2) if latency else None,
        wall_over_slowest=round(wall / slowest, 2) if slowest else None,
        per_wave=per_wave, endpoints=dict(sorted(Counter(endpoint(c) for c in calls).items())),
        repeats=[{"backend": k[0], "method": k[1], "path": k[2], "query": k[3][:300], "times": n}
                 for k, n in seen.items() if n > 1],
        answer=answer or {}, walls_s=[round(wall, 4)],
        calls=[{"start_s": round(c.start - t0, 4), "end_s": round(c.end - t0, 4), "call": endpoint(c),
                "status": c.status, "path": c.path, "query": c.query[:500], "body": c.body[:500]}
               for c in sorted(calls, key=lambda c: c.start)])


# ---------------------------------------------------------------------------------------------------- the proxies

class _BackendLoop:
    """An event loop in a thread of its own, for the proxies (and the sandbox they front)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="backends", daemon=True)
        self._thread.start()

    async def run(self, coro: Awaitable[T]) -> T:
        async def wrapped() -> T:
            return await coro
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(wrapped(), self.loop))

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()


class Recorder:
    """Every call the proxies forwarded (appended from the backends' thread; read between cases)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: list[Call] = []
        self.in_flight = 0

    def begin(self) -> None:
        with self._lock:
            self.in_flight += 1

    def add(self, call: Call) -> None:
        with self._lock:
            self._calls.append(call)
            self.in_flight -= 1

    async def quiet(self, limit: float = 60.0) -> bool:
        """Wait until no call is in flight (a call an answer left behind still reaches its backend); False when
        some still are after `limit` seconds."""
        deadline = time.perf_counter() + limit
        while self.in_flight and time.perf_counter() < deadline:
            await asyncio.sleep(0.01)
        return not self.in_flight

    def take(self) -> list[Call]:
        with self._lock:
            out, self._calls = self._calls, []
        return out


class _Proxy:
    """A delaying reverse proxy to `target`: holds each request `latency` s, forwards it, records it."""

    def __init__(self, backend: str, target: str, latency: float, recorder: Recorder) -> None:
        self.backend, self.target, self.latency, self.recorder = backend, target.rstrip("/"), latency, recorder
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self.url = ""

    async def start(self) -> str:
        self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), auto_decompress=True)
        app = web.Application(client_max_size=64 * 2**20)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        assert self._session is not None
        start = time.perf_counter()
        self.recorder.begin()
        body, status = b"", 499  # 499: the client went away (the handler was cancelled)
        try:
            body = await request.read()
            if self.latency:
                await asyncio.sleep(self.latency)
            headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
            try:
                async with self._session.request(request.method, self.target + request.path_qs, data=body or None,
                                                 headers=headers, allow_redirects=False) as resp:
                    status, payload = resp.status, await resp.read()
                    ctype = resp.headers.get("Content-Type")
                out = web.Response(body=payload, status=status,
                                   headers={"Content-Type": ctype} if ctype else None)
            except aiohttp.ClientError as e:
                status = 502
                out = web.Response(status=502, text=f"proxy: {e}")
        finally:
            self.recorder.add(Call(self.backend, request.method, request.path, request.query_string, start,
                                   time.perf_counter(), status, body.decode("utf-8", "replace")[:2000]))
        return out


@contextlib.asynccontextmanager
async def proxies(bg: _BackendLoop, targets: dict[str, str], latency: float, recorder: Recorder,
                  ) -> AsyncIterator[dict[str, str]]:
    """One proxy per backend in `targets` ({backend: url}); yields {backend: proxy url}."""
    started: list[_Proxy] = []
    try:
        for name, url in targets.items():
            p = _Proxy(name, url, latency, recorder)
            await bg.run(p.start())
            started.append(p)
        yield {p.backend: p.url for p in started}
    finally:
        for p in started:
            await bg.run(p.stop())


# ---------------------------------------------------------------------------------------------------- the cases

def _answer_of(result: Any) -> dict[str, Any]:
    """What the answer said, to check that latency did not change it (cut by the deadline, say)."""
    from sre_bot.investigation import Investigation

    if isinstance(result, Investigation):
        top = result.hypotheses[0] if result.hypotheses else None
        return {"top": top.service if top else None, "cause": top.cause if top else None,
                "confidence": round(top.confidence, 3) if top else None, "insufficient": result.insufficient,
                "services": len(result.services), "scope": result.services, "gaps": result.gaps}
    return {"summary": getattr(result, "summary", ""), "gaps": getattr(result, "gaps", [])}


async def _once(recorder: Recorder, run: Callable[[], Awaitable[Any]]) -> tuple[Any, list[Call], float, float]:
    """One run: its result, every call it made (also those still running when it answered), wall time, start."""
    await recorder.quiet()  # nothing left over from the run before
    recorder.take()
    t0 = time.perf_counter()
    result = await run()
    wall = time.perf_counter() - t0
    await recorder.quiet()
    return result, recorder.take(), wall, t0


async def _measure(suite: str, case: str, latency: float, recorder: Recorder, run: Callable[[], Awaitable[Any]],
                   repeat: int) -> CaseCost:
    """The case `repeat` times on warm deps: the first run's calls, the median wall time (calls per run are
    checked to be the same in number)."""
    result, calls, wall, t0 = await _once(recorder, run)
    cost = cost_of(suite, case, latency, calls, wall, t0, _answer_of(result))
    cost.answer["tops"] = [cost.answer.get("top")]
    for _ in range(repeat - 1):
        again, more, w, _ = await _once(recorder, run)
        cost.walls_s.append(round(w, 4))
        cost.answer["tops"].append(_answer_of(again).get("top"))
        if len(more) != len(calls):
            cost.answer.setdefault("calls_per_run_differ", []).append(len(more))
    cost.wall_s = round(statistics.median(cost.walls_s), 4)
    slowest = cost.slowest_call_s
    cost.wall_over_latency = round(cost.wall_s / latency, 2) if latency else None
    cost.wall_over_slowest = round(cost.wall_s / slowest, 2) if slowest and latency else None
    progress(f"  {suite} {case!r} @ {latency:g}s: {cost.total} calls {cost.requests}, {cost.waves} waves, "
             f"chain {cost.chain}, walls {cost.walls_s}, top {cost.answer['tops']}")
    return cost


_ENV = {"prometheus": "PROMETHEUS_URL", "loki": "LOKI_URL", "argocd": "ARGOCD_URL", "alertmanager": "ALERTMANAGER_URL"}


async def sandbox_cases(bg: _BackendLoop, latencies: Sequence[float], scenario: str, repeat: int, wide: int,
                        ) -> list[CaseCost]:
    from sre_bot.clock import system_clock
    from sre_bot.compose import open_deps
    from sre_bot.config import ServiceConfig
    from sre_bot.sandbox.scenario import load_scenario
    from sre_bot.sandbox.server import Sandbox
    from sre_bot.services.investigate import investigate
    from sre_bot.services.status import status_report
    from sre_bot.settings import load_settings
    from sre_bot.windows import parse_window

    sc = load_scenario(scenario)
    stack = contextlib.AsyncExitStack()
    sb = await bg.run(stack.enter_async_context(Sandbox(sc, clock=system_clock)))
    suites: list[tuple[str, Any, list[str]]] = [
        (f"sandbox {scenario}", sb, ["why is payments-api slow?", "what happened to payments-db?",
                                     "/sre status checkout"])]
    if wide:  # the same shop with `wide` more services, configured (in the bot and the simulator) but without data
        idle = [ServiceConfig(name=f"idle-{i:02d}") for i in range(wide)]
        config = sb.config.model_copy(update={"services": [*sb.config.services, *idle]})
        wide_sb = await bg.run(stack.enter_async_context(Sandbox(sc, config=config, clock=system_clock)))
        suites.append((f"sandbox +{wide} idle services", wide_sb, ["why is payments-api slow?"]))

    def run(deps: Any, case: str) -> Awaitable[Any]:
        if case.startswith("/sre status "):
            window = parse_window(None, now=deps.clock(), default=deps.default_window)
            return status_report(deps, case.removeprefix("/sre status "), window)
        return investigate(deps, case)

    out: list[CaseCost] = []
    recorder = Recorder()
    try:
        for latency in latencies:
            for suite, box, cases in suites:
                targets = {b: u for b, u in zip(BACKENDS, (box.urls.prometheus, box.urls.loki, box.urls.argocd,
                                                           box.urls.alertmanager), strict=True) if u}
                async with proxies(bg, targets, latency, recorder) as urls:
                    settings = load_settings(None, **{_ENV[b]: u for b, u in urls.items()}, GRAFANA_URL=None,
                                             ANTHROPIC_API_KEY=None)
                    # one deps per latency, as a running bot has (its analysis workers started by a warm-up run)
                    async with open_deps(settings, config=box.config, clock=system_clock, use_llm=False) as deps:
                        for case in cases:
                            await run(deps, case)
                        for case in cases:
                            out.append(await _measure(suite, case, latency, recorder,
                                                      lambda case=case: run(deps, case), repeat))  # type: ignore[misc]
    finally:
        await bg.run(stack.aclose())
    return out


def _nezha_history(data: Path, with_traces: bool) -> tuple[Any, str]:
    from ._nezha_data import load_day, openmetrics

    day = load_day(data, NEZHA_DAY)
    text = openmetrics([day]).removesuffix("# EOF\n")
    if with_traces:
        from ._nezha_traces import edge_latency_openmetrics, trace_openmetrics

        t0 = time.perf_counter()
        ex = trace_openmetrics(day.path)
        edges, _ = edge_latency_openmetrics(day.path / "metric", set(day.services))
        text += ex.text + edges
        progress(f"  traces: {ex.spans:,} spans -> {len(ex.edges)} edges ({time.perf_counter() - t0:.0f}s)")
    return day, text + "# EOF\n"


@contextlib.contextmanager
def _prometheus(text: str) -> Iterator[str]:
    from tests.realprom import prometheus_server

    with prometheus_server(text) as url:
        yield url


async def nezha_cases(bg: _BackendLoop, latencies: Sequence[float], data: Path, fault_no: int, with_traces: bool,
                      repeat: int) -> list[CaseCost]:
    from sre_bot.clock import frozen_clock
    from sre_bot.compose import open_deps
    from sre_bot.config import load_config
    from sre_bot.services.investigate import investigate
    from sre_bot.settings import load_settings

    t0 = time.perf_counter()
    day, text = _nezha_history(data, with_traces)
    fault = day.faults[fault_no - 1]
    at: datetime = fault.at + timedelta(minutes=5)
    question = f"why is {day.entry} slow?"
    config = load_config(REPO_ROOT / "benchmarks" / "nezha" / "trainticket.yml", required=True)
    out: list[CaseCost] = []
    recorder = Recorder()
    with _prometheus(text) as prom:
        del text
        progress(f"  Nezha {NEZHA_DAY}: {len(day.services)} services, Prometheus ready after "
                 f"{time.perf_counter() - t0:.0f}s; fault {fault_no} ({fault.inject_time}, {fault.kind}, "
                 f"{fault.service})")
        for latency in latencies:
            async with proxies(bg, {"prometheus": prom}, latency, recorder) as urls:
                settings = load_settings(None, PROMETHEUS_URL=urls["prometheus"], LOKI_URL=None, ARGOCD_URL=None,
                                         ALERTMANAGER_URL=None, GRAFANA_URL=None, ANTHROPIC_API_KEY=None)
                async with open_deps(settings, config=config, clock=frozen_clock(at), use_llm=False) as deps:
                    def ask() -> Awaitable[Any]:
                        return investigate(deps, question, at=at, window=timedelta(minutes=10))
                    await ask()  # warm-up: the analysis workers start
                    cost = await _measure(
                        f"nezha {day.app} {len(config.services)} svc" + ("" if with_traces else " (no traces)"),
                        question, latency, recorder, ask, repeat)
                    cost.answer.update(truth=fault.service, fault=fault.kind, inject_time=fault.inject_time)
                    out.append(cost)
    return out


# ---------------------------------------------------------------------------------------------------- the report

def table(costs: Sequence[CaseCost]) -> str:
    rows = []
    for c in costs:
        rows.append([c.suite, c.case, num(c.latency_s, 2), c.requests["prometheus"], c.requests["loki"],
                     c.requests["argocd"], c.requests["alertmanager"], c.total, c.repeated, c.after_answer,
                     c.waves, c.chain, c.max_in_flight, num(c.wall_s, 2),
                     "—" if c.wall_over_latency is None else f"{c.wall_over_latency:.1f}×",
                     "—" if c.wall_over_slowest is None else f"{c.wall_over_slowest:.1f}×"])
    return format_table(["suite", "case", "latency s", "prom", "loki", "argocd", "alertmgr", "total", "repeated",
                         "after answer", "waves", "chain", "in flight", "wall s", "wall ÷ latency",
                         "wall ÷ slowest"], rows,
                        title="backend calls per answer (every backend call delayed by `latency s`)")


def wave_lines(costs: Sequence[CaseCost]) -> str:
    """Each case's waves at the largest latency: when, and which calls."""
    top = max((c.latency_s for c in costs), default=0.0)
    out = []
    for c in costs:
        if c.latency_s != top:
            continue
        out.append(f"{c.suite} — {c.case} @ {top:g}s")
        for i, w in enumerate(c.per_wave, 1):
            calls = ", ".join(f"{k} ×{n}" for k, n in w["calls"].items())
            out.append(f"  wave {i}: {w['start_s']:6.2f}–{w['end_s']:6.2f}s  {calls}")
        for r in c.repeats:
            out.append(f"  repeated ×{r['times']}: {r['backend']} {r['method']} {r['path']}?{r['query'][:160]}")
    return "\n".join(out)


async def _run(args: argparse.Namespace) -> list[CaseCost]:
    latencies = [0.0, args.latency] if args.latency else [0.0]
    bg = _BackendLoop()
    costs: list[CaseCost] = []
    try:
        progress(f"sandbox {args.scenario}: latencies {latencies}")
        costs += await sandbox_cases(bg, latencies, args.scenario, args.repeat, args.wide)
        if args.nezha:
            if (args.data / NEZHA_DAY).exists():
                progress(f"Nezha {NEZHA_DAY} (TrainTicket): building the real Prometheus …")
                costs += await nezha_cases(bg, latencies, args.data, args.nezha_fault, args.traces, args.repeat)
            else:
                progress(f"no Nezha data at {args.data / NEZHA_DAY}; TrainTicket skipped")
    finally:
        bg.close()
    return costs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--latency", type=float, default=0.5, help="seconds added to every backend call (0 as baseline)")
    ap.add_argument("--scenario", default="checkout-bad-deploy")
    ap.add_argument("--repeat", type=int, default=3, help="recorded runs per case (after one warm-up); wall = median")
    ap.add_argument("--wide", type=int, default=54,
                    help="also ask the sandbox's first question with this many idle services added (0: not)")
    ap.add_argument("--no-nezha", dest="nezha", action="store_false", help="the sandbox only")
    ap.add_argument("--nezha-fault", type=int, default=1, help="which TrainTicket fault (1-based) to ask about")
    ap.add_argument("--no-traces", dest="traces", action="store_false",
                    help="TrainTicket pod gauges only (no service-graph series: the call-graph probe finds nothing)")
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--json", type=Path, default=RESULTS_DIR / "investigation_cost.json")
    args = ap.parse_args(argv)
    began = time.perf_counter()
    costs = asyncio.run(_run(args))
    print(table(costs))
    print()
    print(wave_lines(costs))
    save_and_say(args.json, {"benchmark": "investigation_cost", "when": utc_now(), "command": command_line(),
                             "machine": machine_info(binaries=("prometheus",) if args.nezha else ()),
                             "latency_s": args.latency, "scenario": args.scenario,
                             "nezha": {"day": NEZHA_DAY, "fault": args.nezha_fault, "traces": args.traces}
                             if args.nezha else None,
                             "cases": [asdict(c) for c in costs], "elapsed_s": time.perf_counter() - began})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
