"""Issue 21: Prometheus calls run in a bounded pool of their own threads, and a call waits for one at most
SRE_BOT_PROMETHEUS_QUEUE_TIMEOUT: past it the call is a named gap ("Prometheus is busy: N queries waiting"), not an
unbounded wait. `/readyz` never shares that pool and answers while Prometheus hangs. Real TCP servers stand in
for a Prometheus whose queries hang (its health endpoint still answers) and for one that never answers at all."""

from __future__ import annotations

import asyncio
import time

import pytest

from sre_bot.backends.prometheus import PrometheusBackend
from sre_bot.deadline import answer_deadline
from sre_bot.errors import BackendTimeout
from sre_bot.sandbox.server import Sandbox
from sre_bot.web import READYZ_BACKEND_WAIT_S
from tests.fakes.slack_api import FakeSlack
from tests.hardening._stuck import StuckServer
from tests.harness import running_bot

QUEUE_S = 0.3


async def _started(prom: StuckServer, connections: int) -> None:
    end = time.monotonic() + 5
    while prom.connections < connections and time.monotonic() < end:
        await asyncio.sleep(0.02)
    assert prom.connections >= connections


async def test_a_query_that_gets_no_thread_in_time_is_a_named_gap() -> None:
    """One worker thread, stuck on a query: the three queries behind it give up after the queue's wait, each
    saying how many were waiting, and none of them ever reaches Prometheus."""
    with StuckServer("queries_hang") as prom:
        backend = PrometheusBackend(prom.url, timeout=5, threads=1, queue_timeout=QUEUE_S)
        try:
            stuck = asyncio.create_task(backend.query("up"))
            await _started(prom, 1)
            started = time.monotonic()
            results = await asyncio.gather(*(backend.query(f"up{i}") for i in range(3)), return_exceptions=True)
            took = time.monotonic() - started
            assert all(isinstance(r, BackendTimeout) for r in results), results
            messages = sorted(str(r) for r in results)
            assert backend.waiting() == 0 and prom.connections == 1
            stuck.cancel()
        finally:
            backend.close()
    assert took < QUEUE_S + 1.0
    assert [m.split("Prometheus is busy: ", 1)[1].split(" waiting")[0] for m in messages] == \
        ["1 query", "2 queries", "3 queries"]
    assert all("SRE_BOT_PROMETHEUS_THREADS" in m for m in messages)


async def test_a_busy_prometheus_costs_an_answer_one_wait() -> None:
    """Inside one answer, once a query found no free thread, the answer's later Prometheus reads fail at once
    with the same words instead of queueing again."""
    with StuckServer("queries_hang") as prom:
        backend = PrometheusBackend(prom.url, timeout=5, threads=1, queue_timeout=QUEUE_S)
        try:
            stuck = asyncio.create_task(backend.query("up"))
            await _started(prom, 1)
            with answer_deadline(10):
                with pytest.raises(BackendTimeout) as first:
                    await backend.query("rate(x[5m])")
                started = time.monotonic()
                with pytest.raises(BackendTimeout) as second:
                    await backend.query("rate(y[5m])")
                again = time.monotonic() - started
            stuck.cancel()
        finally:
            backend.close()
    assert "Prometheus is busy" in str(first.value) and str(second.value) == str(first.value)
    assert again < 0.1


async def test_queries_that_get_a_thread_in_time_are_answered(shop: Sandbox) -> None:
    """The queue's wait bounds only the wait for a thread: twelve queries through one thread against a Prometheus
    that answers (the sandbox's) all come back, none of them a gap."""
    backend = PrometheusBackend(shop.urls.as_env()["PROMETHEUS_URL"], timeout=10, threads=1, queue_timeout=5)
    try:
        results = await asyncio.gather(*(backend.query(f"vector({i})") for i in range(12)), return_exceptions=True)
    finally:
        backend.close()
    assert not [r for r in results if isinstance(r, BaseException)], results
    assert backend.waiting() == 0


async def test_readyz_answers_while_prometheus_never_does(fake_slack: FakeSlack) -> None:
    """With a Prometheus that accepts and never answers, and its query threads all busy with investigations'
    queries, eight `/readyz` probes in a row each answer 200 within a second, naming Prometheus as degraded."""
    with StuckServer("silent") as prom:
        env = {"PROMETHEUS_URL": prom.url, "SRE_BOT_PROMETHEUS_THREADS": "2", "SRE_BOT_BACKEND_TIMEOUT": "10"}
        async with running_bot(fake_slack, incidents=False, **env) as bot:
            assert bot.deps.prometheus is not None
            busy = [asyncio.create_task(bot.deps.prometheus.query(f"up{i}")) for i in range(6)]
            probes = []
            for _ in range(8):
                started = time.monotonic()
                ready = await bot.http.get("/readyz")
                probes.append((time.monotonic() - started, ready.status_code, ready.json()))
            for task in busy:
                task.cancel()
            await asyncio.gather(*busy, return_exceptions=True)
    assert all(status == 200 for _, status, _ in probes)
    assert max(took for took, _, _ in probes) < 1.0, [round(took, 2) for took, _, _ in probes]
    body = probes[-1][2]
    assert body["degraded"] == ["prometheus"]
    assert f"no answer within {READYZ_BACKEND_WAIT_S:g}s" in body["backends"]["prometheus"]["detail"]
