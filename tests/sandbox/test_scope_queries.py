"""The simulated Prometheus answers the scope-wide signal queries and the call-graph queries the bot sends."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from sre_bot.backends import PrometheusBackend
from sre_bot.clock import frozen_clock
from sre_bot.deps import Deps
from sre_bot.metrics import Metrics
from sre_bot.models import Evidence, TimeRange
from sre_bot.sandbox import Sandbox, load_scenario, sandbox_config
from sre_bot.settings import load_settings
from sre_bot.tools.edges import edge_series, probe_edges
from sre_bot.tools.signals import golden_signals, scope_queries, scope_signals
from tests.sandbox._support import ANCHOR, NOW

WINDOW = TimeRange.ending(NOW, timedelta(minutes=30))
CONTAINER_SIGNALS = {"cpu", "memory"}


async def _get(http: httpx.AsyncClient, sb: Sandbox, path: str, **params: object) -> httpx.Response:
    return await http.get(sb.urls.prometheus + path, params={k: str(v) for k, v in params.items()})


async def _range(http: httpx.AsyncClient, sb: Sandbox, query: str) -> list[dict[str, Any]]:
    resp = await _get(http, sb, "/api/v1/query_range", query=query, start=ANCHOR - 3600, end=ANCHOR, step=60)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["status"] == "success" and body["data"]["resultType"] == "matrix"
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def _expected_labels(sb: Sandbox, signal: str, service: str) -> dict[str, str]:
    if signal in CONTAINER_SIGNALS:
        return {"container": service, "namespace": sb.world.namespace(service)}
    return {"service": service}


async def test_every_scope_query_gives_each_service_its_own_series(sandbox: Sandbox, http: httpx.AsyncClient) -> None:
    """Each scope query the bot sends for the whole shop answers one series per service that has the signal,
    labelled by the grouping labels only, sorted, with the same values as that service's own query."""
    config = sandbox.config
    plan = scope_queries(config, config.services)
    assert set(plan) == set(config.all_signals)
    multi = 0
    for signal, queries in plan.items():
        for query, names in queries:
            result = await _range(http, sandbox, query)
            with_data = [n for n in names if sandbox.world.has(n, signal)]
            assert "=~" in query  # every signal of the shop can be fetched for a whole scope
            multi += 1
            labels = [s["metric"] for s in result]
            assert labels == sorted((_expected_labels(sandbox, signal, n) for n in with_data),
                                    key=lambda d: sorted(d.items())), (signal, query)
            for series in result:
                name = series["metric"].get("service") or series["metric"]["container"]
                [own] = [r.query for r in config.signal_queries(config.service(name)) if r.name == signal]
                [alone] = await _range(http, sandbox, own)
                assert series["values"] == alone["values"], (signal, name)
    assert multi == 7  # the six built-in signals and the scenario's db_connections (payments-db only)


async def test_a_subset_and_an_instant_query_answer_only_the_selected_services(sandbox: Sandbox,
                                                                              http: httpx.AsyncClient) -> None:
    """A scope query for two services gives those two; as an instant query it gives a labelled vector."""
    config = sandbox.config
    pair = [config.service("checkout"), config.service("payments-api")]
    [(query, names)] = scope_queries(config, pair)["error_ratio"]
    assert names == ["checkout", "payments-api"] and 'service=~"checkout|payments-api"' in query
    assert [s["metric"] for s in await _range(http, sandbox, query)] == [{"service": "checkout"},
                                                                          {"service": "payments-api"}]
    body = (await _get(http, sandbox, "/api/v1/query", query=query, time=ANCHOR - 600)).json()
    assert body["data"]["resultType"] == "vector"
    got = {r["metric"]["service"]: float(r["value"][1]) for r in body["data"]["result"]}
    assert got == {n: pytest.approx(sandbox.world.value(n, "error_ratio", ANCHOR - 600)) for n in names}
    [(one, _)] = scope_queries(config, [config.service("cart")])["cpu"]
    assert [s["metric"] for s in await _range(http, sandbox, one)] == [{"container": "cart", "namespace": "shop"}]


