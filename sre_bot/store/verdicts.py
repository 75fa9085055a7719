"""Deploy verdicts in the store: one row per completed Argo CD sync (app, sync time), healthy / suspicious / bad.

    rec = await store.verdicts.record(VerdictRecord(id=new_verdict_id(), app="checkout", ...))   # None: already judged
    await store.verdicts.attach(rec.id, request_id=req.id, channel="C0DEPLOYS", message_ts="1700….0001")
    await store.verdicts.get(verdict_id) / .for_sync(app, synced_at) / .latest(app=None, limit=20)
    await store.verdicts.judged(app, [t1, t2, …])       # which of these syncs already have a verdict

`record` is an insert that loses quietly to an existing row of the same (app, synced_at) (the unique index decides,
across replicas), so a sync gets one verdict however many watchers look at it. `doc` holds everything the
feedback loop needs to score the verdict later like an answer: the verdict, each signal's before/after medians,
p-values and effects, the reasons quoted, the thresholds and the evidence ids (`sre_bot/feedback/` can read it).
The store reads no clock: times are passed in.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic_core import to_jsonable_python
from sqlalchemy import select, update

from ._dialect import upsert
from .schema import deploy_verdicts

if TYPE_CHECKING:
    from .store import Store

__all__ = ["VerdictRecord", "VerdictStore", "new_verdict_id"]

_V = deploy_verdicts.c

VerdictName = Literal["healthy", "suspicious", "bad", "unknown"]


def new_verdict_id() -> str:
    return "dv-" + secrets.token_hex(8)


class VerdictRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    app: str
    service: str | None = None
    revision: str
    synced_at: datetime
    checked_at: datetime
    verdict: VerdictName
    doc: dict[str, Any] = Field(default_factory=dict)
    request_id: str | None = None
    channel: str | None = None
    message_ts: str | None = None


def _row(r: Any) -> VerdictRecord:
    return VerdictRecord.model_validate(dict(r._mapping))


class VerdictStore:
    """The `deploy_verdicts` table."""

    def __init__(self, store: Store) -> None:
        self._s = store

    async def record(self, rec: VerdictRecord) -> VerdictRecord | None:
        """Insert `rec`; None when this sync already has a verdict (nothing written)."""
        values = rec.model_dump()
        values["doc"] = to_jsonable_python(rec.doc)
        statement = (upsert(self._s.backend, deploy_verdicts).values(**values)
                     .on_conflict_do_nothing(index_elements=[_V.app, _V.synced_at]).returning(_V.id))
        async with self._s._tx("verdict_record", write=True) as conn:
            row = (await conn.execute(statement)).first()
        return None if row is None else rec

    async def attach(self, verdict_id: str, *, request_id: str | None = None, channel: str | None = None,
                     message_ts: str | None = None) -> None:
        """Remember the rollback request a verdict proposed and the message it was posted as (fields left None
        are kept)."""
        values = {k: v for k, v in (("request_id", request_id), ("channel", channel), ("message_ts", message_ts))
                  if v is not None}
        if not values:
            return
        async with self._s._tx("verdict_attach", write=True) as conn:
            await conn.execute(update(deploy_verdicts).where(_V.id == verdict_id).values(**values))

    async def get(self, verdict_id: str) -> VerdictRecord | None:
        async with self._s._tx("verdict_get") as conn:
            row = (await conn.execute(select(deploy_verdicts).where(_V.id == verdict_id))).first()
        return None if row is None else _row(row)

    async def for_sync(self, app: str, synced_at: datetime) -> VerdictRecord | None:
        query = select(deploy_verdicts).where(_V.app == app, _V.synced_at == synced_at)
        async with self._s._tx("verdict_for_sync") as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else _row(row)

    async def judged(self, app: str, synced: Sequence[datetime]) -> set[datetime]:
        """Which of `synced` (sync times of `app`) already have a verdict."""
        if not synced:
            return set()
        query = select(_V.synced_at).where(_V.app == app, _V.synced_at.in_(list(synced)))
        async with self._s._tx("verdict_judged") as conn:
            return {r.synced_at for r in await conn.execute(query)}

    async def latest(self, *, app: str | None = None, verdict: str | None = None, since: datetime | None = None,
                     limit: int = 20) -> list[VerdictRecord]:
        """The newest verdicts (by sync time), optionally of one app, one verdict, or since a time."""
        query = select(deploy_verdicts)
        if app is not None:
            query = query.where(_V.app == app)
        if verdict is not None:
            query = query.where(_V.verdict == verdict)
        if since is not None:
            query = query.where(_V.checked_at >= since)
        query = query.order_by(_V.synced_at.desc(), _V.id).limit(limit)
        async with self._s._tx("verdict_latest") as conn:
            return [_row(r) for r in await conn.execute(query)]
