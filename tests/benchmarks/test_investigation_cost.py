"""The investigation-cost benchmark: its wave and chain arithmetic, and its delaying proxy over real TCP."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from aiohttp import web

from benchmarks.investigation_cost import Call, Recorder, _BackendLoop, chain, cost_of, max_in_flight, proxies, waves


def _call(start: float, end: float, backend: str = "prometheus", query: str = "q") -> Call:
    return Call(backend, "GET", "/api/v1/query_range", query, start, end, 200)


def test_waves_split_only_where_nothing_is_in_flight() -> None:
    """A call that starts while any earlier call is still running joins its wave, even after the first ended."""
    calls = [_call(0.0, 1.0), _call(0.5, 1.5), _call(1.2, 2.0), _call(2.0, 3.0), _call(3.5, 4.0)]
    assert [len(w) for w in waves(calls)] == [3, 1, 1]


def test_chain_counts_calls_that_ran_one_after_another() -> None:
    """Overlapping calls form one wave, but a chain of three calls runs through it back to back."""
    calls = [_call(0.0, 1.0), _call(0.9, 1.1), _call(1.0, 2.0), _call(1.95, 3.0), _call(2.0, 2.5)]
    assert len(waves(calls)) == 1
    assert chain(calls) == 3
    assert max_in_flight(calls) == 2


def test_cost_counts_backends_and_repeats() -> None:
    """Requests are counted per backend, and a request sent twice is a repeat."""
    calls = [_call(0.0, 0.5), _call(0.0, 0.5), _call(0.6, 1.0, backend="loki"),
             _call(0.6, 1.0, backend="argocd", query="")]
    cost = cost_of("s", "c", 0.5, calls, wall=1.2, t0=0.0)
    assert cost.requests == {"prometheus": 2, "loki": 1, "argocd": 1, "alertmanager": 0}
    assert (cost.total, cost.repeated, cost.waves, cost.chain) == (4, 1, 2, 2)
    assert cost.wall_over_latency == pytest.approx(2.4)
    assert cost.repeats[0]["times"] == 2


@pytest.fixture
async def upstream() -> AsyncIterator[str]:
    """A real HTTP server that echoes the path, query and body it got."""
    async def echo(request: web.Request) -> web.Response:
        body = await request.text()
        return web.json_response({"path": request.path, "q": request.query_string, "body": body}, status=201)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", echo)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def test_proxy_forwards_and_records_each_request(upstream: str) -> None:
    """Through the proxy (its own thread and loop) a request reaches the server unchanged and is recorded."""
    bg = _BackendLoop()
    recorder = Recorder()
    try:
        async with proxies(bg, {"loki": upstream}, 0.01, recorder) as urls, httpx.AsyncClient() as client:
            r = await client.post(urls["loki"] + "/loki/api/v1/push?x=1", content=b"hello")
    finally:
        bg.close()
    assert r.status_code == 201
    assert r.json() == {"path": "/loki/api/v1/push", "q": "x=1", "body": "hello"}
    [call] = recorder.take()
    assert (call.backend, call.method, call.path, call.query, call.status, call.body) == \
        ("loki", "POST", "/loki/api/v1/push", "x=1", 201, "hello")
    assert call.end >= call.start
