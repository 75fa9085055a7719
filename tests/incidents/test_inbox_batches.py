"""The processor takes a storm in short steps (at most `BATCH_ALERTS` alerts each) and stores the same incidents,
with the same numbers and alerts, as when it takes the whole storm in one step (one batched write each)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sre_bot.deps import Deps
from sre_bot.incidents import processor as processor_module
from sre_bot.incidents.processor import IncidentProcessor
from sre_bot.settings import load_settings
from sre_bot.store import Store, open_store
from tests.incidents._storm import storm, storm_config
from tests.store.helpers import T0


async def _process(store: Store, bodies: list[tuple[float, dict[str, Any]]]) -> tuple[int, dict[int, Any]]:
    for _, body in bodies:
        await store.inbox_add(body, alerts=len(body["alerts"]), source="alertmanager", now=T0)
    deps = Deps(settings=load_settings(None), config=storm_config(), store=store, clock=lambda: T0)
    proc = IncidentProcessor(deps, holder="test")
    steps = 0
    while (await proc.step()).bodies:
        steps += 1
    assert await store.inbox_pending() == []
    stored = {}
    for inc in await store.incidents.listing(open_only=False, limit=10_000):
        alerts = await store.incidents.alerts(inc.key)
        stored[inc.number] = (inc.key, inc.status, sorted((a.event.fingerprint, a.event.status, a.rule)
                                                          for a in alerts))
    return steps, stored


async def test_short_steps_store_what_one_step_stores(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Capped at 5 alerts a step, the storm needs many steps and ends in the same incidents as in one step."""
    _, bodies = storm(T0)
    total = sum(len(b["alerts"]) for _, b in bodies)
    assert total > 20
    monkeypatch.setattr(processor_module, "BATCH_ALERTS", 100_000)
    async with await open_store(f"sqlite+aiosqlite:///{tmp_path / 'whole.db'}") as store:
        one_step, whole = await _process(store, bodies)
    monkeypatch.setattr(processor_module, "BATCH_ALERTS", 5)
    async with await open_store(f"sqlite+aiosqlite:///{tmp_path / 'short.db'}") as store:
        steps, short = await _process(store, bodies)
    assert one_step == -(-len(bodies) // processor_module.BATCH) and whole
    assert steps >= total // 10
    assert short == whole
