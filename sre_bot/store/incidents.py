"""Incidents in the store: written in batches by the one processor holding the lease, read by everyone.

    epoch = await store.leases.acquire("incidents", holder, ttl=timedelta(minutes=1), now=now)   # None: not ours
    await store.incidents.apply(changes, inbox_ids=[…], lease=Lease("incidents", holder, epoch), now=now)

`apply` is one transaction: it checks the lease is still the caller's (else `LeaseLost`, nothing written), upserts
the incidents and their alerts, appends timeline events and marks the inbox rows processed — so a crash leaves
either the whole batch or none of it, and a replayed batch is absorbed by the correlator's dedupe. Incident
numbers (`#12`) are handed out in that transaction. Slack bookkeeping (`set_message`, `mark_posted`,
`mark_announced`) happens after the Slack call it records.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from pydantic import BaseModel, ConfigDict
from pydantic_core import to_jsonable_python
from sqlalchemy import Row, and_, bindparam, case, func, insert, or_, select, update

from ..analysis.correlation import AlertEvent, Incident, Merge
from ._dialect import upsert
from .errors import StoreError
from .schema import alert_inbox, incident_alerts, incident_events, incidents, leases

if TYPE_CHECKING:
    from .store import Store

__all__ = ["Lease", "LeaseLost", "lease_holder", "IncidentChange", "StoredIncident", "StoredAlert", "TimelineEvent",
           "IncidentStore", "LeaseStore"]

_I = incidents.c
_A = incident_alerts.c
_INCIDENT_COLUMNS = ("status", "severity", "title", "root_service", "started_at", "last_alert_at", "resolved_at",
                     "follows", "snapshot")  # `_columns`
_ALERT_UPDATED = ("name", "service", "status", "starts_at", "ends_at", "event")  # what a later change overwrites


class Lease(NamedTuple):
    name: str
    holder: str
    epoch: int


def lease_holder() -> str:
    """A name for this process as the holder of a lease: host, pid and a random part (a restart is a new holder)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class LeaseLost(StoreError):
    """The lease expired and another holder took it: this caller's batch was not written."""


class IncidentChange(BaseModel):
    """One incident after a batch: its new state, the alerts that changed (with the merge that brought each new
    one in), and timeline lines `(kind, text)`."""

    model_config = ConfigDict(frozen=True)

    incident: Incident
    alerts: list[tuple[AlertEvent, Merge | None]] = []
    events: list[tuple[str, str, datetime]] = []  # (kind, text, when it happened)
    services: dict[str, str | None] = {}  # fingerprint -> service
    channel: str | None = None  # where a new incident's message goes (kept if it already exists)


class StoredIncident(BaseModel):
    model_config = ConfigDict(frozen=True)

    number: int
    incident: Incident
    status: str
    channel: str | None
    message_ts: str | None
    post_started_at: datetime | None
    investigated_root: str | None
    investigation: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime
    version: int
    posted_version: int

    @property
    def key(self) -> str:
        return self.incident.key


class StoredAlert(BaseModel):
    model_config = ConfigDict(frozen=True)

    incident_key: str
    event: AlertEvent
    service: str | None
    joined_at: datetime
    rule: str | None
    reason: str | None
    announced: str | None


class TimelineEvent(NamedTuple):
    at: datetime
    kind: str
    text: str


def _stored(row: Row[Any]) -> StoredIncident:
    m = row._mapping
    return StoredIncident(number=m["number"], incident=Incident.model_validate(m["snapshot"]), status=m["status"],
                          channel=m["channel"], message_ts=m["message_ts"], post_started_at=m["post_started_at"],
                          investigated_root=m["investigated_root"], investigation=m["investigation"],
                          created_at=m["created_at"], updated_at=m["updated_at"], version=m["version"],
                          posted_version=m["posted_version"])


