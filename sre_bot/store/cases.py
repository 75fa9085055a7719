"""Incident memory in the store: the `cases` table (`schema.cases`, migration 0006).

    await store.cases.add(Case(id=new_case_id(), status="candidate", ...))     # every answered investigation
    case = await store.cases.for_thread("C1", "1700000000.000100", at=answer_at)
    case = await store.cases.update(case.id, expected=case.version, now=now, status="active", summary=...)  # CAS
    cases = await store.cases.list(service="checkout", limit=20)                 # newest first, active only

A row is a `candidate` from the moment an investigation is answered (its fingerprint, where it was posted), and
becomes an `active` case when a person confirms its cause (a "Right cause?" yes, "the real cause was…", or an
approved fix followed by recovery; `services/memory.py`). Only active cases are listed and compared with new
answers; a person may `forget` one (the row stays, for the audit) or correct it. Every change is a compare-and-set on
`version`, so two replicas (or two votes) never overwrite each other: the loser gets None and reads again.
Candidates older than `CANDIDATE_TTL` are deleted when new ones are added. The store reads no clock.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic_core import to_jsonable_python
from sqlalchemy import Row, delete, insert, select, update

from .schema import cases

if TYPE_CHECKING:
    from .store import Store

__all__ = ["Case", "CaseStatus", "CaseStore", "CANDIDATE_TTL", "new_case_id"]

_C = cases.c
CaseStatus = Literal["candidate", "active", "forgotten"]
CANDIDATE_TTL = timedelta(days=30)  # as long as an answer takes votes (`feedback.votes.FEEDBACK_OPEN_FOR`)
_CANDIDATE_SCAN = 200
_FIELDS = ("status", "service", "cause_kind", "summary", "source", "fingerprint", "fix", "occurred_at")


def new_case_id() -> str:
    """A short id people can type (`/sre history forget 7kq2m9xa`): 8 lower-case letters and digits."""
    alphabet = "abcdefghijkmnpqrstuvwxyz23456789"
    return "".join(secrets.choice(alphabet) for _ in range(8))


class Case(BaseModel):
    """One row of `cases`. `source`: what confirmed it (and, for a candidate, where its answer was posted);
    `fingerprint`: `analysis.memory.Fingerprint` as JSON; `fix`: the action that ran, who approved it, its outcome
    and the time to recovery."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(min_length=1, max_length=64)
    occurred_at: datetime
    created_at: datetime
    updated_at: datetime
    status: CaseStatus
    service: str
    cause_kind: str
    summary: str
    source: dict[str, Any] = Field(default_factory=dict)
    fingerprint: dict[str, Any] = Field(default_factory=dict)
    fix: dict[str, Any] | None = None
    version: int = 1


def _case(row: Row[Any]) -> Case:
    return Case.model_validate(dict(row._mapping))


class CaseStore:
    """The `cases` table."""

    def __init__(self, store: Store) -> None:
        self._s = store

    async def add(self, case: Case) -> Case:
        """Insert `case` (StoreError if its id exists); adding a candidate deletes candidates past their time."""
        values = {**case.model_dump(), "source": to_jsonable_python(case.source),
                  "fingerprint": to_jsonable_python(case.fingerprint), "fix": to_jsonable_python(case.fix)}
        async with self._s._tx("case_add", write=True) as conn:
            await conn.execute(insert(cases).values(values))
            if case.status == "candidate":
                await conn.execute(delete(cases).where(_C.status == "candidate",
                                                       _C.created_at < case.created_at - CANDIDATE_TTL))
        return case

    async def get(self, case_id: str) -> Case | None:
        async with self._s._tx("case_get") as conn:
            row = (await conn.execute(select(cases).where(_C.id == case_id))).first()
        return None if row is None else _case(row)

    async def list(self, *, service: str | None = None, limit: int = 20,
                   statuses: tuple[CaseStatus, ...] = ("active",)) -> list[Case]:
        """Cases newest first (by when they occurred); `service`: only that service's."""
        query = select(cases).where(_C.status.in_(statuses)).order_by(_C.occurred_at.desc(), _C.id).limit(limit)
        if service is not None:
            query = query.where(_C.service == service)
        async with self._s._tx("case_list") as conn:
            return [_case(r) for r in await conn.execute(query)]

    async def for_thread(self, channel: str, thread_ts: str | None, *, at: datetime,
                         statuses: tuple[CaseStatus, ...] = ("candidate",),
                         slack: timedelta = timedelta(seconds=30),
                         within: timedelta = CANDIDATE_TTL) -> Case | None:
        """The newest row (in `statuses`) recorded for an answer posted in `channel` (and thread) no later than
        `at` (+ `slack`, the time between recording it and posting the answer), and no earlier than `within`."""
        query = (select(cases).where(_C.status.in_(statuses), _C.created_at <= at + slack,
                                     _C.created_at >= at - within)
                 .order_by(_C.created_at.desc(), _C.id).limit(_CANDIDATE_SCAN))
        async with self._s._tx("case_candidate") as conn:
            for row in await conn.execute(query):
                src = row._mapping["source"] or {}
                if src.get("channel") == channel and src.get("thread_ts") == thread_ts:
                    return _case(row)
        return None

    async def update(self, case_id: str, *, expected: int, now: datetime,
                     statuses: tuple[CaseStatus, ...] | None = None, **changes: Any) -> Case | None:
        """Compare-and-set: apply `changes` (fields of `_FIELDS`) only if the row is still at version `expected`
        (and, with `statuses`, in one of them). Returns the new row, or None when it changed (or is not there)."""
        unknown = set(changes) - set(_FIELDS)
        if unknown:
            raise ValueError(f"cases have no field(s) {sorted(unknown)} to change")
        values = {k: to_jsonable_python(v) if k in ("source", "fingerprint", "fix") else v for k, v in changes.items()}
        where = [_C.id == case_id, _C.version == expected]
        if statuses is not None:
            where.append(_C.status.in_(statuses))
        statement = (update(cases).where(*where).values(version=_C.version + 1, updated_at=now, **values)
                     .returning(*cases.c))
        async with self._s._tx("case_update", write=True) as conn:
            row = (await conn.execute(statement)).first()
        return None if row is None else _case(row)

    async def forget(self, case_id: str, *, expected: int, now: datetime) -> Case | None:
        """Mark an active case forgotten (kept for the audit, never shown or compared again); None: it changed."""
        return await self.update(case_id, expected=expected, now=now, statuses=("active",), status="forgotten")
