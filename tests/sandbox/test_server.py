"""Starting the sandbox: loopback only, free or given ports, an advancing clock, run_forever."""

from __future__ import annotations

import asyncio
import socket
from datetime import datetime, timedelta

import httpx
import pytest

from sre_bot.sandbox import Sandbox, SandboxPorts, Scenario, run_forever, start_sandbox
from tests.sandbox._support import NOW

READY = {"prometheus": "/-/ready", "loki": "/ready", "argocd": "/api/version", "alertmanager": "/-/ready"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_refuses_to_listen_beyond_loopback(scenario: Scenario) -> None:
    """The sandbox binds loopback only."""
    with pytest.raises(ValueError, match="loopback only"):
        Sandbox(scenario, host="0.0.0.0")


async def test_given_ports_urls_and_stop(scenario: Scenario, http: httpx.AsyncClient) -> None:
    """Ports can be chosen; the URLs and env settings point at them; stop() closes them."""
    ports = SandboxPorts(prometheus=_free_port(), loki=_free_port(), argocd=_free_port(), alertmanager=_free_port())
    sb = await start_sandbox(scenario, ports=ports, clock=lambda: NOW)
    try:
        assert sb.urls.prometheus == f"http://127.0.0.1:{ports.prometheus}"
        assert sb.urls.as_env()["ALERTMANAGER_URL"] == f"http://127.0.0.1:{ports.alertmanager}"
        for name, path in READY.items():
            assert (await http.get(getattr(sb.urls, name) + path)).status_code == 200
    finally:
        await sb.stop()
    with pytest.raises(httpx.ConnectError):
        await http.get(f"http://127.0.0.1:{ports.loki}/ready")
    with pytest.raises(RuntimeError, match="not started"):
        _ = sb.urls


async def test_data_follows_the_advancing_clock(scenario: Scenario, http: httpx.AsyncClient) -> None:
    """As the clock advances past `now`, new points and lines appear and the incident stays in progress."""
    current = [NOW]
    async with Sandbox(scenario, now=NOW, clock=lambda: current[0]) as sb:
        q = sb.config.signal_queries(sb.config.service("checkout"))[1].query
        params = {"query": q, "start": str(NOW.timestamp()), "end": str(NOW.timestamp() + 600), "step": "60"}
        first = (await http.get(sb.urls.prometheus + "/api/v1/query_range", params=params)).json()
        current[0] = NOW + timedelta(minutes=10)
        later = (await http.get(sb.urls.prometheus + "/api/v1/query_range", params=params)).json()
        assert len(first["data"]["result"][0]["values"]) == 1
        values = later["data"]["result"][0]["values"]
        assert len(values) == 11 and float(values[-1][1]) > 0.08
        alerts = (await http.get(sb.urls.alertmanager + "/api/v2/alerts")).json()
        assert {a["updatedAt"] for a in alerts if a["status"]["state"] == "active"} == {"2026-11-21T14:45:00.000Z"}


async def test_run_forever_reports_ready_and_stops(scenario: Scenario, http: httpx.AsyncClient) -> None:
    """run_forever calls on_ready with the running sandbox and returns when `stop` is set."""
    stop, seen = asyncio.Event(), {}

    async def ready(sb: Sandbox) -> None:
        seen.update({n: (await http.get(getattr(sb.urls, n) + p)).status_code for n, p in READY.items()})
        stop.set()

    await asyncio.wait_for(run_forever(scenario, clock=lambda: NOW, on_ready=ready, stop=stop), timeout=5)
    assert seen == dict.fromkeys(READY, 200)


def test_now_defaults_to_the_clock(scenario: Scenario) -> None:
    """Without `now`, the scenario is anchored at the clock's current time."""
    sb = Sandbox(scenario, clock=lambda: datetime(2030, 1, 1))
    assert sb.world.anchor_dt.isoformat() == "2030-01-01T00:00:00+00:00"


async def test_ui_links_explain_the_simulator(sandbox: Sandbox, http: httpx.AsyncClient) -> None:
    """The UI pages the bot links to (graph, app, alerts) answer with a note instead of a 404."""
    for url in (sandbox.urls.prometheus + "/graph?g0.expr=up", sandbox.urls.argocd + "/applications/checkout",
                sandbox.urls.alertmanager + "/"):
        resp = await http.get(url)
        assert resp.status_code == 200 and "sre-bot sandbox simulator" in resp.text
