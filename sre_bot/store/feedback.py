"""Feedback in the store: posted answers and the actions they proposed, votes, and autonomy overrides.

    await store.feedback.add_answer(StoredAnswer(id=…, at=now, channel="C1", draft=draft), requests=[(rid, action)])
    vote = await store.feedback.vote(answer_id, "U1", "no", now=now)         # this person's latest vote replaces theirs
    points = await store.feedback.points(since=now - timedelta(days=14), action="argocd.rollback")
    changed = await store.feedback.set_override("argocd.rollback", "approve", expected=current, …)  # None: lost a race

Votes live one row per (answer, person): re-voting overwrites, so one person counts once per answer. An override
is written with compare-and-set on its `version`, so two replicas judging the same vote cannot both step an action
down (auto → approve → suggest in one go).
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic_core import to_jsonable_python
from sqlalchemy import Row, func, insert, select, update

from ..feedback.model import AnswerDraft, AnswerHypothesis, Verdict
from ._dialect import upsert
from .schema import answer_actions, answers, autonomy_overrides, feedback

if TYPE_CHECKING:
    from .store import Store

__all__ = ["StoredAnswer", "Vote", "FeedbackPoint", "AutonomyOverride", "FeedbackStore", "lowered_of"]

_A = answers.c
_F = feedback.c
_O = autonomy_overrides.c
_CHUNK = 500


class StoredAnswer(BaseModel):
    """An answer as posted: the draft, where it is, and the action requests it proposed as (request id, action)."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(pattern=r"^[A-Za-z0-9_-]{16,64}$")
    at: datetime
    channel: str
    message_ts: str | None = None
    thread_ts: str | None = None
    draft: AnswerDraft
    requests: list[tuple[str, str]] = Field(default_factory=list)

    @property
    def actions(self) -> list[str]:
        return sorted({a for _, a in self.requests})


class Vote(BaseModel):
    model_config = ConfigDict(frozen=True)

    answer_id: str
    voter: str
    verdict: Verdict
    real_cause: str | None
    at: datetime
    votes: int  # how many times this person has voted on this answer (the latest counts)


class FeedbackPoint(BaseModel):
    """One person's latest vote on one answer, with what the answer claimed."""

    model_config = ConfigDict(frozen=True)

    answer_id: str
    answer_at: datetime
    answered_by: str
    engine: str
    model: str | None
    top_confidence: float | None
    top_calibrated: float | None
    voter: str
    verdict: Verdict
    real_cause: str | None
    actions: tuple[str, ...] = ()


class AutonomyOverride(BaseModel):
    """The store-backed level of an action (None: as configured), who set it, when and why."""

    model_config = ConfigDict(frozen=True)

    action: str
    level: str | None
    set_by: str | None  # a Slack user id, or None when the bot stepped it down
    set_at: datetime
    reason: str
    data: dict[str, Any] = Field(default_factory=dict)
    version: int


def _answer(row: Row[Any], requests: list[tuple[str, str]]) -> StoredAnswer:
    m = row._mapping
    draft = AnswerDraft(question=m["question"], answered_by=m["answered_by"], engine=m["engine"], model=m["model"],
                        insufficient=m["insufficient"], calibration=m["calibration"],
                        hypotheses=[AnswerHypothesis.model_validate(h) for h in m["hypotheses"]])
    return StoredAnswer(id=m["id"], at=m["at"], channel=m["channel"], message_ts=m["message_ts"],
                        thread_ts=m["thread_ts"], draft=draft, requests=requests)


def _vote(row: Row[Any]) -> Vote:
    m = row._mapping
    return Vote(answer_id=m["answer_id"], voter=m["voter"], verdict=m["verdict"], real_cause=m["real_cause"],
                at=m["at"], votes=m["votes"])


def _override(row: Row[Any]) -> AutonomyOverride:
    return AutonomyOverride.model_validate(dict(row._mapping))


