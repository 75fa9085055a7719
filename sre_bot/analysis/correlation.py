"""Alert correlation: alerts in, incidents out. Pure: no I/O and no clock — every time arrives with an alert.

An alert joins an existing incident only when one of six rules links it to an alert already there; otherwise it
opens a new incident. The topology the rules read (`topology.Topology`) holds edges caller → callee, each with its
source (configured `depends_on`, or discovered from call-graph metrics), Argo CD applications (groups) and learned
ties; without one, the `graph` argument (the config's `depends_on`) is the topology. The rules, strongest first
(the order is fixed and also decides between incidents):

  1. group   same Alertmanager `groupKey` (`use_groups`) as an alert of the incident on the same service (or
             either names no service), and the incident has an alert that started within `window`: Alertmanager's
             route already grouped them (by its `group_by`). A group never joins two different services by
             itself — `group_by: [alertname]` puts checkout's and search's HighLatency in one group, but that is
             no evidence of one cause, and a second problem must stay visible.
  2. graph   its service is the same as, or within `graph_hops` hops (either direction) of, a service in the
             incident whose alert started within `window` of it. Same service = 0 hops. A hop is a topology edge,
             or two services of one Argo CD application smaller than `hub_degree` (a larger one, often the whole
             product, is no evidence). The merge's `source` is the weakest hop's: "discovered" when any hop was.
  3. label   it shares the value of one of `shared_labels` (default `node`) with an alert in the
             incident that started within `window` of it.
  4. learned its service and a service in the incident alerted together in past incidents — a tie of strength
             (together / seen) ≥ `learned_min` over ≥ `learned_min_incidents` incidents — and that alert started
             within `window` of it ("checkout and payments-api alerted together in 7 of the last 9 incidents").
             History only ever links alerts this close in time.
  5. deploy  a service was deployed at most `deploy_window` before it, and that service is its own service or a
             graph neighbour (within `graph_hops`); the incident has an alert that started after that deploy
             (within `deploy_window`) on the deployed service or, when the alert is on the deployed service, on one
             of its neighbours. The deploy explains both alerts, so they may be further apart than `window`.
  6. time    the safe default with no topology: an alert within `time_window` (2 min) of an alert of the
             incident with the same value of every one of `time_labels` (default alertname and namespace, each
             present on both) — Alertmanager's `group_by: [alertname]` for near-simultaneous alerts, without
             gluing the same alertname an hour apart. (The same service is already rule 2.) Only for an alert with
             no other link to an open incident, not even one a hub carried (below): it never joins two alerts that
             stronger rules tie to different incidents. Nor two services the config names (`Topology.declared`,
             `search: {}` too) and does not link: a person's word that they are apart. A discovered graph's
             missing edge is no such word (call-graph metrics miss what travels by queue or starves a callee).

Hubs. A frontend that every problem alerts on is one hop from everything, so its edges would glue unrelated
incidents. A hub is a service with many topology neighbours (≥ `hub_degree`, or in the top 10% by degree with at
least 4) or one that an alert of it matched two open incidents (it is a hub while the other stays open). A hub's
own alert may join an incident like any other, but its edges (and learned ties) link another service's alert into
the hub's incident only when that alert fired within `time_window` of the hub's alert there; the walk of
`graph_hops` does not go on through a hub. A link a hub did not make becomes a `Related` note on both incidents (a
possible merge for a person), and an alert a non-hub service of the incident links still joins. (Refusing every
hub link, whatever the time, split single problems: on the ITBench storms with the OpenTelemetry demo's call graph,
checkout and frontend are hubs and carry most real propagation; pairwise F1 fell from 0.93 to 0.26.)

On top of every rule the incident must be open — a resolved incident (all its alerts resolved) never absorbs an
alert; a recurrence opens a new incident whose `follows` names the old one — and would span at most
`max_incident_age` with the new alert. When several open incidents qualify, the alert joins the one with the
strongest rule, then the fewest hops, then the closest in time. The others are not merged into it: both sides get
a `Related` note (a possible merge for a person to decide), so one alert can never silently fuse two incidents.

Every joining alert records a `Merge`: which rule, its `source` (for a graph merge "config" or "discovered", None
for the same service; else the rule: "group", "label", "learned", "deploy", "time") and a reason a person can check
("checkout calls payments-api (1 hop) — discovered from call-graph metrics; …"). An alert's service is the first of
`service_labels` it has; a pod name loses its ReplicaSet and pod hashes (`checkout-7d9f8b6c5-x2k4q` → `checkout`).

The root service of an incident (`root_service`): among the affected services that other affected services depend
on (directly or transitively), the one whose dependents alerted after it rather than before it — onset order along
the edges, alerts within a minute of each other counting as simultaneous (rules evaluate at intervals): an effect
follows its cause, so a callee that alerted first is the likelier root. Then the most dependents, then the
earliest onset. With no dependency among them, the first to alert. (On the ITBench storms this names the right
root more often than "most dependents first", most of all on a discovered call graph, where a fault that starves
its callees makes the deepest callee look depended on by everything.)

`Correlator.set_topology` swaps the topology (a live processor rediscovers it): later alerts use it, incidents
already open keep their alerts.

Worked example (graph frontend → checkout → payments-api → payments-db; search alone; window 10m, 1 hop):

    14:00:00  PostgresDown    payments-db   opens A
    14:00:40  HighLatency     payments-api  joins A, graph: "payments-api depends on payments-db (1 hop);
                                            HighLatency fired 40 s after PostgresDown on payments-db"
    14:01:30  HighErrorRate   checkout      joins A, graph (1 hop from payments-api)
    14:02:00  HighErrorRate   search        opens B: no edge, no shared node (and no namespace label, so the time
                                            rule does not apply): an unrelated problem stays visible
    14:04:00  NodeDiskFull    node=n7       opens C
    14:05:00  HighLatency     cart, node=n7 joins C, label: "shares node=n7 with NodeDiskFull; HighLatency fired
                                            60 s after NodeDiskFull"
    14:30:00  A's three alerts resolve      A is resolved
    14:50:00  PostgresDown    payments-db   (fires again) opens D, follows A

A's root service is payments-db: "2 of the other 2 affected services depend on it (checkout, payments-api)";
its title "PostgresDown on payments-db (+2 more alerts, 3 services)" (the most severe alert, earliest first).

Times far from the clock (`alert_times.py`): an alert claiming to start more than `max_clock_skew` after the bot
received it (3 h ahead, 9999-12-31), or before 1970, is correlated at the time it was received, and the incident
keeps a note of what it claimed (`Incident.skewed`). Without that, one such alert would move the watermark below
(or overflow it) and every later alert would open its own incident. Alerts without a receive time are taken as
they are; `correlate` on a capture gets stand-ins from `alert_times.replay_arrivals`.

Arrival order: `Correlator.add` takes one alert at a time, in any order (time distances are absolute), and
deduplicates by fingerprint (a repeat updates status/ends_at and never joins twice). Incidents are never merged
after the fact, so an order that brings two ends of a chain before its middle leaves two incidents, linked by a
`Related` note; `correlate` (a batch) sorts first. Open incidents are indexed by groupKey, service, shared label
value and `time_labels` values, and dropped from the indexes once they are older than `max_incident_age` + `window`
behind the latest alert seen, so each alert costs a few dictionary look-ups.

The types (AlertEvent, CorrelationRules, Incident, Merge, …) live in `incident_model.py` and are re-exported here.
"""

