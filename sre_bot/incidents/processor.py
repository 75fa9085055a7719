"""The incident processor: alert inbox → correlator → stored incidents, by one replica at a time.

Each `step()`:
  1. takes (or renews) the `incidents` lease; a replica without it does nothing and forgets its in-memory state;
  2. on a new lease epoch (first step, a restart, or another replica held it meanwhile) rebuilds the correlator
     from the store: open incidents and those resolved within `max_incident_age` + `window`, with their alerts;
  3. reads up to `BATCH` unprocessed inbox bodies holding up to `BATCH_ALERTS` alerts, oldest first, and feeds
     their alerts to the correlator in the order they happened (start, or end for a resolved one). Each alert
     carries the time its body was received (the inbox row's), so a time far from it (3 h ahead, 9999-12-31,
     before 1970) is set aside and the receive time used (`analysis/alert_times.py`); the timeline says
     so once per alert;
  4. writes the touched incidents, their changed alerts, timeline lines and the inbox marks in one transaction,
     fenced by the lease (`IncidentStore.apply`). If that fails the in-memory correlator is dropped and rebuilt
     from the store on the next step, so memory never runs ahead of the database.

A body that no longer parses (it was checked when it arrived) is logged and marked processed, never retried
forever. Deploy times for rule 4 come from Argo CD, refreshed at most once a minute, best effort.

The topology alerts are grouped by (`incidents/topology.discover`: the configured depends_on, call-graph edges from
Prometheus, Argo CD application groups, ties learned from resolved incidents) is discovered by the replica holding
the lease: the first time before its first batch (waiting at most `FIRST_DISCOVERY_WAIT`), then every
SRE_BOT_TOPOLOGY_REFRESH seconds in the background, the batches going on with the topology they have. A new
topology reaches the correlator at once (`Correlator.set_topology`); incidents already open keep their alerts.
SRE_BOT_TOPOLOGY_REFRESH=0 turns discovery off: only the configured depends_on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ..alert_payloads import parse_webhook
from ..analysis.correlation import AlertEvent, Assignment, Correlator, Merge
from ..analysis.topology import Topology
from ..deps import Deps
from ..errors import BackendError, UsageError
from ..logging import get_logger
from ..store.incidents import IncidentChange, Lease, lease_holder
from ..tools.deploys import deploy_times
from .topology import discover, source_text

__all__ = ["IncidentProcessor", "StepResult", "LEASE", "LEASE_TTL", "BATCH"]

log = get_logger(__name__)

LEASE = "incidents"
LEASE_TTL = timedelta(seconds=60)
BATCH = 200
# alerts in one batch at most: correlating one runs on the event loop (~0.1 ms an alert), and its write holds SQLite's
# write lock, so a storm is taken in short steps and webhook bodies and Slack requests get their turn in between
BATCH_ALERTS = 250
DEPLOYS_EVERY = timedelta(minutes=1)
FIRST_DISCOVERY_WAIT = 15.0  # seconds the first batch waits for the first topology (then it goes on without)


@dataclass
class StepResult:
    held: bool  # this replica holds the lease
    bodies: int = 0
    alerts: int = 0
    touched: list[int] = field(default_factory=list)  # incident numbers written


@dataclass
class _Touch:
    alerts: dict[str, tuple[AlertEvent, Merge | None]] = field(default_factory=dict)
    events: list[tuple[str, str, datetime]] = field(default_factory=list)  # kind, text, when it happened


class IncidentProcessor:
    """Owns one in-memory correlator; `step()` is safe to call from several replicas (the lease decides)."""

    def __init__(self, deps: Deps, *, holder: str | None = None) -> None:
        if deps.store is None:
            raise ValueError("the incident processor needs the store")
        self._deps = deps
        self.holder = holder or lease_holder()
        self._corr: Correlator | None = None
        self._epoch: int | None = None
        self._deploys_at: datetime | None = None
        self._deploys: dict[str, list[datetime]] = {}
        self.topology = Topology.build(config=deps.config.dependencies())
        self._topology_at: datetime | None = None
        self._discovering: asyncio.Task[Topology] | None = None

    @property
    def lease(self) -> Lease | None:
        return None if self._epoch is None else Lease(LEASE, self.holder, self._epoch)

    async def step(self) -> StepResult:
        deps, store = self._deps, self._deps.store
        assert store is not None
        now = deps.clock()
        epoch = await store.leases.acquire(LEASE, self.holder, ttl=LEASE_TTL, now=now)
        if epoch is None:
            self._corr, self._epoch = None, None
            return StepResult(held=False)
        await self._refresh_topology(now)
        if self._corr is None or epoch != self._epoch:
            self._corr = await self._restore(now)
            self._epoch = epoch
        await self._refresh_deploys(now)
        rows = await store.inbox_pending(limit=BATCH, max_alerts=BATCH_ALERTS)
        if not rows:
            return StepResult(held=True)
        try:
            changes, alerts = self._correlate(rows)
            numbers = await store.incidents.apply(changes, inbox_ids=[r[0] for r in rows],
                                                  lease=Lease(LEASE, self.holder, epoch), now=deps.clock(),
                                                  ttl=LEASE_TTL)
        except BaseException:
            self._corr = None  # it may hold what the store does not: rebuild from the store next step
            raise
        log.info("alerts correlated", bodies=len(rows), alerts=alerts, incidents=numbers)
        return StepResult(held=True, bodies=len(rows), alerts=alerts, touched=numbers)

    async def release(self) -> None:
        """Let another replica take over at once (on shutdown)."""
        if self._discovering is not None:
            self._discovering.cancel()
            self._discovering = None
        if self._epoch is not None and self._deps.store is not None:
            await self._deps.store.leases.release(Lease(LEASE, self.holder, self._epoch), now=self._deps.clock())
        self._corr, self._epoch = None, None

    # -- internals ---------------------------------------------------------------------------------------------

    def _new_correlator(self) -> Correlator:
        cfg = self._deps.config
        aliases = {a: s.name for s in cfg.services for a in s.aliases}
        return Correlator(cfg.correlation, deploys=self._deploys, aliases=aliases, topology=self.topology)

    async def _refresh_topology(self, now: datetime) -> None:
        every = self._deps.settings.topology_refresh_s
        if every <= 0:
            return
        task = self._discovering
        if task is not None:
            if not task.done():
                return
            self._discovering = None
            if not task.cancelled() and task.exception() is None:
                self._use(task.result())
        if self._topology_at is not None and now - self._topology_at < timedelta(seconds=every):
            return
        first = self._topology_at is None
        self._topology_at = now
        task = asyncio.create_task(discover(self._deps, now=now, previous=self.topology))
        if not first:
            self._discovering = task
            return
        try:  # the first storm after a start already has the graph, unless the backends are slow to answer
            self._use(await asyncio.wait_for(asyncio.shield(task), FIRST_DISCOVERY_WAIT))
        except TimeoutError:
            log.warning("topology discovery is slow; alerts are grouped by the configured depends_on meanwhile",
                        waited_s=FIRST_DISCOVERY_WAIT)
            self._discovering = task

    def _use(self, topology: Topology) -> None:
        if topology == self.topology:
            return
        self.topology = topology
        if self._corr is not None:
            self._corr.set_topology(topology)

    async def _restore(self, now: datetime) -> Correlator:
        assert self._deps.store is not None
        rules = self._deps.config.correlation
        items = await self._deps.store.incidents.for_restore(
            resolved_since=now - rules.max_age_delta - rules.window_delta)
        corr = self._new_correlator()
        corr.restore(items, now=now)  # a stored time far ahead of `now` cannot become the watermark
        log.info("incident correlator restored", incidents=len(items), alerts=sum(len(a) for _, a in items))
        return corr

    async def _refresh_deploys(self, now: datetime) -> None:
        argocd = self._deps.argocd
        if argocd is None or (self._deploys_at is not None and now - self._deploys_at < DEPLOYS_EVERY):
            return
        self._deploys_at = now
        try:
            self._deploys = await deploy_times(self._deps)
        except BackendError as e:
            log.warning("deploy times not refreshed; rule 4 uses the last ones", error=str(e))
            return
        if self._corr is not None:
            self._corr.set_deploys(self._deploys)

    def _correlate(self, rows: Sequence[tuple[int, datetime, Any]]) -> tuple[list[IncidentChange], int]:
        corr = self._corr
        assert corr is not None
        touched: dict[str, _Touch] = {}
        batch: list[AlertEvent] = []
        for inbox_id, received_at, body in rows:
            try:
                message = parse_webhook(body, where=f"inbox {inbox_id}", received_at=received_at)
            except UsageError as e:
                log.error("stored notification no longer parses; skipped", inbox_id=inbox_id, error=str(e))
                continue
            batch.extend(message.alerts)
        # in the order things happened, not the order notifications arrived (groups are sent independently):
        # a chain's middle then comes before its far end, so the chain is not split in two
        # (a time set aside sorts where it is used: when its notification was received)
        batch.sort(key=lambda a: corr.checked(a).event_at)
        for alert in batch:
            self._one(corr, alert, touched)
        count = len(batch)
        changes = []
        routes = self._deps.config.incidents
        for key, t in touched.items():
            services = {fp: corr.service_of(ev) for fp, (ev, _) in t.alerts.items()}
            first = corr.alerts_of(key)[0]
            changes.append(IncidentChange(incident=corr.incident(key), alerts=list(t.alerts.values()),
                                          events=t.events, services=services,
                                          channel=routes.channel_for(first.labels)))
        return changes, count

    def _one(self, corr: Correlator, alert: AlertEvent, touched: dict[str, _Touch]) -> None:
        before = corr.latest(alert.fingerprint)
        alert = corr.checked(alert)  # what is correlated and stored: a time far from the clock replaced
        owner = corr.owner(alert.fingerprint)
        was_resolved = corr.is_resolved(owner) if owner is not None else None
        a: Assignment = corr.add(alert)
        key = a.incident_key
        what = f"{alert.name}" + (f" on {svc}" if (svc := corr.service_of(alert)) else "")
        t = touched.setdefault(key, _Touch())
        at = alert.event_at
        skew = [("clock", f"{what}: {alert.skew_note}", at)] if alert.skewed and (
            before is None or before.skewed != alert.skewed) else []  # said once, after how it joined
        if a.repeat:
            if (before is not None and before.status == alert.status and before.ends_at == alert.ends_at
                    and not skew):
                return  # Alertmanager repeats a group's alerts in every notification: nothing new
            if before is None or before.status != alert.status:
                t.events.append(("resolved" if alert.status == "resolved" else "refired",
                                 f"{what} {'resolved' if alert.status == 'resolved' else 'fired again'}", at))
            prev = t.alerts.get(alert.fingerprint)  # joined earlier in this batch: keep how it joined
            t.alerts[alert.fingerprint] = (corr.latest(alert.fingerprint) or alert, prev[1] if prev else None)
        elif a.new:
            note = " (a recurrence: the incident it follows had resolved)" if a.follows else ""
            t.events.append(("opened", f"opened by {what}{note}", at))
            t.alerts[alert.fingerprint] = (alert, None)
        else:
            merge = a.merge
            assert merge is not None
            # a graph link says whether it was configured or discovered (the other rules are their own source)
            via = f" (source: {source_text(merge.source)})" if merge.source not in (None, merge.rule) else ""
            t.events.append(("joined", f"{what} joined [{merge.rule}]: {merge.reason}{via}", at))
            t.alerts[alert.fingerprint] = (alert, merge)
            for r in a.related:
                t.events.append(("related", f"possibly related to {r.incident} [{r.rule}]: {r.reason}", at))
                other = touched.setdefault(r.incident, _Touch())
                other.events.append(("related", f"possibly related to {key} [{r.rule}]: {r.reason}", at))
        t.events.extend(skew)
        if a.resolved and ((was_resolved is False and owner == key) or a.new):
            t.events.append(("resolved_all", "every alert has resolved: incident resolved", at))
