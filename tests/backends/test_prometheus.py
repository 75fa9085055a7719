"""PrometheusBackend against the real Prometheus binary (history loaded with promtool), plus loop and timeout checks."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import pytest
from aiohttp import web

from sre_bot.backends.prometheus import PrometheusBackend
from sre_bot.config import Config
from sre_bot.errors import BackendTimeout, BackendUnavailable, QueryRejected
from sre_bot.metrics import Metrics
from sre_bot.models import TimeRange
from tests.fakes import free_port
from tests.realprom import prometheus_server

WEIRD = 'we"ird\\svc'  # a service name with a double quote and a backslash
# service -> (ok requests/s, 5xx requests/s)
SERVICES = {"checkout": (10.0, 1.0), "payment": (5.0, 0.5), WEIRD: (3.0, 0.0), 'we"ird': (7.0, 0.0)}
BUCKETS = (("0.05", 100), ("0.1", 160), ("0.25", 186), ("0.5", 196), ("1", 200), ("+Inf", 200))  # per 15s
CPU_CORES = 0.5
MEMORY = 256 * 2**20
STEP = 15


def _om_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def openmetrics_history(end: int, hours: float = 2.0) -> str:
    """Two hours of 15s samples ending at `end` (unix seconds) for the default signals' metrics."""
    times = range(end - int(hours * 3600), end + 1, STEP)
    out = ["# TYPE http_requests counter"]
    for svc, (ok, err) in SERVICES.items():
        for code, rps in (("200", ok), ("500", err)):
            out += [f'http_requests_total{{service="{_om_label(svc)}",code="{code}"}} {rps * STEP * (i + 1):g} {t}'
                    for i, t in enumerate(times) if rps]
    out.append("# TYPE http_request_duration_seconds histogram")
    for le, n in BUCKETS:
        out += [f'http_request_duration_seconds_bucket{{service="checkout",le="{le}"}} {n * (i + 1)} {t}'
                for i, t in enumerate(times)]
    out += [f'http_request_duration_seconds_count{{service="checkout"}} {200 * (i + 1)} {t}' for i, t in enumerate(times)]
    out += [f'http_request_duration_seconds_sum{{service="checkout"}} {20.0 * (i + 1):g} {t}' for i, t in enumerate(times)]
    out.append("# TYPE container_cpu_usage_seconds counter")
    out += [f'container_cpu_usage_seconds_total{{namespace="default",container="checkout"}} {CPU_CORES * STEP * (i + 1):g} {t}'
            for i, t in enumerate(times)]
    out.append("# TYPE container_memory_working_set_bytes gauge")
    out += [f'container_memory_working_set_bytes{{namespace="default",container="checkout"}} {MEMORY} {t}' for t in times]
    out.append("# EOF")
    return "\n".join(out) + "\n"


@pytest.fixture(scope="module")
def history_end() -> int:
    return int(time.time()) // STEP * STEP - 60


@pytest.fixture
def prom_url(real_prometheus, history_end: int) -> str:
    return real_prometheus(openmetrics_history(history_end))


@pytest.fixture
def window(history_end: int) -> TimeRange:
    return TimeRange.ending(datetime.fromtimestamp(history_end, timezone.utc), timedelta(hours=1))


EXPECTED = {"request_rate": 11.0, "error_ratio": 1 / 11, "latency_p95": 0.35, "latency_p99": 0.75,
            "cpu": CPU_CORES, "memory": float(MEMORY)}


@pytest.mark.prometheus
async def test_default_signal_queries_return_plausible_values(prom_url: str, window: TimeRange) -> None:
    """Every default signal query for a service runs on real Prometheus and gives the values the history implies."""
    config = Config()
    prom = PrometheusBackend(prom_url)
    rendered = config.signal_queries(config.service("checkout"))
    assert {r.name for r in rendered} >= set(EXPECTED)
    for r in rendered:
        series = await prom.query_range(r.query, window)
        assert len(series) == 1, (r.name, r.query, series)
        points = series[0].points
        assert 100 <= len(points) <= 240, (r.name, len(points))
        assert all(window.start.timestamp() - 1 <= p.t <= window.end.timestamp() for p in points)
        assert points[-1].v == pytest.approx(EXPECTED[r.name], rel=0.02), (r.name, points[-1])