from __future__ import annotations

import bisect
import hashlib
import heapq
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from .alert_times import checked_times, minus, plus
from .graph import depends_on_closure
from .incident_model import (
    RULE_ORDER,
    RULE_RANK,
    SEVERITIES,
    SEVERITY_RANK,
    AlertEvent,
    Assignment,
    CorrelationRules,
    Incident,
    Merge,
    MergeRule,
    Related,
    as_utc,
    service_from_labels,
    severity_of,
)
from .topology import SOURCE_TEXT, Tie, Topology

__all__ = ["AlertEvent", "CorrelationRules", "Merge", "Related", "Assignment", "Incident", "Correlator",
           "correlate", "root_service", "service_from_labels", "severity_of", "MergeRule", "RULE_ORDER",
           "SEVERITIES", "Topology", "Tie"]

# --- root service -----------------------------------------------------------------------------------------------

def _closure_fn(graph: Mapping[str, Sequence[str]]) -> Callable[[str], frozenset[str]]:
    cache: dict[str, frozenset[str]] = {}

    def closure(start: str) -> frozenset[str]:
        if start not in cache:
            cache[start] = frozenset(depends_on_closure(graph, start) - {start})
        return cache[start]

    return closure


def _hhmmss(t: datetime) -> str:
    return f"{t:%H:%M:%S} UTC"


ONSET_SLACK = timedelta(minutes=1)  # alerts this close are simultaneous for the root (rules evaluate at intervals)


def _root(onsets: Mapping[str, datetime], closure: Callable[[str], frozenset[str]]) -> tuple[str | None, str]:
    if not onsets:
        return None, "no alert names a service"
    affected = set(onsets)
    dependents: dict[str, list[str]] = {s: [] for s in affected}
    for a in affected:
        for s in closure(a) & affected:
            dependents[s].append(a)
    # onset order along the edges: an effect follows its cause, so a service whose dependents alerted after it is
    # the likelier root, one whose dependents alerted before it less so (more than ONSET_SLACK apart to count)
    after = {s: sum(onsets[d] - onsets[s] > ONSET_SLACK for d in dependents[s]) for s in affected}
    before = {s: sum(onsets[s] - onsets[d] > ONSET_SLACK for d in dependents[s]) for s in affected}
    net = {s: after[s] - before[s] for s in affected}
    order = sorted(affected, key=lambda s: (not dependents[s], -net[s], -len(dependents[s]), onsets[s], s))
    best = order[0]
    n, others = len(dependents[best]), len(affected) - 1
    if others == 0:
        return best, "the only affected service"
    if n == 0:
        return best, (f"no affected service depends on another; {best} alerted first "
                      f"({_hhmmss(onsets[best])})")
    reason = (f"{n} of the other {others} affected services depend on it "
              f"({', '.join(sorted(dependents[best]))})")
    rivals = [s for s in order[1:] if dependents[s]]
    tied = [s for s in rivals if len(dependents[s]) == n and net[s] == net[best]]
    if tied:
        reason += f"; tied with {', '.join(tied)}, it alerted first ({_hhmmss(onsets[best])})"
    beaten = [s for s in rivals if len(dependents[s]) >= n and net[s] < net[best]]  # lost on onset order
    if beaten:
        counts = f"{after[best]} of them alerted after it" + (f", {before[best]} before" if before[best] else "")
        reason += (f"; {counts}, while " + ", ".join(
            f"{s} ({len(dependents[s])} dependents) alerted after {before[s]} of its own" for s in beaten))
    return best, reason