def _alert(row: Row[Any]) -> StoredAlert:
    m = row._mapping
    return StoredAlert(incident_key=m["incident_key"], event=AlertEvent.model_validate(m["event"]),
                       service=m["service"], joined_at=m["joined_at"], rule=m["rule"], reason=m["reason"],
                       announced=m["announced"])


def _columns(inc: Incident) -> dict[str, Any]:
    return {"status": "resolved" if inc.resolved else "open", "severity": inc.severity, "title": inc.title,
            "root_service": inc.root_service, "started_at": inc.started_at, "last_alert_at": inc.last_alert_at,
            "resolved_at": inc.resolved_at, "follows": inc.follows, "snapshot": to_jsonable_python(inc)}


class LeaseStore:
    """Named leases: one holder at a time, handed over when the holder lets go or stops renewing."""

    def __init__(self, store: Store) -> None:
        self._s = store

    async def acquire(self, name: str, holder: str, *, ttl: Any, now: datetime) -> int | None:
        """Take or renew the lease; its epoch when it is (now) `holder`'s, None when another holder has it."""
        s = self._s
        statement = upsert(s.backend, leases).values(name=name, holder=holder, epoch=1, expires_at=now + ttl)
        statement = statement.on_conflict_do_update(
            index_elements=[leases.c.name],
            set_={"holder": statement.excluded.holder, "expires_at": statement.excluded.expires_at,
                  "epoch": case((leases.c.holder == statement.excluded.holder, leases.c.epoch),
                                else_=leases.c.epoch + 1)},
            where=or_(leases.c.holder == statement.excluded.holder, leases.c.expires_at <= now),
        ).returning(leases.c.epoch)
        async with s._tx("lease_acquire", write=True) as conn:
            row = (await conn.execute(statement)).first()
        return None if row is None else int(row.epoch)

    async def release(self, lease: Lease, *, now: datetime) -> None:
        """Let go at once (on shutdown), so another replica need not wait for the ttl."""
        statement = (update(leases).where(leases.c.name == lease.name, leases.c.holder == lease.holder,
                                          leases.c.epoch == lease.epoch).values(expires_at=now))
        async with self._s._tx("lease_release", write=True) as conn:
            await conn.execute(statement)

    async def holds(self, lease: Lease, *, now: datetime) -> bool:
        query = select(leases.c.name).where(leases.c.name == lease.name, leases.c.holder == lease.holder,
                                            leases.c.epoch == lease.epoch, leases.c.expires_at > now)
        async with self._s._tx("lease_holds") as conn:
            return (await conn.execute(query)).first() is not None


