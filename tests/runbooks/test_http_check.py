"""Health checks: one GET to an allow-listed URL, no redirects followed, a timeout and a body cap; as a runbook
step, a failing endpoint is a finding quoting the answer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
import yaml
from aiohttp import web

from sre_bot.backends.http_check import HttpCheckBackend, url_allowed
from sre_bot.errors import BackendTimeout, BackendUnavailable, QueryRejected
from sre_bot.runbooks.config import normalise_prefix
from tests.fakes import free_port
from tests.runbooks._support import run, sandbox_deps, statuses


class Health:
    """A local HTTP server with health endpoints; `.hits` records every path it served."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        self.url = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        self.hits.append(path)
        if path == "/health/checkout":
            return web.Response(status=503, text="degraded: payments-api timeouts, db pool exhausted")
        if path == "/health/redirect":
            raise web.HTTPFound(f"{self.url}/login")
        if path == "/health/big":
            return web.Response(text="x" * 200_000)
        if path == "/health/slow":
            await asyncio.sleep(2)
        return web.json_response({"status": "ok"})


@pytest.fixture
async def health() -> AsyncIterator[Health]:
    h = Health()
    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", h.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    h.url = f"http://127.0.0.1:{port}"
    try:
        yield h
    finally:
        await runner.cleanup()


def test_the_allow_list_matches_origin_and_path_prefix_only():
    """Same scheme, host and port, a path under the prefix, no credentials and no `..` (even encoded)."""
    allow = [normalise_prefix("https://Status.Example.com/health/"), normalise_prefix("http://10.0.0.1:8080")]
    assert url_allowed("https://status.example.com/health/checkout?verbose=1", allow)
    assert url_allowed("http://10.0.0.1:8080/anything", allow)
    for bad in ("https://status.example.com/admin", "http://status.example.com/health/x",
                "https://status.example.com:8443/health/x", "https://status.example.com.evil.io/health/x",
                "https://u:p@status.example.com/health/x", "https://status.example.com/health/../admin",
                "https://status.example.com/health/%2e%2e/admin", "http://10.0.0.1:8081/x", "not a url"):
        assert not url_allowed(bad, allow), bad
    with pytest.raises(ValueError):
        normalise_prefix("ftp://files.example.com/")


async def test_get_reads_statuses_never_follows_redirects_and_caps_the_body(health):
    """503 and 302 are results (the redirect is not followed), a big body is cut at max_bytes, a URL outside the
    list is refused before any request, a slow endpoint times out and a closed port is unavailable."""
    async with httpx.AsyncClient() as client:
        checker = HttpCheckBackend(client, allow=[normalise_prefix(f"{health.url}/health/")], timeout=0.5,
                                   max_bytes=4096)
        bad = await checker.get(f"{health.url}/health/checkout")
        assert (bad.status, bad.body, bad.truncated) == (503, "degraded: payments-api timeouts, db pool exhausted",
                                                         False)
        moved = await checker.get(f"{health.url}/health/redirect")
        assert moved.status == 302 and moved.location == f"{health.url}/login"
        big = await checker.get(f"{health.url}/health/big")
        assert big.truncated and len(big.body) == 4096
        with pytest.raises(QueryRejected, match="runbooks.http_allow"):
            await checker.get(f"{health.url}/admin")
        with pytest.raises(BackendTimeout, match="did not answer within 0.5s"):
            await checker.get(f"{health.url}/health/slow")
        closed = HttpCheckBackend(client, allow=[f"http://127.0.0.1:{free_port()}/"])
        with pytest.raises(BackendUnavailable, match="connection refused"):
            await closed.get(closed.allow[0] + "health")
    assert "/login" not in health.hits and "/admin" not in health.hits


async def test_a_health_check_step_in_a_run(health, tmp_path):
    """A runbook's http_check step GETs the service's endpoint: 503 is a finding that quotes the answer and links
    the URL; a healthy service reads ok; the allow-list comes from the config."""
    doc = {"name": "health", "title": "Health endpoint", "steps": [{
        "id": "endpoint", "title": "Health endpoint answers 200?", "tool": "http_check",
        "params": {"url": f"{health.url}/health/$service"}, "when": "status != 200",
        "means": "the service reports itself unhealthy", "stop": True}]}
    (tmp_path / "health.yaml").write_text(yaml.safe_dump(doc))
    async with sandbox_deps("checkout-bad-deploy", runbooks_dir=tmp_path,
                            http_allow=[f"{health.url}/health/"]) as (_, deps):
        state = await run(deps, "health", "checkout")
        assert statuses(state) == {"endpoint": "finding"} and state.outcome == "cause_found"
        [ev] = state.steps[0].evidence
        assert ev.url == f"{health.url}/health/checkout" and ev.query == f"GET {health.url}/health/checkout"
        assert ev.quote.startswith("HTTP 503 in ") and ev.quote.endswith(": degraded: payments-api timeouts, db pool "
                                                                           "exhausted")
        assert state.steps[0].interpretation.startswith('`status != 200` holds (status = 503)')
        ok = await run(deps, "health", "cart")
        assert statuses(ok) == {"endpoint": "ok"} and ok.steps[0].values["ok"] is True
    assert health.hits == ["/health/checkout", "/health/cart"]