@pytest.mark.parametrize("query", [
    'sum by (service) (rate(http_requests_total{service=~"check.*"}[5m]))',  # a real regex, not a list of names
    'sum by (service) (rate(http_requests_total{service=~"checkout|nope"}[5m]))',  # a service the shop lacks
    'sum by (service) (rate(http_requests_total{service=~"checkout|cart"}[5m]))',  # not the bot's order
    'sum by (service) (rate(http_requests_total{service=~"cart|checkout"}[1m]))',  # another range
    'sum by (pod) (rate(http_requests_total{service=~"cart|checkout"}[5m]))',  # another grouping
    'max by (service) (rate(http_requests_total{service=~"cart|checkout"}[5m]))',  # another aggregation
    'sum by (service) (rate(http_requests_total{job=~"cart|checkout"}[5m]))',  # another label
    "traces_service_graph_request_total",  # the metric itself, not a query the bot sends
    "sum by (client, server) (rate(traces_service_graph_request_total[7m]))",
])
async def test_queries_the_bot_does_not_send_are_still_refused(sandbox: Sandbox, http: httpx.AsyncClient,
                                                               query: str) -> None:
    """Near misses of the scope and call-graph forms get no series and the simulator's warning, which names the
    scope form too."""
    for path in ("/api/v1/query", "/api/v1/query_range"):
        resp = await _get(http, sandbox, path, query=query, start=ANCHOR - 600, end=ANCHOR, step=60)
        assert resp.status_code == 200 and resp.json()["data"]["result"] == [], (path, query)
        (warning,) = resp.json()["warnings"]
        assert "sre-bot sandbox simulator" in warning
        assert 'sum by (service) (rate(http_requests_total{service=~"cart|catalog|checkout|' in warning


async def test_call_graph_queries_answer_no_series(sandbox: Sandbox, http: httpx.AsyncClient) -> None:
    """Every configured call-graph query (Tempo, Istio, Linkerd) answers 200 with no series: the shop has no service
    graph, as a Prometheus without any of them would say."""
    sources = sandbox.config.call_graph.sources
    assert {s.name for s in sources} == {"tempo service graphs", "istio", "linkerd"}
    queries = [q for s in sources for q in (s.requests, s.errors, s.latency_client, s.latency_server) if q]
    assert len(queries) == 11
    for q in queries:
        assert await _range(http, sandbox, q) == []
        assert await _range(http, sandbox, q.replace(" (", "(")) == []  # whitespace does not matter


@pytest.fixture
async def deps(sandbox: Sandbox) -> AsyncIterator[Deps]:
    metrics = Metrics()
    prom = PrometheusBackend(sandbox.urls.prometheus, timeout=10, metrics=metrics)
    try:
        yield Deps(settings=load_settings(None), config=sandbox.config, metrics=metrics, prometheus=prom)
    finally:
        prom.close()


def _calls(deps: Deps) -> float:
    return deps.metrics.registry.get_sample_value(
        "sre_bot_backend_request_duration_seconds_count", {"backend": "prometheus", "operation": "query_range"}) or 0


def _errors(deps: Deps) -> float:
    return sum(s.value for m in deps.metrics.registry.collect() if m.name == "sre_bot_backend_errors"
               for s in m.samples if s.name == "sre_bot_backend_errors_total")


def _dump(items: list[Evidence]) -> list[dict[str, object]]:
    return [e.model_dump(mode="json") for e in items]


@pytest.mark.parametrize("seasonal", [False, True])
async def test_the_bots_scope_signals_take_the_scope_path_with_the_same_evidence(deps: Deps, seasonal: bool) -> None:
    """Through the bot's own client, scope_signals is answered without a rejection (one query per signal, plus
    yesterday's) and gives every service exactly the evidence its per-service queries give."""
    services = deps.config.services
    got = await scope_signals(deps, services, WINDOW, seasonal=seasonal)
    assert (_calls(deps), _errors(deps)) == (7 * (2 if seasonal else 1), 0)  # one per signal
    for svc in services:
        assert _dump(got[svc.name]) == _dump(await golden_signals(deps, svc, WINDOW, seasonal=seasonal)), svc.name
    [rate] = [e for e in got["checkout"] if e.data["signal"] == "error_ratio"]
    assert rate.status == "ok" and rate.data["verdict"] == "high"
    assert rate.data["seasonal_points"] == []  # yesterday is asked for, but the shop keeps 6 hours of history


async def test_the_bots_call_graph_reads_are_empty_not_errors(deps: Deps) -> None:
    """probe_edges and edge_series get empty answers (no failed backend call), so they add nothing."""
    assert await edge_series(deps, WINDOW, WINDOW.before(timedelta(hours=1))) == []
    assert await probe_edges(deps, WINDOW, WINDOW.before(timedelta(hours=1))) == ([], [])
    assert _errors(deps) == 0


@pytest.mark.parametrize("name", ["argocd-down-db-saturation", "two-incidents-inventory-and-reports",
                                  "noisy-neighbour-batch"])
async def test_other_scenarios_answer_their_whole_scope(name: str, http: httpx.AsyncClient) -> None:
    """In scenarios with several namespaces and extra signals, every scope query of the whole config answers 200
    with one series per service that has the signal."""
    scenario = load_scenario(name)
    async with Sandbox(scenario, config=sandbox_config(scenario), clock=frozen_clock(NOW)) as sb:
        for signal, queries in scope_queries(sb.config, sb.config.services).items():
            for query, names in queries:
                result = await _range(http, sb, query)
                assert len(result) == len([n for n in names if sb.world.has(n, signal)]), (signal, query)