class IncidentStore:
    def __init__(self, store: Store) -> None:
        self._s = store

    # -- the processor's batch -----------------------------------------------------------------------------------

    async def apply(self, changes: Sequence[IncidentChange], *, inbox_ids: Sequence[int], lease: Lease,
                    now: datetime, ttl: Any) -> list[int]:
        """Write one batch (see the module docstring); returns the numbers of the incidents it touched."""
        s = self._s
        async with s._tx("incidents_apply", write=True) as conn:
            fenced = await conn.execute(
                update(leases).where(leases.c.name == lease.name, leases.c.holder == lease.holder,
                                     leases.c.epoch == lease.epoch, leases.c.expires_at > now)
                .values(expires_at=now + ttl))
            if fenced.rowcount != 1:
                raise LeaseLost(f"the {lease.name} lease (epoch {lease.epoch}) is no longer ours",
                                backend=s.backend, operation="incidents_apply")
            numbers: list[int] = []
            alert_rows: list[dict[str, Any]] = []
            event_rows: list[dict[str, Any]] = []
            next_number: int | None = None
            # a few statements whatever the batch's size (the write lock is held for less time): the numbers of
            # the incidents that exist, then every new incident in one executemany, every changed one in another
            keys = list(dict.fromkeys(c.incident.key for c in changes))
            existing: dict[str, int] = {}
            for i in range(0, len(keys), 500):
                for row in await conn.execute(select(_I.key, _I.number).where(_I.key.in_(keys[i:i + 500]))):
                    existing[row.key] = int(row.number)
            new_rows: list[dict[str, Any]] = []
            changed_rows: list[dict[str, Any]] = []
            for change in changes:
                inc = change.incident
                number = existing.get(inc.key)
                if number is None:
                    if next_number is None:
                        next_number = int((await conn.execute(select(func.coalesce(func.max(_I.number), 0))))
                                          .scalar_one()) + 1
                    number, next_number = next_number, next_number + 1
                    existing[inc.key] = number  # the same incident twice in a batch: inserted, then updated
                    new_rows.append({"key": inc.key, "number": number, "created_at": now, "updated_at": now,
                                     "version": 1, "posted_version": 0, "channel": change.channel, **_columns(inc)})
                else:
                    changed_rows.append({"b_key": inc.key} | {f"b_{k}": v for k, v in _columns(inc).items()})
                numbers.append(number)
                alert_rows += [{"incident_key": inc.key, "fingerprint": event.fingerprint, "joined_at": now,
                                "rule": merge.rule if merge else None, "reason": merge.reason if merge else None,
                                "name": event.name, "service": change.services.get(event.fingerprint),
                                "status": event.status, "starts_at": event.starts_at, "ends_at": event.ends_at,
                                "event": to_jsonable_python(event)} for event, merge in change.alerts]
                event_rows += [{"incident_key": inc.key, "at": at, "kind": kind, "text": text}
                               for kind, text, at in change.events]
            if new_rows:
                await conn.execute(insert(incidents), new_rows)
            if changed_rows:
                await conn.execute(update(incidents).where(_I.key == bindparam("b_key")).values(
                    updated_at=now, version=_I.version + 1,
                    **{k: bindparam(f"b_{k}", type_=incidents.c[k].type) for k in _INCIDENT_COLUMNS}), changed_rows)
            # every incident row exists now: the alerts and timeline lines go in one executemany each (one
            # compiled statement, not one per alert, so the write lock is held for less time)
            if alert_rows:
                stmt = upsert(s.backend, incident_alerts)
                await conn.execute(stmt.on_conflict_do_update(
                    index_elements=[_A.incident_key, _A.fingerprint],
                    set_={k: getattr(stmt.excluded, k) for k in _ALERT_UPDATED}), alert_rows)
            if event_rows:
                await conn.execute(insert(incident_events), event_rows)
            if inbox_ids:
                await conn.execute(update(alert_inbox).where(alert_inbox.c.id.in_(list(inbox_ids)),
                                                             alert_inbox.c.processed_at.is_(None))
                                   .values(processed_at=now))
        return numbers

    async def for_restore(self, *, resolved_since: datetime) -> list[tuple[Incident, list[AlertEvent]]]:
        """Open incidents, and those resolved since `resolved_since` (a recurrence links them), with their alerts."""
        query = select(incidents.c.key, incidents.c.snapshot).where(
            or_(_I.status == "open", _I.resolved_at >= resolved_since)).order_by(_I.started_at)
        async with self._s._tx("incidents_for_restore") as conn:
            rows = list(await conn.execute(query))
            keys = [r.key for r in rows]
            alerts: dict[str, list[AlertEvent]] = {k: [] for k in keys}
            for i in range(0, len(keys), 500):
                chunk = select(_A.incident_key, _A.event).where(_A.incident_key.in_(keys[i:i + 500]))
                for a in await conn.execute(chunk):
                    alerts[a.incident_key].append(AlertEvent.model_validate(a.event))
        return [(Incident.model_validate(r.snapshot), alerts[r.key]) for r in rows]

    # -- reading -------------------------------------------------------------------------------------------------

    async def get(self, ref: int | str) -> StoredIncident | None:
        """By number (`12`) or key."""
        where = _I.number == ref if isinstance(ref, int) else _I.key == ref
        async with self._s._tx("incident_get") as conn:
            row = (await conn.execute(select(incidents).where(where))).first()
        return None if row is None else _stored(row)

    async def listing(self, *, open_only: bool = True, limit: int = 20) -> list[StoredIncident]:
        """Newest first."""
        query = select(incidents).order_by(_I.started_at.desc(), _I.number.desc()).limit(limit)
        if open_only:
            query = query.where(_I.status == "open")
        async with self._s._tx("incident_listing") as conn:
            return [_stored(r) for r in await conn.execute(query)]

    async def alerts(self, key: str) -> list[StoredAlert]:
        """The incident's alerts, earliest first."""
        query = select(incident_alerts).where(_A.incident_key == key).order_by(_A.starts_at, _A.fingerprint)
        async with self._s._tx("incident_alerts") as conn:
            return [_alert(r) for r in await conn.execute(query)]

    async def timeline(self, key: str) -> list[TimelineEvent]:
        query = (select(incident_events.c.at, incident_events.c.kind, incident_events.c.text)
                 .where(incident_events.c.incident_key == key).order_by(incident_events.c.at, incident_events.c.id))
        async with self._s._tx("incident_timeline") as conn:
            return [TimelineEvent(r.at, r.kind, r.text) for r in await conn.execute(query)]

    async def to_publish(self, limit: int = 50) -> list[StoredIncident]:
        """Incidents with a channel whose Slack message is missing or behind, oldest first."""
        query = (select(incidents).where(_I.channel.is_not(None),
                                         or_(_I.message_ts.is_(None), _I.version > _I.posted_version))
                 .order_by(_I.number).limit(limit))
        async with self._s._tx("incidents_to_publish") as conn:
            return [_stored(r) for r in await conn.execute(query)]

    # -- Slack bookkeeping ---------------------------------------------------------------------------------------

    async def start_post(self, key: str, *, now: datetime) -> None:
        """Note that a first message is about to be posted (so a crash right after it can be recognised)."""
        await self._set("incident_start_post", key, post_started_at=now)

    async def set_message(self, key: str, *, ts: str) -> None:
        await self._set("incident_set_message", key, message_ts=ts)

    async def mark_posted(self, key: str, version: int) -> None:
        """Slack now shows `version` (a later change keeps the incident to publish)."""
        statement = (update(incidents).where(_I.key == key, _I.posted_version < version)
                     .values(posted_version=version))
        async with self._s._tx("incident_mark_posted", write=True) as conn:
            await conn.execute(statement)

    async def mark_announced(self, key: str, alerts: Sequence[tuple[str, str]]) -> None:
        """The thread has told each `(fingerprint, status)`."""
        if not alerts:
            return
        async with self._s._tx("incident_mark_announced", write=True) as conn:
            for fp, status in alerts:
                await conn.execute(update(incident_alerts).where(and_(_A.incident_key == key, _A.fingerprint == fp))
                                   .values(announced=status))

    async def set_investigation(self, key: str, *, root: str, doc: dict[str, Any], now: datetime) -> None:
        """Record the root-service investigation and bump the version so the message shows its line."""
        statement = (update(incidents).where(_I.key == key)
                     .values(investigated_root=root, investigation=to_jsonable_python(doc), updated_at=now,
                             version=_I.version + 1))
        async with self._s._tx("incident_set_investigation", write=True) as conn:
            await conn.execute(statement)

    async def add_event(self, key: str, kind: str, text: str, *, now: datetime) -> None:
        async with self._s._tx("incident_add_event", write=True) as conn:
            await conn.execute(insert(incident_events).values(incident_key=key, at=now, kind=kind, text=text))

    async def _set(self, operation: str, key: str, **values: Any) -> None:
        async with self._s._tx(operation, write=True) as conn:
            await conn.execute(update(incidents).where(_I.key == key).values(**values))