def root_service(onsets: Mapping[str, datetime], graph: Mapping[str, Sequence[str]]) -> tuple[str | None, str]:
    """The likely root among affected services (service -> first alert start) and why.

    Among the services other affected services depend on (transitively, `graph` is service -> depends_on), the one
    whose dependents alerted after it rather than before it (onset order along the edges: dependents more than
    ONSET_SLACK after it, minus those more than ONSET_SLACK before it); then the most dependents, the earliest
    onset, the name. When no affected service depends on another, the first to alert."""
    return _root(onsets, _closure_fn(graph))


# --- the correlator ---------------------------------------------------------------------------------------------

@dataclass(slots=True)
class _Span:
    """The earliest and latest start times of some alerts (with their fingerprints)."""

    first: datetime
    first_fp: str
    last: datetime
    last_fp: str

    def add(self, t: datetime, fp: str) -> None:
        if t < self.first:
            self.first, self.first_fp = t, fp
        if t >= self.last:
            self.last, self.last_fp = t, fp

    def nearest(self, t: datetime) -> tuple[timedelta, str]:
        if t <= self.first:
            return self.first - t, self.first_fp
        if t >= self.last:
            return t - self.last, self.last_fp
        return timedelta(0), (self.first_fp if t - self.first <= self.last - t else self.last_fp)


@dataclass(slots=True)
class _Inc:
    key: str
    seq: int
    span: _Span
    follows: str | None = None
    events: dict[str, AlertEvent] = field(default_factory=dict)  # arrival order
    onsets: dict[str, datetime] = field(default_factory=dict)
    merges: list[Merge] = field(default_factory=list)
    related: list[Related] = field(default_factory=list)
    related_keys: set[str] = field(default_factory=set)
    index_keys: set[tuple[str, ...]] = field(default_factory=set)
    skewed: dict[str, str] = field(default_factory=dict)  # fingerprint -> what was set aside, for people
    firing: int = 0
    resolved_at: datetime | None = None
    pruned: bool = False

    @property
    def resolved(self) -> bool:
        return self.firing == 0


@dataclass(slots=True)
class _Cand:
    key: str
    rule: MergeRule
    hops: int
    dt: timedelta
    linked: str
    via: tuple  # rule details for the reason: (service,) / (label, value) / (partner, tie) / (deployed, at, other
    # service) / (label values,)
    hub: str | None = None  # set when a hub carried the link: why it is a hub (the link is then not made)


def _incident_key(fp: str, t: datetime) -> str:
    return "inc-" + hashlib.sha256(f"{fp}|{t.isoformat()}".encode()).hexdigest()[:10]


def _dur(d: timedelta) -> str:
    s = round(abs(d.total_seconds()))
    if s < 90:
        return f"{s} s"
    if s < 90 * 60:
        return f"{round(s / 60)} min"
    h, m = divmod(round(s / 60), 60)
    return f"{h} h {m} min" if m else f"{h} h"


