"""The incident processor's topology: discovered before its first batch, rediscovered every SRE_BOT_TOPOLOGY_REFRESH
seconds in the background and handed to the live correlator; 0 turns discovery off."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from sre_bot.analysis.topology import Topology
from sre_bot.deps import Deps
from sre_bot.incidents.processor import IncidentProcessor
from sre_bot.sandbox.bot_config import sandbox_config
from sre_bot.sandbox.scenario import load_scenario
from sre_bot.settings import load_settings
from sre_bot.store import Store, open_store
from tests.incidents._storm import STORM, storm
from tests.store.helpers import T0


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    async with await open_store(f"sqlite+aiosqlite:///{tmp_path / 'sre-bot.db'}") as s:
        yield s


def _processor(store: Store, clock: list[datetime], refresh: str) -> IncidentProcessor:
    deps = Deps(settings=load_settings(None, SRE_BOT_TOPOLOGY_REFRESH=refresh),
                config=sandbox_config(load_scenario(STORM)), store=store, clock=lambda: clock[0])
    return IncidentProcessor(deps, holder="A")


async def _storm_through(store: Store, processor: IncidentProcessor) -> None:
    for _, body in storm(T0)[1]:
        await store.inbox_add(body, alerts=len(body["alerts"]), source="alertmanager", now=T0)
    while (await processor.step()).bodies:
        pass


async def test_rediscovered_every_refresh_seconds_and_handed_to_the_correlator(store: Store) -> None:
    """Ties learned from the storm's resolved incident appear only at the first refresh after it (300 s), in the
    processor and in its live correlator."""
    clock = [T0]
    processor = _processor(store, clock, "300")
    await _storm_through(store, processor)
    assert processor.topology.ties == {}  # discovered before the storm was stored
    assert processor.topology.source("checkout", "payments-api") == "config"
    clock[0] = T0 + timedelta(seconds=60)
    await processor.step()
    await asyncio.sleep(0.2)
    await processor.step()
    assert processor.topology.ties == {}  # not due yet
    clock[0] = T0 + timedelta(seconds=301)
    for _ in range(50):  # the refresh runs in the background; a later step takes its result
        await processor.step()
        if processor.topology.ties:
            break
        await asyncio.sleep(0.05)
    assert processor.topology.tie("payments-db", "frontend") is not None
    corr = processor._corr
    assert corr is not None and corr.topology == processor.topology
    await processor.release()


async def test_refresh_zero_keeps_the_configured_graph_only(store: Store) -> None:
    """SRE_BOT_TOPOLOGY_REFRESH=0: nothing discovered, ever; the config's depends_on is the topology."""
    clock = [T0]
    processor = _processor(store, clock, "0")
    await _storm_through(store, processor)
    clock[0] = T0 + timedelta(days=1)
    await processor.step()
    cfg = sandbox_config(load_scenario(STORM))
    assert processor.topology == Topology.build(config=cfg.dependencies())
    await processor.release()