@pytest.mark.prometheus
async def test_escaped_service_name_matches_only_itself(prom_url: str, window: TimeRange) -> None:
    """A service name with `"` and `\\` renders into a query Prometheus accepts and that selects only that service."""
    config = Config()
    for name, expected in ((WEIRD, 3.0), ('we"ird', 7.0)):
        [rate] = [r for r in config.signal_queries(config.service(name)) if r.name == "request_rate"]
        series = await PrometheusBackend(prom_url).query_range(rate.query, window)
        assert len(series) == 1 and series[0].last == pytest.approx(expected, rel=0.02), (name, rate.query)
    [rate] = [r for r in config.signal_queries(config.service(".*")) if r.name == "request_rate"]
    assert await PrometheusBackend(prom_url).query_range(rate.query, window) == []


@pytest.mark.prometheus
async def test_instant_query_scalar_and_nan(prom_url: str, history_end: int) -> None:
    """Instant vectors and scalars become one-point series; NaN results are dropped."""
    prom = PrometheusBackend(prom_url)
    at = datetime.fromtimestamp(history_end, timezone.utc)
    series = await prom.query('sum by (service) (rate(http_requests_total{code="500"}[5m]))', at=at)
    assert {s.labels["service"]: round(s.points[0].v, 3) for s in series} == {"checkout": 1.0, "payment": 0.5}
    assert all(len(s.points) == 1 and s.points[0].t == pytest.approx(history_end) for s in series)
    [scalar] = await prom.query("1 + 1", at=at)
    assert scalar.labels == {} and scalar.points[0].v == 2
    assert await prom.query("0 / 0") == []
    with pytest.raises(QueryRejected, match="string"):
        await prom.query('"foo"')
    window = TimeRange.ending(at, timedelta(minutes=10))
    assert await prom.query_range("0 / 0", window) == []
    assert all(math.isfinite(p.v) for s in await prom.query_range("1 / (vector(0) + 1)", window) for p in s.points)


@pytest.mark.prometheus
async def test_label_values_with_match(prom_url: str) -> None:
    """label_values lists every value, and only the matching series' values when match[] is given."""
    prom = PrometheusBackend(prom_url)
    assert set(await prom.label_values("service")) >= {"checkout", "payment", WEIRD, 'we"ird'}
    assert await prom.label_values("service", match='http_requests_total{code="500"}') == ["checkout", "payment"]
    with pytest.raises(QueryRejected):
        await prom.label_values("not a label")


@pytest.mark.prometheus
async def test_bad_query_is_rejected_with_prometheus_message(prom_url: str, window: TimeRange) -> None:
    """A PromQL parse error is QueryRejected carrying Prometheus's own error text, and is counted in metrics."""
    metrics = Metrics()
    prom = PrometheusBackend(prom_url, metrics=metrics)
    with pytest.raises(QueryRejected) as info:
        await prom.query_range("sum(rate(http_requests_total[5m])", window)
    assert "parse error" in str(info.value) and "unclosed left parenthesis" in str(info.value)
    assert info.value.backend == "prometheus" and info.value.operation == "query_range"
    assert metrics.registry.get_sample_value(
        "sre_bot_backend_errors_total", {"backend": "prometheus", "kind": "rejected"}) == 1
    assert metrics.registry.get_sample_value(
        "sre_bot_backend_request_duration_seconds_count", {"backend": "prometheus", "operation": "query_range"}) == 1


@pytest.mark.prometheus
async def test_ping_returns_version(prom_url: str) -> None:
    """ping returns the server version from the build info endpoint."""
    assert (await PrometheusBackend(prom_url).ping()).startswith("2.")


@pytest.mark.prometheus
async def test_step_sizing_caps_points(prom_url: str, history_end: int) -> None:
    """step_for picks a nice step that keeps every series within max_points on a real query."""
    end = datetime.fromtimestamp(history_end, timezone.utc)
    prom = PrometheusBackend(prom_url, max_points=50)
    window = TimeRange.ending(end, timedelta(hours=2))
    assert prom.step_for(window) == 300
    series = await prom.query_range('http_requests_total{service="checkout"}', window)
    assert series and all(len(s.points) <= 50 for s in series)
    default = PrometheusBackend(prom_url)
    assert default.step_for(TimeRange.ending(end, timedelta(hours=1))) == 30
    assert default.step_for(TimeRange.ending(end, timedelta(minutes=3))) == 1
    assert default.step_for(TimeRange.ending(end, timedelta(seconds=30))) == 1
    assert default.step_for(TimeRange.ending(end, timedelta(days=7))) == 3600
    assert default.step_for(TimeRange.ending(end, timedelta(days=400))) % 86400 == 0