class FeedbackStore:
    def __init__(self, store: Store) -> None:
        self._s = store

    # -- answers -------------------------------------------------------------------------------------------------

    async def add_answer(self, answer: StoredAnswer) -> StoredAnswer:
        """Insert the answer and its proposed requests in one transaction; StoreError if the id exists."""
        d, top = answer.draft, answer.draft.top
        values = {"id": answer.id, "at": answer.at, "channel": answer.channel, "message_ts": answer.message_ts,
                  "thread_ts": answer.thread_ts, "question": d.question, "answered_by": d.answered_by,
                  "engine": d.engine, "model": d.model, "insufficient": d.insufficient,
                  "top_confidence": top.confidence if top else None,
                  "top_calibrated": top.calibrated if top else None, "calibration": d.calibration,
                  "hypotheses": to_jsonable_python(d.hypotheses)}
        async with self._s._tx("answer_add", write=True) as conn:
            await conn.execute(insert(answers).values(values))
            if answer.requests:
                await conn.execute(insert(answer_actions), [
                    {"answer_id": answer.id, "request_id": rid, "action": action} for rid, action in answer.requests])
        return answer

    async def set_message(self, answer_id: str, message_ts: str) -> None:
        """Where the answer was posted, when it was recorded before the post (a new message, not an update)."""
        async with self._s._tx("answer_set_message", write=True) as conn:
            await conn.execute(update(answers).where(_A.id == answer_id).values(message_ts=message_ts))

    async def get_answer(self, answer_id: str) -> StoredAnswer | None:
        async with self._s._tx("answer_get") as conn:
            row = (await conn.execute(select(answers).where(_A.id == answer_id))).first()
            if row is None:
                return None
            reqs = await conn.execute(select(answer_actions.c.request_id, answer_actions.c.action)
                                      .where(answer_actions.c.answer_id == answer_id)
                                      .order_by(answer_actions.c.request_id))
            return _answer(row, [(r.request_id, r.action) for r in reqs])

    async def latest_in_thread(self, channel: str, thread_ts: str) -> StoredAnswer | None:
        """The newest answer posted in a thread (an incident's latest investigation), without its requests."""
        query = (select(answers).where(_A.channel == channel, _A.thread_ts == thread_ts)
                 .order_by(_A.at.desc(), _A.id.desc()).limit(1))
        async with self._s._tx("answer_latest_in_thread") as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else _answer(row, [])

    # -- votes ---------------------------------------------------------------------------------------------------

    async def vote(self, answer_id: str, voter: str, verdict: Verdict, *, now: datetime) -> Vote:
        """Record `voter`'s vote, replacing their earlier one on this answer (its "real cause" text is cleared)."""
        statement = upsert(self._s.backend, feedback).values(answer_id=answer_id, voter=voter, verdict=verdict,
                                                             real_cause=None, at=now, votes=1)
        statement = statement.on_conflict_do_update(
            index_elements=[_F.answer_id, _F.voter],
            set_={"verdict": statement.excluded.verdict, "real_cause": None, "at": statement.excluded.at,
                  "votes": _F.votes + 1}).returning(*feedback.c)
        async with self._s._tx("feedback_vote", write=True) as conn:
            return _vote((await conn.execute(statement)).one())

    async def set_real_cause(self, answer_id: str, voter: str, text: str, *, now: datetime) -> Vote | None:
        """Attach "the real cause was …" to this person's vote; None when they have not voted on the answer."""
        statement = (update(feedback).where(_F.answer_id == answer_id, _F.voter == voter)
                     .values(real_cause=text, at=now).returning(*feedback.c))
        async with self._s._tx("feedback_real_cause", write=True) as conn:
            row = (await conn.execute(statement)).first()
        return None if row is None else _vote(row)

    async def tally(self, answer_id: str) -> Counter[str]:
        """Latest votes on one answer by verdict."""
        query = select(_F.verdict, func.count()).where(_F.answer_id == answer_id).group_by(_F.verdict)
        async with self._s._tx("feedback_tally") as conn:
            return Counter({r[0]: int(r[1]) for r in await conn.execute(query)})

    async def points(self, *, since: datetime, until: datetime | None = None, action: str | None = None,
                     answered_by: str | None = None, engine: str | None = None,
                     limit: int | None = None) -> list[FeedbackPoint]:
        """Latest votes on answers posted in [since, until), newest answers first; `action`: only answers that
        proposed it; `answered_by`/`engine`: only answers by that answerer / engine version."""
        query = (select(_F.answer_id, _A.at, _A.answered_by, _A.engine, _A.model, _A.top_confidence,
                        _A.top_calibrated, _F.voter, _F.verdict, _F.real_cause)
                 .join(answers, _A.id == _F.answer_id).where(_A.at >= since)
                 .order_by(_A.at.desc(), _F.answer_id, _F.voter))
        if until is not None:
            query = query.where(_A.at < until)
        if action is not None:
            query = query.where(_A.id.in_(select(answer_actions.c.answer_id)
                                          .where(answer_actions.c.action == action)))
        if answered_by is not None:
            query = query.where(_A.answered_by == answered_by)
        if engine is not None:
            query = query.where(_A.engine == engine)
        if limit is not None:
            query = query.limit(limit)
        async with self._s._tx("feedback_points") as conn:
            rows = list(await conn.execute(query))
            ids = sorted({r.answer_id for r in rows})
            acts: dict[str, set[str]] = {}
            for i in range(0, len(ids), _CHUNK):
                chunk = select(answer_actions.c.answer_id, answer_actions.c.action).where(
                    answer_actions.c.answer_id.in_(ids[i:i + _CHUNK]))
                for a in await conn.execute(chunk):
                    acts.setdefault(a.answer_id, set()).add(a.action)
        return [FeedbackPoint(answer_id=r.answer_id, answer_at=r.at, answered_by=r.answered_by, engine=r.engine,
                              model=r.model, top_confidence=r.top_confidence, top_calibrated=r.top_calibrated,
                              voter=r.voter, verdict=r.verdict, real_cause=r.real_cause,
                              actions=tuple(sorted(acts.get(r.answer_id, ())))) for r in rows]

    # -- autonomy overrides --------------------------------------------------------------------------------------

    async def override(self, action: str) -> AutonomyOverride | None:
        async with self._s._tx("override_get") as conn:
            row = (await conn.execute(select(autonomy_overrides).where(_O.action == action))).first()
        return None if row is None else _override(row)

    async def overrides(self) -> list[AutonomyOverride]:
        async with self._s._tx("override_list") as conn:
            return [_override(r) for r in await conn.execute(select(autonomy_overrides).order_by(_O.action))]

    async def set_override(self, action: str, level: str | None, *, expected: AutonomyOverride | None,
                           by: str | None, reason: str, now: datetime,
                           data: dict[str, Any] | None = None) -> AutonomyOverride | None:
        """Compare-and-set: write `level` (None: as configured) only if the row is still `expected` (None: no row
        yet). Returns the new row, or None when another writer changed it first."""
        values = {"level": level, "set_by": by, "set_at": now, "reason": reason,
                  "data": to_jsonable_python(data or {})}
        if expected is None:
            statement: Any = (upsert(self._s.backend, autonomy_overrides).values(action=action, version=1, **values)
                              .on_conflict_do_nothing(index_elements=[_O.action]))
        else:
            statement = (update(autonomy_overrides)
                         .where(_O.action == action, _O.version == expected.version)
                         .values(version=_O.version + 1, **values))
        async with self._s._tx("override_set", write=True) as conn:
            row = (await conn.execute(statement.returning(*autonomy_overrides.c))).first()
        return None if row is None else _override(row)

    async def count_answers(self, *, since: datetime, until: datetime | None = None) -> int:
        """How many answers that named a cause were posted in [since, until) (rated or not)."""
        query = select(func.count()).select_from(answers).where(_A.at >= since, _A.insufficient.is_(False),
                                                                 _A.top_confidence.is_not(None))
        if until is not None:
            query = query.where(_A.at < until)
        async with self._s._tx("answer_count") as conn:
            return int((await conn.execute(query)).scalar_one())

    async def lowered(self, action: str) -> tuple[Any, str] | None:
        """`(level, why)` when the store holds a level for `action` (for `policy.effective_autonomy`), else None."""
        return lowered_of(await self.override(action))


def lowered_of(row: AutonomyOverride | None) -> tuple[Any, str] | None:
    """An override as `policy.effective_autonomy` takes it: `(level, why)`, or None when it holds no level."""
    if row is None or row.level is None:
        return None
    who = f"<@{row.set_by}>" if row.set_by else "the feedback monitor"
    return row.level, f"set to `{row.level}` by {who} at {row.set_at:%Y-%m-%d %H:%M} UTC: {row.reason}"
