"""The audit log: append-only, ordered, streamed oldest first for export."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import text

import sre_bot.store.store as store_module
from sre_bot.store import AuditRecord, Store
from tests.store.helpers import T0


def _record(minute: int, kind: str = "command", **kw: object) -> AuditRecord:
    return AuditRecord(at=T0 + timedelta(minutes=minute), kind=kind, actor="U1", summary=f"event at {minute}",
                       **kw)  # type: ignore[arg-type]


async def test_append_assigns_increasing_ids(store: Store) -> None:
    """`append` returns the record with a new id, larger than the previous one, and JSON data as stored."""
    first = await store.append(_record(0, data={"when": T0, "n": [1, 2]}))
    second = await store.append(_record(1, kind="approved", request_id="r" * 22))
    assert first.id is not None and second.id is not None and second.id > first.id
    assert first.data == {"when": "2025-03-01T12:00:00Z", "n": [1, 2]}
    assert await store.latest(5) == [second, first]


async def test_latest_is_newest_first_and_limited(store: Store) -> None:
    """`latest(n)` returns the n newest records by time, newest first, whatever the insertion order."""
    for minute in (3, 1, 4, 2, 0):
        await store.append(_record(minute))
    assert [r.at for r in await store.latest(3)] == [T0 + timedelta(minutes=m) for m in (4, 3, 2)]
    assert await store.latest(0) == []


async def test_since_streams_oldest_first_across_batches(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """`since(t)` yields records at or after t oldest first, ties by id, across several fetch batches."""
    monkeypatch.setattr(store_module, "_EXPORT_BATCH", 2)
    appended = [await store.append(_record(minute)) for minute in (0, 1, 1, 1, 2, 3, 3)]
    got = [r async for r in store.since(T0 + timedelta(minutes=1))]
    assert got == appended[1:]
    assert [r async for r in store.since(T0, limit=3)] == appended[:3]
    assert [r async for r in store.since(T0 + timedelta(hours=1))] == []


async def test_audit_has_no_update_or_delete(store: Store) -> None:
    """The Store offers no way to change the audit, and the database itself refuses UPDATE and DELETE."""
    assert not any(n.startswith(("update", "delete", "remove", "edit")) for n in dir(store))
    kept = await store.append(_record(0))
    for sql in ("UPDATE audit SET summary = 'forged'", "DELETE FROM audit"):
        with pytest.raises(Exception, match="append-only"):
            async with store._engine.begin() as conn:
                await conn.execute(text(sql))
    assert await store.latest(10) == [kept]


def test_audit_timestamps_are_utc() -> None:
    """A naive timestamp is taken as UTC and an offset one is converted to UTC."""
    naive = AuditRecord(at=datetime(2025, 3, 1, 12, 0), kind="command", summary="x")
    shifted = AuditRecord(at=datetime.fromisoformat("2025-03-01T14:00:00+02:00"), kind="command", summary="x")
    assert naive.at == shifted.at == T0 and shifted.at.utcoffset() == timedelta(0)
