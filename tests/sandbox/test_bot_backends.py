"""The bot's real backends against the sandbox: what `sre-bot demo` relies on."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from sre_bot.backends import AlertmanagerBackend, ArgoCDBackend, LokiBackend, PrometheusBackend
from sre_bot.errors import QueryRejected
from sre_bot.models import TimeRange
from sre_bot.sandbox import Sandbox
from tests.sandbox._support import NOW

WINDOW = TimeRange.ending(NOW, timedelta(hours=1))


async def test_prometheus_backend_reads_signals_and_hears_refusals(sandbox: Sandbox) -> None:
    """PrometheusBackend gets the checkout error-ratio series; a foreign query no series; bad PromQL QueryRejected."""
    prom = PrometheusBackend(sandbox.urls.prometheus, timeout=5)
    try:
        q = sandbox.config.signal_queries(sandbox.config.service("checkout"))[1].query
        (series,) = await prom.query_range(q, WINDOW)
        assert len(series.points) > 50 and series.values[0] < 0.01 < 0.08 < series.values[-1]
        assert await prom.query_range("sum(rate(foo[5m]))", WINDOW) == []
        with pytest.raises(QueryRejected, match="unclosed left parenthesis"):
            await prom.query_range("sum(rate(foo[5m])", WINDOW)
        assert await prom.ping() == "2.42.0"
    finally:
        prom.close()


async def test_loki_backend_reads_error_lines(sandbox: Sandbox, http: httpx.AsyncClient) -> None:
    """LokiBackend gets payments-api's pool-exhaustion lines with the bot's error filter."""
    loki = LokiBackend(http, sandbox.urls.loki)
    svc = sandbox.config.service("payments-api")
    logql = sandbox.config.loki_selector(svc) + ' |~ "' + sandbox.config.defaults.log_error_filter + '"'
    result = await loki.query_range(logql, WINDOW, limit=500)
    assert result.limit_hit and len(result.lines) == 500
    assert all("could not obtain connection from pool within 5000ms" in ln.line for ln in result.lines)
    assert result.lines[0].ts_ns > result.lines[-1].ts_ns
    assert "app" in await loki.labels(WINDOW)


async def test_argocd_backend_reads_the_bad_deploy(sandbox: Sandbox, http: httpx.AsyncClient) -> None:
    """ArgoCDBackend parses checkout's app: Degraded, and the last deploy by dana.kim 25 minutes ago."""
    argocd = ArgoCDBackend(http, sandbox.urls.argocd, token="sandbox")
    app = await argocd.get_app("checkout")
    assert (app.health_status, app.sync_status, app.namespace) == ("Degraded", "Synced", "shop")
    last = max(app.history, key=lambda d: d.deployed_at)
    assert last.revision.startswith("4f1c2e9") and last.initiated_by == "dana.kim@shop.example"
    assert NOW - last.deployed_at == timedelta(minutes=25)
    assert [a.name for a in await argocd.list_apps()] == sorted(s.name for s in sandbox.world.services)
    assert {n.kind for n in await argocd.resource_tree("checkout")} == {"Service", "Deployment", "ReplicaSet", "Pod"}


async def test_alertmanager_backend_reads_firing_alerts(sandbox: Sandbox, http: httpx.AsyncClient) -> None:
    """AlertmanagerBackend gets the firing, unsilenced alerts of a service."""
    am = AlertmanagerBackend(http, sandbox.urls.alertmanager)
    (alert,) = await am.alerts(matchers={"service": "checkout"})
    assert alert.name == "HighErrorRate" and alert.severity == "critical"
    assert alert.starts_at == NOW - timedelta(minutes=19)
    assert await am.alerts(matchers={"service": "catalog"}) == []  # silenced
    assert await am.ping() == "0.25.0"