class Correlator:
    """Incremental, pure alert correlation (rules in the module docstring). Not thread-safe: one owner at a time.

    `topology` is the services' edges (each with its source), Argo CD groups and learned ties; without one, `graph`
    (service -> the services it depends on, the config's `depends_on`) is used as a configured topology.
    `deploys` is service -> deploy times; `aliases` maps other names of a service to its name."""

    def __init__(self, rules: CorrelationRules | None = None, graph: Mapping[str, Sequence[str]] | None = None,
                 deploys: Mapping[str, Sequence[datetime]] | None = None, *,
                 aliases: Mapping[str, str] | None = None, topology: Topology | None = None) -> None:
        self.rules = rules or CorrelationRules()
        self._window = self.rules.window_delta
        self._max_age = self.rules.max_age_delta
        self._deploy_window = self.rules.deploy_delta
        self._skew = self.rules.skew_delta
        self._time_window = self.rules.time_delta
        self._deploys = {s: sorted(as_utc(t) for t in ts) for s, ts in (deploys or {}).items() if ts}
        self._aliases = dict(aliases or {})
        self._use_topology(topology if topology is not None else Topology.build(config=graph))
        self._inc: dict[str, _Inc] = {}
        self._contested: dict[str, set[str]] = {}  # service -> the open incidents one alert of it matched (2+)
        self._where: dict[str, str] = {}  # fingerprint -> the incident that owns it now
        self._idx: dict[tuple[str, ...], dict[str, _Span]] = {}
        self._heap: list[tuple[datetime, int, str]] = []
        self._seq = 0
        self._watermark: datetime | None = None

    # -- public ---------------------------------------------------------------------------------------------

    def service_of(self, alert: AlertEvent) -> str | None:
        return service_from_labels(alert.labels, self.rules.service_labels, self._aliases)

    def checked(self, alert: AlertEvent) -> AlertEvent:
        """The alert as `add` correlates it: a time far from its receipt set aside (`alert_times.checked_times`),
        the same way as for its earlier events."""
        return checked_times(alert, tolerance=self._skew, previous=self.latest(alert.fingerprint))

    def add(self, alert: AlertEvent) -> Assignment:
        """Correlate one alert (or a new status of a known one) and say where it went (`latest` gives it back
        as correlated: times far from the clock replaced)."""
        alert = self.checked(alert)
        fp, t = alert.fingerprint, alert.starts_at
        self._advance(t)
        follows = None
        key = self._where.get(fp)
        if key is not None:
            inc = self._inc[key]
            old = inc.events[fp]
            if not (alert.status == "firing" and inc.resolved):
                return self._update(inc, old, alert)
            if alert.starts_at <= old.starts_at:  # a late copy of what already resolved: stale, ignored
                return Assignment(incident_key=key, new=False, repeat=True, resolved=True)
            follows = key  # it fired again after its incident resolved: a recurrence
        svc = self.service_of(alert)
        cands = self._candidates(alert, svc, t)
        open_ = sorted((c for c in cands if not self._inc[c.key].resolved), key=self._strength)
        links = [c for c in open_ if c.hub is None]
        near = {c.key for c in open_ if c.rule in ("graph", "learned")}
        if svc and len(near) > 1:  # this service touches two open incidents: a hub while both are open
            self._contested.setdefault(svc, set()).update(near)
        if not links:
            closed = sorted((c for c in cands if self._inc[c.key].resolved and c.hub is None and c.rule != "time"),
                            key=self._strength)
            follows = follows or (closed[0].key if closed else None)
            inc = self._open(alert, follows)
            self._attach(inc, alert, svc)
            self._relate_all(inc, alert, svc, open_, opened=True)
            return Assignment(incident_key=inc.key, new=True, resolved=inc.resolved, follows=follows,
                              related=list(inc.related))
        best = links[0]
        inc = self._inc[best.key]
        merge = Merge(alert=fp, rule=best.rule, reason=self._reason(alert, svc, best), linked_alert=best.linked,
                      source=self._source(svc, best))
        inc.merges.append(merge)
        noted = len(inc.related)
        self._relate_all(inc, alert, svc, open_)
        self._attach(inc, alert, svc)
        return Assignment(incident_key=inc.key, new=False, merge=merge, resolved=inc.resolved,
                          related=inc.related[noted:])

    def owner(self, fingerprint: str) -> str | None:
        """The incident that owns this alert now (the latest occurrence), or None."""
        return self._where.get(fingerprint)

    def latest(self, fingerprint: str) -> AlertEvent | None:
        """The latest event seen for this alert, or None."""
        key = self._where.get(fingerprint)
        return None if key is None else self._inc[key].events.get(fingerprint)

    def is_resolved(self, key: str) -> bool:
        return self._inc[key].resolved

    def set_deploys(self, deploys: Mapping[str, Sequence[datetime]]) -> None:
        """Replace the deploy times the deploy rule uses (a live processor refreshes them from Argo CD)."""
        self._deploys = {s: sorted(as_utc(t) for t in ts) for s, ts in deploys.items() if ts}

    @property
    def topology(self) -> Topology:
        return self._topo

    def set_topology(self, topology: Topology) -> None:
        """Replace the topology (a live processor rediscovers it): later alerts use it; incidents already open
        keep their alerts and merges."""
        self._use_topology(topology)

    def add_many(self, alerts: Iterable[AlertEvent]) -> list[Assignment]:
        return [self.add(a) for a in alerts]

    def incident(self, key: str) -> Incident:
        inc = self._inc[key]
        events = list(inc.events.values())
        head = min(events, key=lambda e: (SEVERITY_RANK[e.severity], e.starts_at, e.fingerprint))
        head_svc = self.service_of(head)
        services = sorted(inc.onsets, key=lambda s: (inc.onsets[s], s))
        root, why = _root(inc.onsets, self._closure)
        more = len(events) - 1
        extra = ([f"+{more} more alert{'s' if more != 1 else ''}"] if more else []) + (
            [f"{len(services)} services"] if len(services) > 1 else [])
        title = head.name + (f" on {head_svc}" if head_svc else "") + (f" ({', '.join(extra)})" if extra else "")
        return Incident(
            key=inc.key, alerts=list(inc.events), services=services, severity=head.severity,
            started_at=inc.span.first, last_alert_at=inc.span.last, title=title, root_service=root,
            root_reason=why, merges=list(inc.merges), related=list(inc.related), follows=inc.follows,
            resolved=inc.resolved, resolved_at=inc.resolved_at, firing=inc.firing,
            alert_names=dict(Counter(e.name for e in events)), skewed=list(inc.skewed.values()))

    def incidents(self, *, open_only: bool = False) -> list[Incident]:
        """Every incident in the order they opened (restored ones first, by start)."""
        incs = sorted(self._inc.values(), key=lambda i: i.seq)
        return [self.incident(i.key) for i in incs if not (open_only and i.resolved)]

    def alerts_of(self, key: str) -> list[AlertEvent]:
        """The latest event of each alert of an incident, in arrival order (what `restore` needs back)."""
        return list(self._inc[key].events.values())

    def restore(self, items: Iterable[tuple[Incident, Sequence[AlertEvent]]], *, now: datetime | None = None) -> None:
        """Continue from stored incidents and their alerts (after a restart): keys, merges, notes are kept.

        `now` (the processor's clock) guards the watermark: stored times are checked again as `add` checks them
        (rows written before times were checked may hold a year-9999 start; one without a receive time is
        checked against `now`), and no restored time moves the watermark past `now` + `max_clock_skew`."""
        ceiling = plus(now, self._skew) if now is not None else None
        for incident, events in sorted(items, key=lambda it: it[0].started_at):
            by_fp = {e.fingerprint: checked_times(e, tolerance=self._skew, received_at=now) for e in events}
            missing = [fp for fp in incident.alerts if fp not in by_fp]
            if missing:
                raise ValueError(f"incident {incident.key}: alerts missing to restore it: {', '.join(missing)}")
            if incident.key in self._inc:
                raise ValueError(f"incident {incident.key} is already known")
            if not incident.alerts:
                raise ValueError(f"incident {incident.key} has no alerts")
            first = by_fp[incident.alerts[0]]
            inc = self._open(first, incident.follows, key=incident.key)
            inc.merges.extend(incident.merges)
            inc.related.extend(incident.related)
            inc.related_keys.update(r.incident for r in incident.related)
            for fp in incident.alerts:
                ev = by_fp[fp]
                other = self._where.get(fp)
                self._attach(inc, ev, self.service_of(ev))
                if other is not None and self._inc[other].events[fp].starts_at > ev.starts_at:
                    self._where[fp] = other  # the later occurrence owns a fingerprint that recurred
                self._advance(min(ev.starts_at, ceiling) if ceiling is not None else ev.starts_at)

    # -- internals ------------------------------------------------------------------------------------------

    def _strength(self, c: _Cand) -> tuple:
        return RULE_RANK[c.rule], c.hops, c.dt, self._inc[c.key].seq

    def _advance(self, t: datetime) -> None:
        if self._watermark is None or t > self._watermark:
            self._watermark = t
        cutoff = minus(self._watermark, self._max_age + self._window)
        while self._heap and self._heap[0][0] < cutoff:
            _, _, key = heapq.heappop(self._heap)
            inc = self._inc[key]
            for ik in inc.index_keys:
                d = self._idx.get(ik)
                if d is not None:
                    d.pop(key, None)
                    if not d:
                        del self._idx[ik]
            inc.index_keys.clear()
            inc.pruned = True

    def _open(self, alert: AlertEvent, follows: str | None, key: str | None = None) -> _Inc:
        key = key or _incident_key(alert.fingerprint, alert.starts_at)
        base, n = key, 2
        while key in self._inc:
            key, n = f"{base}-{n}", n + 1
        self._seq += 1
        inc = _Inc(key=key, seq=self._seq, follows=follows,
                   span=_Span(alert.starts_at, alert.fingerprint, alert.starts_at, alert.fingerprint))
        self._inc[key] = inc
        heapq.heappush(self._heap, (alert.starts_at, inc.seq, key))
        return inc

    def _index_keys(self, alert: AlertEvent, svc: str | None) -> list[tuple[str, ...]]:
        keys: list[tuple[str, ...]] = []
        if self.rules.use_groups and alert.group_key:
            keys += [("g", alert.group_key), ("gs", alert.group_key, svc or "")]
        if svc:
            keys.append(("s", svc))
        for name in self.rules.shared_labels:
            v = alert.labels.get(name)
            if v:
                keys.append(("l", name, v))
        tk = self._time_key(alert)
        if tk is not None:
            keys.append(tk)
        return keys

    def _note_skew(self, inc: _Inc, alert: AlertEvent, svc: str | None) -> None:
        if alert.skewed and alert.fingerprint not in inc.skewed:
            inc.skewed[alert.fingerprint] = f"{alert.name}{f' on {svc}' if svc else ''}: {alert.skew_note}"

    def _attach(self, inc: _Inc, alert: AlertEvent, svc: str | None) -> None:
        fp, t = alert.fingerprint, alert.starts_at
        inc.events[fp] = alert
        self._note_skew(inc, alert, svc)
        self._where[fp] = inc.key
        inc.span.add(t, fp)
        if svc and (svc not in inc.onsets or t < inc.onsets[svc]):
            inc.onsets[svc] = t
        if alert.status == "firing":
            inc.firing += 1
            inc.resolved_at = None
        else:
            self._note_end(inc, alert)
        if inc.pruned:
            return
        for ik in self._index_keys(alert, svc):
            spans = self._idx.setdefault(ik, {})
            span = spans.get(inc.key)
            if span is None:
                spans[inc.key] = _Span(t, fp, t, fp)
                inc.index_keys.add(ik)
            else:
                span.add(t, fp)

    def _note_end(self, inc: _Inc, alert: AlertEvent) -> None:
        if inc.firing == 0:
            end = alert.ends_at or alert.starts_at
            inc.resolved_at = max(inc.resolved_at, end) if inc.resolved_at else end

    def _update(self, inc: _Inc, old: AlertEvent, alert: AlertEvent) -> Assignment:
        inc.events[alert.fingerprint] = alert
        self._note_skew(inc, alert, self.service_of(alert))
        if old.status != alert.status:
            inc.firing += 1 if alert.status == "firing" else -1
        inc.resolved_at = (max((e.ends_at or e.starts_at) for e in inc.events.values()) if inc.resolved
                           else None)
        if alert.starts_at != old.starts_at:  # re-fired while its incident stayed open: extend the spans
            svc = self.service_of(alert)
            inc.span.add(alert.starts_at, alert.fingerprint)
            if not inc.pruned:
                for ik in self._index_keys(alert, svc):
                    if inc.key in self._idx.get(ik, {}):
                        self._idx[ik][inc.key].add(alert.starts_at, alert.fingerprint)
        return Assignment(incident_key=inc.key, new=False, repeat=True, resolved=inc.resolved)

    def _use_topology(self, topo: Topology) -> None:
        """Derive what the rules read from `topo` and drop every cache built on the previous one."""
        self._topo = topo
        self._graph = topo.depends_on()
        self._adj: dict[str, set[str]] = {}
        for a, b in topo.edges:
            self._adj.setdefault(a, set()).add(b)
            self._adj.setdefault(b, set()).add(a)
        members: dict[str, list[str]] = {}
        for svc, g in topo.groups.items():
            members.setdefault(g, []).append(svc)
        self._app: dict[tuple[str, str], str] = {}  # pair -> the (small) Argo CD application linking them
        for g, svcs in members.items():
            if len(svcs) < self.rules.hub_degree:  # an application as large as a hub's neighbourhood links nothing
                for a in svcs:
                    for b in svcs:
                        if a != b:
                            self._app[(a, b)] = g
                            self._adj.setdefault(a, set()).add(b)
        degree = {s: len(n) for s, n in self._adj.items()}
        top = sorted(degree.values(), reverse=True)[max(1, len(degree) // 10) - 1] if degree else 0
        self._hubs = {s: d for s, d in degree.items() if d >= self.rules.hub_degree or d >= max(4, top)}
        self._ties: dict[str, list[tuple[str, Tie]]] = {}
        for (a, b), tie in sorted(topo.ties.items()):
            if tie.strength >= self.rules.learned_min and tie.together >= self.rules.learned_min_incidents:
                self._ties.setdefault(a, []).append((b, tie))
                self._ties.setdefault(b, []).append((a, tie))
        self._closure = _closure_fn(self._graph)
        self._balls: dict[str, dict[str, int]] = {}
        self._link_balls: dict[str, dict[str, int]] = {}

    def _ball(self, svc: str, *, links: bool = False) -> dict[str, int]:
        """Services within `graph_hops` of `svc` in either direction, with their distance (svc itself: 0).
        With `links`, the walk does not go on through a hub (it reaches the hub, not what lies behind it)."""
        cache = self._link_balls if links else self._balls
        ball = cache.get(svc)
        if ball is None:
            ball, frontier = {svc: 0}, [svc]
            for hop in range(1, self.rules.graph_hops + 1):
                nxt = []
                for s in frontier:
                    if links and hop > 1 and s in self._hubs:
                        continue
                    for n in self._adj.get(s, ()):
                        if n not in ball:
                            ball[n] = hop
                            nxt.append(n)
                frontier = nxt
            cache[svc] = ball
        return ball

    def _hub(self, n: str, key: str, t: datetime) -> str | None:
        """Why `n` is a hub whose edges must not link another service's alert (at `t`) into incident `key`, or
        None: an alert of `n` matched another open incident too, or `n` has many neighbours and its alert in `key`
        is further than `time_window` from `t`."""
        if n in self._hubs:
            why = f"{n} has {self._hubs[n]} neighbours in the topology"
        else:
            why = next((f"an alert on {n} matched {other} too" for other in sorted(self._contested.get(n, ()))
                        if other != key and not self._inc[other].resolved), "")
        if not why:
            return None
        span = self._idx.get(("s", n), {}).get(key)
        if span is None or span.nearest(t)[0] > self._time_window:
            return f"{why}, and its alert is more than {_dur(self._time_window)} from this one"
        return None

    def _time_key(self, alert: AlertEvent) -> tuple[str, ...] | None:
        names = self.rules.time_labels
        values = [alert.labels.get(n) for n in names]
        return ("t", *[v for v in values if v]) if names and all(values) else None

    def _fits(self, inc: _Inc, t: datetime) -> bool:
        return max(inc.span.last, t) - min(inc.span.first, t) <= self._max_age

    def _candidates(self, alert: AlertEvent, svc: str | None, t: datetime) -> list[_Cand]:
        out: list[_Cand] = []
        win = self._window
        if self.rules.use_groups and alert.group_key:
            gk = alert.group_key
            # a group joins the same service (or alerts naming none), never two services by alertname alone
            lookups = [("gs", gk, svc), ("gs", gk, "")] if svc else [("g", gk)]
            for ik in lookups:
                for key, gspan in self._idx.get(ik, {}).items():
                    inc = self._inc[key]
                    dt, _ = inc.span.nearest(t)
                    if dt <= win and self._fits(inc, t):
                        out.append(_Cand(key, "group", 0, dt, gspan.nearest(t)[1], (gk,)))
        if svc:
            for n, hops in self._ball(svc, links=True).items():
                for key, span in self._idx.get(("s", n), {}).items():
                    dt, linked = span.nearest(t)
                    if dt <= win and self._fits(self._inc[key], t):
                        out.append(_Cand(key, "graph", hops, dt, linked, (n,),
                                         self._hub(n, key, t) if hops else None))
        for name in self.rules.shared_labels:
            v = alert.labels.get(name)
            if v:
                for key, span in self._idx.get(("l", name, v), {}).items():
                    dt, linked = span.nearest(t)
                    if dt <= win and self._fits(self._inc[key], t):
                        out.append(_Cand(key, "label", 0, dt, linked, (name, v)))
        for partner, tie in self._ties.get(svc or "", ()):
            for key, span in self._idx.get(("s", partner), {}).items():
                dt, linked = span.nearest(t)
                if dt <= win and self._fits(self._inc[key], t):
                    out.append(_Cand(key, "learned", 1, dt, linked, (partner, tie), self._hub(partner, key, t)))
        if svc and self._deploys:
            out.extend(self._deploy_candidates(svc, t))
        tk = self._time_key(alert)
        if tk is not None and not any(not self._inc[c.key].resolved for c in out):
            # only with no other link to an open incident (even one a hub carried): never across stronger rules
            for key, span in self._idx.get(tk, {}).items():
                dt, linked = span.nearest(t)
                declared = self._topo.declared  # the config names both and links neither: apart
                if (dt <= self._time_window and self._fits(self._inc[key], t)
                        and not (svc in declared and self.service_of(self._inc[key].events[linked]) in declared)):
                    out.append(_Cand(key, "time", 0, dt, linked, tuple(tk[1:])))
        return out

    def _deploy_before(self, svc: str, t: datetime) -> datetime | None:
        times = self._deploys.get(svc)
        if not times:
            return None
        i = bisect.bisect_right(times, t)
        return times[i - 1] if i and t - times[i - 1] <= self._deploy_window else None

    def _deploy_candidates(self, svc: str, t: datetime) -> list[_Cand]:
        out = []
        for deployed, d_hops in self._ball(svc).items():
            td = self._deploy_before(deployed, t)
            if td is None:
                continue
            targets = self._ball(deployed).items() if deployed == svc else [(deployed, d_hops)]
            for n, hops in targets:
                for key, span in self._idx.get(("s", n), {}).items():
                    if span.last < td or span.first > plus(td, self._deploy_window):
                        continue
                    if self._fits(self._inc[key], t):  # link the latest alert on n: it started after the deploy
                        out.append(_Cand(key, "deploy", hops, span.nearest(t)[0], span.last_fp, (deployed, td, n)))
        return out

    def _relate_all(self, inc: _Inc, alert: AlertEvent, svc: str | None, cands: Sequence[_Cand], *,
                    opened: bool = False) -> None:
        """Possible merges not made: every other open incident the alert matched (or a hub linked it to)."""
        for c in cands:
            if c.key != inc.key and c.key not in inc.related_keys:
                self._relate(inc, self._inc[c.key], alert, svc, c, opened=opened)

    def _relate(self, inc: _Inc, other: _Inc, alert: AlertEvent, svc: str | None, c: _Cand, *,
                opened: bool = False) -> None:
        why = self._reason(alert, svc, c)
        if c.hub:
            why += f" — not linked: {c.hub}, a hub"
        went = "opened" if opened else "joined"
        inc.related_keys.add(other.key)
        other.related_keys.add(inc.key)
        inc.related.append(Related(incident=other.key, alert=alert.fingerprint, rule=c.rule,
                                   reason=f"{alert.name} {went} {inc.key} but also matched {other.key}: {why}"))
        other.related.append(Related(incident=inc.key, alert=alert.fingerprint, rule=c.rule,
                                     reason=f"{alert.name} matched this incident ({why}) but {went} {inc.key}"))

    def _path(self, a: str, b: str) -> list[str]:
        """A shortest path from `a` to `b`, not through a hub when there is one that avoids them."""
        for avoid in (self._hubs, {}):
            prev: dict[str, str | None] = {a: None}
            queue = deque([a])
            while queue:
                s = queue.popleft()
                if s == b:
                    break
                if s != a and s in avoid:
                    continue
                for n in sorted(self._adj.get(s, ())):
                    if n not in prev:
                        prev[n] = s
                        queue.append(n)
            if b in prev:
                break
        path: list[str] = []
        cur: str | None = b
        while cur is not None:
            path.append(cur)
            cur = prev.get(cur)
        return path[::-1]

    def _hop_source(self, x: str, y: str) -> str:
        """Where one hop came from: "config", "discovered" (call-graph metrics) or "app" (an Argo CD application)."""
        return self._topo.source(x, y) or "app"

    def _source(self, svc: str | None, c: _Cand) -> str | None:
        """A merge's source: for a graph link the weakest of its hops, else what the rule rests on."""
        if c.rule != "graph":
            return c.rule
        if c.hops == 0 or not svc:
            return None
        path = self._path(svc, c.via[0])
        srcs = {self._hop_source(x, y) for x, y in zip(path, path[1:], strict=False)}
        return "config" if srcs == {"config"} else "discovered"

    def _relation(self, a: str, b: str, hops: int) -> str:
        if hops == 0:
            return f"same service {a}"
        path = self._path(a, b)
        hop = f"{hops} hop{'s' if hops > 1 else ''}"
        pairs = list(zip(path, path[1:], strict=False))
        srcs = [self._hop_source(x, y) for x, y in pairs]
        if srcs == ["app"]:
            return (f"{a} and {b} belong to Argo CD application {self._app[(a, b)]} ({hop}) — discovered from "
                    f"Argo CD")
        verb = "calls" if all(s == "discovered" for s in srcs) else "depends on"
        said = ("" if all(s == "config" for s in srcs) else
                f" — {SOURCE_TEXT['discovered']}" if verb == "calls" else " — partly discovered")
        mid = f" through {', '.join(path[1:-1])}" if len(path) > 2 else ""
        if all(y in self._graph.get(x, ()) for x, y in pairs):
            return f"{a} {verb} {b}{mid} ({hop}){said}"
        if all(x in self._graph.get(y, ()) for x, y in pairs):
            mid = f" through {', '.join(path[-2:0:-1])}" if len(path) > 2 else ""
            return f"{b} {verb} {a}{mid} ({hop}){said}"
        return f"{a} and {b} are {hop} apart ({' – '.join(path)}){said}"

    def _reason(self, alert: AlertEvent, svc: str | None, c: _Cand) -> str:
        inc = self._inc[c.key]
        linked = inc.events[c.linked]
        lsvc = self.service_of(linked)
        desc = linked.name + (f" on {lsvc}" if lsvc else "")
        gap = alert.starts_at - linked.starts_at
        when = (f"at the same time as {desc}" if not gap else
                f"{_dur(gap)} {'after' if gap > timedelta(0) else 'before'} {desc}")
        if c.rule == "group":
            return f"same Alertmanager group {c.via[0]} as {desc}; {alert.name} fired {when}"
        if c.rule == "graph":
            return f"{self._relation(svc or '?', c.via[0], c.hops)}; {alert.name} fired {when}"
        if c.rule == "label":
            return f"shares {c.via[0]}={c.via[1]} with {desc}; {alert.name} fired {when}"
        if c.rule == "learned":
            partner, tie = c.via
            return (f"{svc} and {partner} alerted together in {tie.together:g} of the last {tie.seen:g} incidents; "
                    f"{alert.name} fired {when}")
        if c.rule == "time":
            shared = ", ".join(f"{n}={v}" for n, v in zip(self.rules.time_labels, c.via, strict=False))
            return (f"no topology links them; fired {when}, within {_dur(self._time_window)}, with the same "
                    f"{shared}")
        deployed, td, n = c.via
        ago = _dur(alert.starts_at - td)
        deploy = f"{deployed} was deployed at {_hhmmss(td)}, {ago} before this alert"
        if deployed == svc:
            rel = "" if n == svc else f" ({self._relation(deployed, n, c.hops)})"
            return f"{deploy}; the incident has {desc}{rel} since then"
        return f"{self._relation(svc or '?', deployed, c.hops)}; {deploy}; the incident has {desc} since then"


def correlate(alerts: Iterable[AlertEvent], rules: CorrelationRules | None = None,
              graph: Mapping[str, Sequence[str]] | None = None,
              deploys: Mapping[str, Sequence[datetime]] | None = None, *,
              aliases: Mapping[str, str] | None = None, topology: Topology | None = None) -> list[Incident]:
    """Correlate a batch: events in the order they happened (a resolved event at its end), then every incident."""
    c = Correlator(rules, graph, deploys, aliases=aliases, topology=topology)
    for a in sorted(alerts, key=lambda a: c.checked(a).event_at):  # a time set aside sorts where it is used
        c.add(a)
    return c.incidents()
