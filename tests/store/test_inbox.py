"""The alert inbox: a body is committed when `inbox_add` returns, read back oldest first, and marked processed once."""

from __future__ import annotations

import json
from pathlib import Path

from sre_bot.store import Store
from tests.store.helpers import T0

FIXTURES = Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures" / "alertmanager"


async def test_inbox_keeps_bodies_until_processed(store: Store) -> None:
    """Real webhook bodies round-trip exactly; processed ones leave the pending list; marking twice counts once."""
    bodies = [json.loads((FIXTURES / name).read_text()) for name in
              ("webhook_v4_01_firing_crashloop.json", "webhook_v4_02_firing_higherrorrate_2alerts.json")]
    ids = [await store.inbox_add(b, alerts=len(b["alerts"]), source="alertmanager", now=T0) for b in bodies]
    assert ids == sorted(ids)
    pending = await store.inbox_pending()
    assert [p[0] for p in pending] == ids and [p[2] for p in pending] == bodies and pending[0][1] == T0
    assert await store.inbox_done(ids[:1], now=T0) == 1
    assert await store.inbox_done(ids[:1], now=T0) == 0  # another replica got there first
    assert [p[0] for p in await store.inbox_pending()] == ids[1:]
    assert await store.inbox_done([], now=T0) == 0
