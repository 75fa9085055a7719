"""The alert inbox's group commit: concurrent bodies share one transaction, each caller gets its own id once its
body is committed, a failed group stores nothing and fails every caller, and the ids keep the arrival order."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from sre_bot.store import Store, open_store
from sre_bot.store.errors import StoreError
from tests.store.helpers import T0


def _body(i: int, alerts: int = 2) -> dict[str, object]:
    return {"version": "4", "status": "firing", "groupKey": f"g{i}",
            "alerts": [{"status": "firing", "labels": {"alertname": "A", "i": str(i), "k": str(k)},
                        "startsAt": "2026-11-01T00:00:00Z"} for k in range(alerts)]}


async def test_concurrent_bodies_share_transactions_and_keep_their_order(store: Store) -> None:
    """200 bodies added at once are committed in a few transactions, each id its own, in the order they came."""
    bodies = [_body(i) for i in range(200)]
    ids = await asyncio.gather(*(store.inbox_add(b, alerts=2, source="alertmanager", now=T0) for b in bodies))
    assert len(set(ids)) == 200 and list(ids) == sorted(ids)
    assert store._inbox.groups < 20  # one transaction each would be 200
    pending = await store.inbox_pending(limit=500)
    assert [p[0] for p in pending] == list(ids) and [p[2] for p in pending] == bodies


async def test_a_body_is_readable_when_its_call_returns(store: Store) -> None:
    """The id comes back only after the commit: another connection reads the row at once."""
    first = await store.inbox_add(_body(1), alerts=2, source="alertmanager", now=T0)
    assert [p[0] for p in await store.inbox_pending()] == [first]


async def test_a_failed_group_fails_every_caller_and_stores_nothing(store_url: str) -> None:
    """A write that fails (here: the bodies' table is gone) reaches each caller as its own StoreError."""
    async with await open_store(store_url) as store:
        async with store._engine.begin() as conn:
            await conn.exec_driver_sql("ALTER TABLE alert_inbox RENAME TO alert_inbox_gone")
        results = await asyncio.gather(*(store.inbox_add(_body(i), alerts=2, source="alertmanager", now=T0)
                                         for i in range(20)), return_exceptions=True)
        assert all(isinstance(r, StoreError) for r in results), results
        assert len({id(r) for r in results}) == 20  # each caller its own error
        async with store._engine.begin() as conn:
            await conn.exec_driver_sql("ALTER TABLE alert_inbox_gone RENAME TO alert_inbox")
        assert await store.inbox_pending() == []
        ok = await store.inbox_add(_body(99), alerts=2, source="alertmanager", now=T0)  # the writer recovers
        assert [p[0] for p in await store.inbox_pending()] == [ok]


async def test_a_closed_store_refuses_at_once(store_url: str) -> None:
    """After close, inbox_add raises StoreError instead of queueing a body nobody will write."""
    store = await open_store(store_url)
    await store.close()
    with pytest.raises(StoreError, match="closed"):
        await store.inbox_add(_body(1), alerts=2, source="alertmanager", now=T0)


def test_every_returned_id_survives_a_kill(tmp_path: Path) -> None:
    """A process killed (SIGKILL) while bodies stream in keeps every body whose id it had printed."""
    db = tmp_path / "inbox.db"
    script = textwrap.dedent(f"""
        import asyncio, sys
        from sre_bot.store import open_store
        from tests.store.helpers import T0

        async def main():
            store = await open_store("sqlite+aiosqlite:///{db}")
            n = 0
            async def one(i):
                new = await store.inbox_add({{"version": "4", "i": i, "alerts": []}}, alerts=0,
                                            source="alertmanager", now=T0)
                print(new, flush=True)
            while True:
                await asyncio.gather(*(one(n + k) for k in range(16)))
                n += 16
        asyncio.run(main())
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                            cwd=Path(__file__).resolve().parents[2])
    assert proc.stdout is not None
    printed = []
    for line in proc.stdout:
        printed.append(int(line))
        if len(printed) >= 300:
            proc.kill()
            break
    proc.wait(10)
    rest = proc.stdout.read()
    printed += [int(x) for x in rest.split()]

    async def stored() -> set[int]:
        async with await open_store(f"sqlite+aiosqlite:///{db}") as store:
            return {p[0] for p in await store.inbox_pending(limit=100_000)}

    kept = asyncio.run(stored())
    assert set(printed) <= kept, sorted(set(printed) - kept)[:10]


async def test_pending_bodies_can_be_capped_by_their_alerts(store: Store) -> None:
    """`max_alerts` takes bodies oldest first while their alerts fit, and always at least one (a big body too)."""
    sizes = [3, 4, 5, 20, 1]
    ids = [await store.inbox_add(_body(i, alerts=n), alerts=n, source="alertmanager", now=T0)
           for i, n in enumerate(sizes)]
    assert [p[0] for p in await store.inbox_pending(max_alerts=7)] == ids[:2]
    assert [p[0] for p in await store.inbox_pending(max_alerts=12)] == ids[:3]
    assert [p[0] for p in await store.inbox_pending(limit=2, max_alerts=1000)] == ids[:2]
    await store.inbox_done(ids[:3], now=T0)
    assert [p[0] for p in await store.inbox_pending(max_alerts=5)] == ids[3:4]  # bigger than the cap: alone
    assert [p[2] for p in await store.inbox_pending(max_alerts=100)] == [_body(3, 20), _body(4, 1)]
    await store.inbox_done(ids[3:], now=T0)
    assert await store.inbox_pending(max_alerts=5) == []
