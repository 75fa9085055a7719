"""The alert inbox's writes: `Store.inbox_add`, committed in groups (group commit).

Alertmanager sends each alert group on its own connection, so a storm is many small bodies at once. One
transaction each made them take turns on SQLite's one writer, each paying its own commit (and its fsync): the
hundredth body waited for the ninety-nine before it. Here the bodies that arrive while a write is under way share
the next transaction: one multi-row insert, one commit, one fsync. Each caller still returns only once its own
body is committed (the webhook's 200 comes after that), so a crash after the 200 loses nothing; a failed group
fails every caller in it (each gets its own `StoreError`, and Alertmanager retries on the 503), and nothing of it
is kept. A group holds at most `_BATCH` bodies or `_BATCH_ALERTS` alerts, so one commit stays short.

    inbox_id = await store.inbox_add(body, alerts=10, source="alertmanager", now=now)
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert

from .errors import own_copy
from .schema import alert_inbox

if TYPE_CHECKING:
    from .store import Store

__all__ = ["InboxWriter"]

_BATCH = 500  # bodies in one transaction at most
_BATCH_ALERTS = 20_000  # alerts in one transaction at most (a group is cut before the body that passes it)


@dataclass(frozen=True, eq=False)
class _Body:
    values: dict[str, Any]
    alerts: int
    stored: asyncio.Future[int]


class InboxWriter:
    """`inbox_add` for one store: bodies queue up, and one task commits them a group at a time."""

    def __init__(self, store: Store) -> None:
        self._s = store
        self._queue: list[_Body] = []
        self._writer: asyncio.Task[None] | None = None
        self.groups = 0  # transactions written (for tests and benchmarks)

    async def add(self, body: Any, *, alerts: int, source: str, now: datetime) -> int:
        """The body's id once its group is committed; StoreError when the group could not be written."""
        item = _Body({"received_at": now, "source": source, "body": body, "alerts": alerts}, alerts,
                     asyncio.get_running_loop().create_future())
        self._queue.append(item)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_queued(), name="sre-bot alert inbox")
        return await item.stored

    def _next_group(self) -> list[_Body]:
        group: list[_Body] = []
        alerts = 0
        for item in self._queue:
            if group and (len(group) >= _BATCH or alerts + item.alerts > _BATCH_ALERTS):
                break
            group.append(item)
            alerts += item.alerts
        del self._queue[:len(group)]
        return group

    async def _write_queued(self) -> None:
        while self._queue:
            group = self._next_group()
            try:
                ids = await self._write(group)
            except Exception as e:  # each caller gets the failure as its own (a StoreError when the store failed)
                for item in group:
                    if not item.stored.done():  # a caller that was cancelled no longer waits
                        item.stored.set_exception(own_copy(e))
                continue
            except BaseException:  # cancelled (the loop is closing): nobody gets an answer, nothing is promised
                for item in group + self._queue:
                    item.stored.cancel()
                self._queue.clear()
                raise
            self.groups += 1
            for item, new_id in zip(group, ids, strict=True):
                if not item.stored.done():
                    item.stored.set_result(new_id)

    async def _write(self, group: list[_Body]) -> list[int]:
        """One transaction, one multi-row insert; the ids in the group's order."""
        statement = insert(alert_inbox).returning(alert_inbox.c.id, sort_by_parameter_order=True)
        async with self._s._tx("inbox_add", write=True) as conn:
            result = await conn.execute(statement, [item.values for item in group])
            return [int(i) for i in result.scalars()]
