"""The sandbox's Tempo (`sandbox/tempo_api.py`): the bot's TempoBackend reads traces simulated from the scenario,
slow and failing where the scenario's cause is; TraceQL and parameters are checked as Tempo does."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest

from sre_bot.analysis.traces import critical_path
from sre_bot.backends.tempo import TempoBackend
from sre_bot.clock import frozen_clock
from sre_bot.errors import BackendUnavailable, NotFound, QueryRejected
from sre_bot.models import TimeRange
from sre_bot.sandbox import Sandbox, load_scenario
from sre_bot.tools.traces import traceql_for
from tests.sandbox._support import NOW

WINDOW = TimeRange.ending(NOW, timedelta(minutes=30))
BEFORE = TimeRange.ending(NOW - timedelta(hours=2), timedelta(minutes=30))


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    async with Sandbox(load_scenario("checkout-bad-deploy"), clock=frozen_clock(NOW)) as sb:
        yield sb


@pytest.fixture
async def tempo(sandbox: Sandbox) -> AsyncIterator[TempoBackend]:
    async with httpx.AsyncClient(timeout=10) as c:
        assert sandbox.urls.tempo is not None
        yield TempoBackend(c, sandbox.urls.tempo)


async def test_failed_and_slow_traces_appear_with_the_incident(tempo: TempoBackend):
    """checkout's failed traces: many in the incident's half hour, few before it; every one read back whole."""
    q = traceql_for("checkout")
    during = await tempo.search(q, WINDOW, limit=500)
    before = await tempo.search("{ resource.service.name = \"checkout\" && status = error }", BEFORE, limit=500)
    assert sum(h.error for h in during) > 3 * max(1, len(before))
    hit = max(during, key=lambda h: h.duration_ms)
    trace = await tempo.trace(hit.trace_id, WINDOW)
    cp = critical_path(trace)
    assert cp is not None and trace.errors()
    assert cp.root.service == "frontend" and {"checkout", "payments-api"} <= {s.service for s in cp.path}
    assert cp.dominant.service in ("checkout", "payments-api", "payments-db")
    assert abs(trace.duration_ns / 1e6 - hit.duration_ms) < 2


async def test_same_now_same_traces(sandbox: Sandbox, tempo: TempoBackend):
    """Deterministic: the same scenario at the same `now` serves the same trace ids."""
    first = [h.trace_id for h in await tempo.search("{ status = error }", WINDOW, limit=50)]
    async with Sandbox(load_scenario("checkout-bad-deploy"), clock=frozen_clock(NOW)) as again, \
            httpx.AsyncClient(timeout=10) as c:
        assert again.urls.tempo is not None
        second = [h.trace_id for h in await TempoBackend(c, again.urls.tempo).search("{ status = error }",
                                                                                      WINDOW, limit=50)]
    assert first == second and first


async def test_tags_refusals_and_unknown_ids(tempo: TempoBackend, sandbox: Sandbox):
    """Service names from tag values; bad TraceQL a 400 with the parser's words; an unknown id NotFound."""
    assert await tempo.services(WINDOW) == sorted(s.name for s in sandbox.world.services)
    with pytest.raises(QueryRejected, match="parse error at line 1"):
        await tempo.search("{ resource.service.name = ", WINDOW)
    with pytest.raises(NotFound):
        await tempo.trace("0" * 32, WINDOW)
    async with httpx.AsyncClient(timeout=10) as c:
        r = await c.get(f"{sandbox.urls.tempo}/api/search", params={"q": "{ }", "start": "x", "end": "1"})
        assert r.status_code == 400 and "invalid start" in r.text


async def test_a_scenario_can_take_tempo_down():
    """`backends: {tempo: down}` serves 503s: the backend says Tempo is unavailable."""
    sc = load_scenario("checkout-bad-deploy")
    sc = sc.model_copy(update={"backends": {**sc.backends, "tempo": "down"}})
    async with Sandbox(sc, clock=frozen_clock(NOW)) as sb, httpx.AsyncClient(timeout=10) as c:
        assert sb.urls.tempo is not None
        with pytest.raises(BackendUnavailable, match="503"):
            await TempoBackend(c, sb.urls.tempo).search("{ }", WINDOW)
