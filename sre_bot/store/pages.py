"""Pages in the store: what each incident triggered at PagerDuty or Opsgenie, and who acknowledged it in Slack.

    pages = PageStore(store)
    page = await pages.offer(Page(id=rule_page_id(key), incident_key=key, team="payments", provider="pagerduty",
                                  dedup_key=dedup_key(key), state="offering", ...))   # None: already offered
    await pages.move(page.id, "offering", "requested", now=now, request_id=req.id)    # compare-and-set
    await pages.open()                                # pages still to follow (requested, triggered, acknowledged)
    await pages.acknowledge(key, user="U1", user_name="ana", now=now)   # first click wins; redraws the message
    await pages.page_requests_since(since)           # every page request that ran in the window, whoever asked

A row's state only moves by `move`, a conditional update from the state the caller saw, so two replicas following
the same page never both act on it (the loser's `move` returns False). The rule's offer for an incident has the id
`rule:<incident key>`: its insert loses quietly to an existing row, so an incident is offered at most once. The store
reads no clock: times are passed in.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Row, func, select, update

from ._dialect import upsert
from .schema import action_requests, escalations, incidents, pages

if TYPE_CHECKING:
    from .store import Store

__all__ = ["Page", "PageState", "Provider", "Ack", "PageStore", "OPEN_STATES", "PAGE_ACTIONS", "dedup_key",
           "rule_page_id"]

_P = pages.c
_E = escalations.c

PageState = Literal["offering", "requested", "triggered", "acknowledged", "resolved", "declined", "failed",
                    "cancelled", "not_offered"]
Provider = Literal["pagerduty", "opsgenie"]
OPEN_STATES: tuple[PageState, ...] = ("offering", "requested", "triggered", "acknowledged")
PAGE_ACTIONS: dict[str, Provider] = {"pagerduty.page": "pagerduty", "opsgenie.alert": "opsgenie"}  # action → provider


def dedup_key(incident_key: str) -> str:
    """The key PagerDuty (`dedup_key`) and Opsgenie (`alias`) use, so repeats update one page."""
    return f"sre-bot/{incident_key}"


def rule_page_id(incident_key: str) -> str:
    return f"rule:{incident_key}"[:200]


class Page(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    incident_key: str
    team: str
    provider: Provider
    dedup_key: str
    request_id: str | None = None
    requested_by: str | None = None
    state: PageState
    detail: str | None = None
    created_at: datetime
    updated_at: datetime
    triggered_at: datetime | None = None
    acknowledged_at: datetime | None = None
    resolved_at: datetime | None = None


class Ack(BaseModel):
    model_config = ConfigDict(frozen=True)

    incident_key: str
    by: str
    by_name: str | None
    at: datetime


def _page(row: Row[Any]) -> Page:
    return Page.model_validate(dict(row._mapping))


class PageStore:
    def __init__(self, store: Store) -> None:
        self._s = store

    # -- pages ---------------------------------------------------------------------------------------------------

    async def offer(self, page: Page) -> Page | None:
        """Insert `page` unless a row with its id exists; the row when this caller inserted it, else None."""
        statement = (upsert(self._s.backend, pages).values(**page.model_dump())
                     .on_conflict_do_nothing(index_elements=[_P.id]).returning(_P.id))
        async with self._s._tx("page_offer", write=True) as conn:
            row = (await conn.execute(statement)).first()
        return page if row is not None else None

    async def get(self, page_id: str) -> Page | None:
        async with self._s._tx("page_get") as conn:
            row = (await conn.execute(select(pages).where(_P.id == page_id))).first()
        return None if row is None else _page(row)

    async def by_request(self, request_id: str) -> Page | None:
        async with self._s._tx("page_by_request") as conn:
            row = (await conn.execute(select(pages).where(_P.request_id == request_id))).first()
        return None if row is None else _page(row)

    async def for_incident(self, incident_key: str) -> list[Page]:
        query = select(pages).where(_P.incident_key == incident_key).order_by(_P.created_at, _P.id)
        async with self._s._tx("pages_for_incident") as conn:
            return [_page(r) for r in await conn.execute(query)]

    async def open(self, limit: int = 200) -> list[Page]:
        """Pages still to follow, oldest first."""
        query = select(pages).where(_P.state.in_(OPEN_STATES)).order_by(_P.created_at, _P.id).limit(limit)
        async with self._s._tx("pages_open") as conn:
            return [_page(r) for r in await conn.execute(query)]

    async def move(self, page_id: str, from_state: PageState, to_state: PageState, *, now: datetime,
                   **values: Any) -> bool:
        """`from_state` → `to_state` (with `values`: request_id, detail, the state's time); False when the row was
        not in `from_state` (another replica moved it first)."""
        stamp = {"triggered": "triggered_at", "acknowledged": "acknowledged_at", "resolved": "resolved_at"}
        if to_state in stamp:
            values.setdefault(stamp[to_state], now)
        statement = (update(pages).where(_P.id == page_id, _P.state == from_state)
                     .values(state=to_state, updated_at=now, **values))
        async with self._s._tx("page_move", write=True) as conn:
            return (await conn.execute(statement)).rowcount == 1

    async def incident_keys(self) -> set[str]:
        """Every incident with a page row (offered, sent or followed)."""
        async with self._s._tx("pages_incident_keys") as conn:
            return {r[0] for r in await conn.execute(select(_P.incident_key).distinct())}

    async def acks(self) -> dict[str, str]:
        """Incident key → who acknowledged it, for every acknowledged incident."""
        query = select(_E.incident_key, _E.acked_by).where(_E.acked_by.is_not(None))
        async with self._s._tx("incident_acks") as conn:
            return {r[0]: r[1] for r in await conn.execute(query)}

    async def waiting_by_team(self) -> dict[str, int]:
        """Offers still waiting for a decision (offering, requested), per team: they count against the team's hourly
        limit, so a burst of unknown incidents asks at most `max_per_hour` times, not once per incident."""
        query = (select(_P.team, func.count()).where(_P.state.in_(("offering", "requested"))).group_by(_P.team))
        async with self._s._tx("pages_waiting_by_team") as conn:
            return {r[0]: int(r[1]) for r in await conn.execute(query)}

    async def page_requests_since(self, since: datetime) -> list[tuple[str, dict[str, Any]]]:
        """(action, args) of every page request that started at or after `since`, whoever asked."""
        query = (select(action_requests.c.action, action_requests.c.args)
                 .where(action_requests.c.action.in_(list(PAGE_ACTIONS)), action_requests.c.started_at >= since))
        async with self._s._tx("page_requests_since") as conn:
            return [(r.action, dict(r.args or {})) for r in await conn.execute(query)]

    async def untracked(self, *, incident_key: str | None = None) -> list[tuple[str, str, dict[str, Any], str | None,
                                                                               datetime | None]]:
        """Page requests that ran, name an incident (args.incident_id) and have no row here yet — a person's
        `/sre run pagerduty.page … incident_id=…`: (request id, action, args, requested_by, started_at)."""
        R = action_requests.c
        query = (select(R.id, R.action, R.args, R.requested_by, R.started_at)
                 .where(R.action.in_(list(PAGE_ACTIONS)), R.status == "succeeded",
                        R.id.not_in(select(_P.request_id).where(_P.request_id.is_not(None)))))
        async with self._s._tx("pages_untracked") as conn:
            rows = list(await conn.execute(query))
        return [(r.id, r.action, dict(r.args), r.requested_by, r.started_at) for r in rows
                if (r.args or {}).get("incident_id") and (incident_key is None
                                                          or r.args.get("incident_id") == incident_key)]

    # -- acknowledgement and the rule's decision -------------------------------------------------------------------

    async def acknowledge(self, incident_key: str, *, user: str, user_name: str | None, now: datetime) -> Ack:
        """Mark the incident acknowledged by `user` (the first click wins; a later one gets the first's `Ack`) and
        bump the incident's version so its message is redrawn with who acknowledged it."""
        async with self._s._tx("incident_acknowledge", write=True) as conn:
            statement = upsert(self._s.backend, escalations).values(incident_key=incident_key, acked_by=user,
                                                                     acked_by_name=user_name, acked_at=now)
            won = (await conn.execute(statement.on_conflict_do_update(
                index_elements=[_E.incident_key],
                set_={"acked_by": statement.excluded.acked_by, "acked_by_name": statement.excluded.acked_by_name,
                      "acked_at": statement.excluded.acked_at},
                where=_E.acked_by.is_(None)).returning(_E.incident_key))).first()
            if won is not None:
                await conn.execute(update(incidents).where(incidents.c.key == incident_key)
                                   .values(version=incidents.c.version + 1, updated_at=now))
            row = (await conn.execute(select(escalations).where(_E.incident_key == incident_key))).one()
        return Ack(incident_key=incident_key, by=row.acked_by, by_name=row.acked_by_name, at=row.acked_at)

    async def ack_of(self, incident_key: str) -> Ack | None:
        query = select(escalations).where(_E.incident_key == incident_key, _E.acked_by.is_not(None))
        async with self._s._tx("incident_ack_of") as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else Ack(incident_key=incident_key, by=row.acked_by, by_name=row.acked_by_name,
                                            at=row.acked_at)

    async def decided(self, incident_key: str, decision: str, *, now: datetime) -> bool:
        """Record the rule's latest decision; True when it differs from the one recorded (say it on the timeline)."""
        statement = upsert(self._s.backend, escalations).values(incident_key=incident_key, decision=decision,
                                                                 decided_at=now)
        statement = statement.on_conflict_do_update(
            index_elements=[_E.incident_key],
            set_={"decision": statement.excluded.decision, "decided_at": statement.excluded.decided_at},
            where=_E.decision.is_distinct_from(statement.excluded.decision)).returning(_E.incident_key)
        async with self._s._tx("escalation_decided", write=True) as conn:
            return (await conn.execute(statement)).first() is not None

    async def decision_of(self, incident_key: str) -> str | None:
        async with self._s._tx("escalation_decision_of") as conn:
            row = (await conn.execute(select(_E.decision).where(_E.incident_key == incident_key))).first()
        return None if row is None else row.decision
