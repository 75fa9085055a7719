"""Deploy verdicts in the store, on SQLite and PostgreSQL: one per sync, attach, and the queries."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

from sre_bot.store import Store
from sre_bot.store.verdicts import VerdictRecord, new_verdict_id

T0 = datetime(2026, 11, 21, 14, 0, tzinfo=timezone.utc)


def _rec(app: str = "checkout", synced: datetime = T0, verdict: str = "bad", **kw) -> VerdictRecord:
    return VerdictRecord(id=kw.pop("id", new_verdict_id()), app=app, service=app, revision="4f1c2e9a7b3d",
                         synced_at=synced, checked_at=synced + timedelta(minutes=5), verdict=verdict,  # type: ignore[arg-type]
                         doc={"engine": "change-verdict-v1", "reasons": ["checkout error ratio: 0.3% → 16%"],
                              "signals": [{"effect": 52.3, "p_adjusted": 1e-05}]}, **kw)


async def test_one_verdict_per_sync_and_it_reads_back(store: Store):
    """The first verdict of a sync is kept; a second (another replica's) is refused with None; doc round-trips."""
    first = await store.verdicts.record(_rec(id="dv-1"))
    assert first is not None
    assert await store.verdicts.record(_rec(id="dv-2", verdict="healthy")) is None
    got = await store.verdicts.get("dv-1")
    assert got is not None and got.verdict == "bad" and got.synced_at == T0
    assert got.doc["signals"][0]["effect"] == 52.3 and got.doc["reasons"][0].startswith("checkout error ratio")
    assert await store.verdicts.get("dv-2") is None
    assert (await store.verdicts.for_sync("checkout", T0)).id == "dv-1"  # type: ignore[union-attr]


async def test_concurrent_records_of_one_sync_leave_one_row(store: Store):
    """Five watchers racing on the same sync: exactly one insert wins."""
    results = await asyncio.gather(*(store.verdicts.record(_rec(id=f"dv-{i}")) for i in range(5)))
    assert sum(r is not None for r in results) == 1
    assert len(await store.verdicts.latest(app="checkout")) == 1


async def test_attach_judged_and_latest(store: Store):
    """attach keeps the request and message; judged says which syncs have a verdict; latest filters and orders."""
    await store.verdicts.record(_rec(id="dv-a", synced=T0))
    await store.verdicts.record(_rec(id="dv-b", synced=T0 + timedelta(hours=1), verdict="healthy"))
    await store.verdicts.record(_rec(app="cart", id="dv-c", synced=T0 + timedelta(hours=2), verdict="suspicious"))
    await store.verdicts.attach("dv-a", request_id="req-1")
    await store.verdicts.attach("dv-a", channel="C0DEPLOYS", message_ts="1700000000.000100")
    a = await store.verdicts.get("dv-a")
    assert a is not None and (a.request_id, a.channel, a.message_ts) == ("req-1", "C0DEPLOYS", "1700000000.000100")
    assert await store.verdicts.judged("checkout", [T0, T0 + timedelta(hours=1), T0 + timedelta(hours=3)]) == \
        {T0, T0 + timedelta(hours=1)}
    assert [r.id for r in await store.verdicts.latest()] == ["dv-c", "dv-b", "dv-a"]
    assert [r.id for r in await store.verdicts.latest(verdict="bad")] == ["dv-a"]
    assert [r.id for r in await store.verdicts.latest(app="cart")] == ["dv-c"]