@pytest.mark.prometheus
async def test_stopped_server_is_unavailable(real_prometheus, history_end: int) -> None:
    """A Prometheus that has stopped gives BackendUnavailable naming the URL and the cause."""
    with prometheus_server(f"# TYPE up gauge\nup 1 {history_end}\n# EOF\n") as url:
        prom = PrometheusBackend(url)
        assert await prom.ping()
    with pytest.raises(BackendUnavailable) as info:
        await prom.ping()
    assert url in str(info.value) and "connection refused" in str(info.value)


def test_graph_url_links_to_the_window() -> None:
    """graph_url opens the Prometheus graph tab on the query, its range and its end time."""
    prom = PrometheusBackend("http://prom:9090/", public_url="https://prom.example.com")
    window = TimeRange(start=datetime(2025, 1, 2, 10, 30, tzinfo=timezone.utc),
                       end=datetime(2025, 1, 2, 12, 0, tzinfo=timezone.utc))
    url = prom.graph_url('sum(rate(x{a="b c"}[5m]))', window)
    parts = urlsplit(url)
    assert url.startswith("https://prom.example.com/graph?") and " " not in url
    assert parse_qs(parts.query) == {"g0.expr": ['sum(rate(x{a="b c"}[5m]))'], "g0.range_input": ["1h30m"],
                                     "g0.end_input": ["2025-01-02 12:00:00"], "g0.tab": ["0"]}


@pytest.fixture
async def slow_prometheus() -> AsyncIterator[tuple[str, list[web.Request]]]:
    """An HTTP server on this test's own event loop: instant queries answer after 0.5 s, others fail."""
    seen: list[web.Request] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(request)
        await asyncio.sleep(0.5)
        return web.json_response({"status": "success", "data": {"resultType": "vector", "result": [
            {"metric": {"job": "x"}, "value": [1700000000.5, "42"]}]}})

    async def gave_up(request: web.Request) -> web.Response:
        return web.json_response({"status": "error", "errorType": "timeout",
                                  "error": "query timed out in expression evaluation"}, status=503)

    async def down(request: web.Request) -> web.Response:
        return web.Response(status=502, text="upstream connect error")

    app = web.Application()
    app.router.add_get("/api/v1/query", handler)
    app.router.add_get("/api/v1/query_range", gave_up)
    app.router.add_get("/api/v1/label/job/values", down)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}", seen
    await runner.cleanup()


async def test_query_runs_in_a_thread_without_blocking_the_loop(slow_prometheus) -> None:
    """While a query waits on a slow server (served by this same loop), other coroutines keep running."""
    url, seen = slow_prometheus
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    task = asyncio.create_task(ticker())
    series = await PrometheusBackend(url, token="s3cret").query("x")
    task.cancel()
    assert series[0].labels == {"job": "x"} and series[0].points[0].v == 42
    assert ticks >= 20
    assert seen[0].headers["Authorization"] == "Bearer s3cret"


async def test_timeout_is_passed_through(slow_prometheus) -> None:
    """The configured timeout bounds the call and surfaces as BackendTimeout."""
    url, _ = slow_prometheus
    started = time.monotonic()
    with pytest.raises(BackendTimeout) as info:
        await PrometheusBackend(url, timeout=0.1).query("x")
    assert time.monotonic() - started < 0.45
    assert "0.1s" in str(info.value)


async def test_server_side_failures_map_by_kind(slow_prometheus) -> None:
    """Prometheus's own query timeout is BackendTimeout; a 5xx from a proxy is BackendUnavailable with its text."""
    url, _ = slow_prometheus
    prom = PrometheusBackend(url)
    window = TimeRange.ending(datetime(2025, 1, 1, tzinfo=timezone.utc), timedelta(hours=1))
    with pytest.raises(BackendTimeout, match="query timed out in expression evaluation"):
        await prom.query_range("x", window)
    with pytest.raises(BackendUnavailable, match="502 Bad Gateway: upstream connect error"):
        await prom.label_values("job")
