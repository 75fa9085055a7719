"""Incidents in the store: the processor's lease (one holder, fenced writes), batches written whole or not at all,
numbers handed out once, and a restart that continues from what was stored."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from sre_bot.deps import Deps
from sre_bot.incidents.processor import LEASE, LEASE_TTL, IncidentProcessor
from sre_bot.sandbox.bot_config import sandbox_config
from sre_bot.sandbox.scenario import load_scenario
from sre_bot.settings import load_settings
from sre_bot.store import Store
from sre_bot.store.incidents import Lease, LeaseLost
from tests.incidents._storm import STORM, storm
from tests.store.helpers import T0


def _deps(store: Store, clock: list) -> Deps:  # type: ignore[type-arg]
    return Deps(settings=load_settings(None), config=sandbox_config(load_scenario(STORM)), store=store,
                clock=lambda: clock[0])


async def _inbox(store: Store, bodies: list) -> None:  # type: ignore[type-arg]
    for _, body in bodies:
        await store.inbox_add(body, alerts=len(body["alerts"]), source="alertmanager", now=T0)


async def test_one_lease_holder_at_a_time_and_a_new_epoch_on_takeover(store: Store) -> None:
    """A holds the lease (renewing keeps its epoch); B gets None until it expires, then epoch 2; A's stale epoch
    can no longer write."""
    ttl = timedelta(seconds=60)
    assert await store.leases.acquire(LEASE, "A", ttl=ttl, now=T0) == 1
    assert await store.leases.acquire(LEASE, "B", ttl=ttl, now=T0 + timedelta(seconds=10)) is None
    assert await store.leases.acquire(LEASE, "A", ttl=ttl, now=T0 + timedelta(seconds=30)) == 1
    later = T0 + timedelta(seconds=91)
    assert await store.leases.acquire(LEASE, "B", ttl=ttl, now=later) == 2
    with pytest.raises(LeaseLost):
        await store.incidents.apply([], inbox_ids=[], lease=Lease(LEASE, "A", 1), now=later, ttl=ttl)
    assert not await store.leases.holds(Lease(LEASE, "A", 1), now=later)
    await store.leases.release(Lease(LEASE, "B", 2), now=later)
    assert await store.leases.acquire(LEASE, "A", ttl=ttl, now=later) == 3


async def test_a_fenced_out_batch_writes_nothing(store: Store) -> None:
    """When the lease was taken over mid-batch, the batch is refused whole: no incident, the inbox still pending."""
    clock = [T0]
    _, bodies = storm(T0)
    await _inbox(store, bodies[:3])
    a = IncidentProcessor(_deps(store, clock), holder="A")
    orig = store.incidents.apply

    async def steal_then_apply(*args, **kwargs):  # type: ignore[no-untyped-def]
        await store.leases.release(Lease(LEASE, "A", 1), now=clock[0])
        assert await store.leases.acquire(LEASE, "B", ttl=LEASE_TTL, now=clock[0]) == 2
        return await orig(*args, **kwargs)

    store.incidents.apply = steal_then_apply  # type: ignore[method-assign]
    with pytest.raises(LeaseLost):
        await a.step()
    store.incidents.apply = orig  # type: ignore[method-assign]
    assert await store.incidents.listing(open_only=False) == []
    assert len(await store.inbox_pending()) == 3


async def test_replicas_share_the_work_and_a_takeover_continues_the_same_incidents(store: Store) -> None:
    """Two processors step together: only the lease holder correlates; when it lets go, the other restores from
    the store and keeps adding to the same incidents (same numbers, every alert once)."""
    clock = [T0]
    world, bodies = storm(T0)
    a, b = IncidentProcessor(_deps(store, clock), holder="A"), IncidentProcessor(_deps(store, clock), holder="B")
    half = len(bodies) // 2
    await _inbox(store, bodies[:half])
    ra, rb = await asyncio.gather(a.step(), b.step())
    assert sorted([ra.held, rb.held]) == [False, True]
    first, second = (a, b) if ra.held else (b, a)
    before = {s.key: s.number for s in await store.incidents.listing(open_only=False)}
    await first.release()
    await _inbox(store, bodies[half:])
    clock[0] = T0 + timedelta(seconds=5)
    step = await second.step()
    assert step.held and step.bodies == len(bodies) - half
    assert (await first.step()).held is False
    after = await store.incidents.listing(open_only=False)
    assert {s.key: s.number for s in after if s.key in before} == before
    assert sorted(s.number for s in after) == [1, 2]
    db = next(s for s in after if s.number == 1)
    assert db.incident.resolved and len(db.incident.alerts) == 12
    assert len(await store.incidents.alerts(db.key)) == 12
    kinds = [t.kind for t in await store.incidents.timeline(db.key)]
    assert kinds.count("opened") == 1 and kinds.count("joined") == 11 and kinds[-1] == "resolved_all"
    assert not await store.inbox_pending()


async def test_a_body_that_no_longer_parses_is_skipped_not_retried_forever(store: Store) -> None:
    """A stored body the parser now refuses is logged and marked processed; the good ones around it still count."""
    clock = [T0]
    _, bodies = storm(T0)
    await _inbox(store, bodies[:1])
    await store.inbox_add({"version": "4", "alerts": [{"labels": "oops"}]}, alerts=1, source="alertmanager", now=T0)
    await _inbox(store, bodies[1:2])
    step = await IncidentProcessor(_deps(store, clock), holder="A").step()
    assert step.bodies == 3 and step.alerts == 2 and not await store.inbox_pending()
