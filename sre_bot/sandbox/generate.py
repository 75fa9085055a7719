"""The simulated shop at any moment: a scenario anchored at `now`, answering for signals, pods, deploys, alerts.

`World(scenario, now, clock)` is deterministic: everything is a function of (seed, now) and the time asked.
`now` anchors the scenario's offsets once; `clock` is the advancing "current time" (frozen in tests), so a
long-running sandbox keeps producing data after `now` while the incident stays in progress. Nothing exists
before `now - duration` (retention) or after the clock (the future).

The bot's approved actions are the only state: `record_deploy` (a rollback or sync through the simulated Argo CD),
`add_silence` / `expire_silence` (the simulated Alertmanager), and `operations`, every write in order.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from functools import cached_property
from typing import Any

from ..clock import Clock, frozen_clock
from ..config import DEFAULT_SIGNALS
from .logs import LogEntry, ServiceLogs, merged_entries
from .matchers import Matcher, matches_all
from .scenario import AlertSpec, Deploy, Scenario, ServiceSpec
from .signals import SignalCurve, stable_key, stable_uuid, uniform

__all__ = ["World", "DeployState", "AlertState", "SilenceState", "fingerprint", "RESOLVE_AFTER_S"]

_POD_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # Kubernetes' SafeEncodeString alphabet
RESOLVE_AFTER_S = 240.0  # Prometheus sends endsAt = last evaluation + 4 x resend delay (1m)


def fingerprint(labels: dict[str, str]) -> str:
    """Alertmanager's alert fingerprint: FNV-1a 64 over sorted `name 0xff value 0xff`, as 16 hex digits."""
    h = 14695981039346656037
    for name in sorted(labels):
        for chunk in (name.encode(), b"\xff", labels[name].encode(), b"\xff"):
            for byte in chunk:
                h = ((h ^ byte) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


@dataclass(frozen=True)
class DeployState:
    id: int
    revision: str
    author: str
    started_at: float
    deployed_at: float
    message: str


@dataclass(frozen=True)
class AlertState:
    spec: AlertSpec
    labels: dict[str, str]
    fingerprint: str
    starts_at: float
    updated_at: float
    ends_at: float
    silenced_by: list[str] = field(default_factory=list)
    inhibited_by: list[str] = field(default_factory=list)

    @property
    def state(self) -> str:
        return "suppressed" if self.silenced_by or self.inhibited_by else "active"


@dataclass(frozen=True)
class SilenceState:
    id: str
    matchers: tuple[Matcher, ...]
    starts_at: float
    ends_at: float
    created_by: str
    comment: str
    updated_at: float

    def state(self, t: float) -> str:
        return "pending" if t < self.starts_at else "active" if t < self.ends_at else "expired"


class World:
    def __init__(self, scenario: Scenario, now: datetime, clock: Clock | None = None) -> None:
        now = now if now.tzinfo else now.replace(tzinfo=timezone.utc)
        self.scenario = scenario
        self.anchor_dt = now.astimezone(timezone.utc)
        self.anchor = self.anchor_dt.timestamp()
        self.start = self.anchor - scenario.duration.total_seconds()
        self.clock: Clock = clock or frozen_clock(self.anchor_dt)
        self._curves: dict[tuple[str, str], SignalCurve] = {}
        self._logs: dict[str, ServiceLogs] = {}
        self.silences: dict[str, SilenceState] = {}
        self.operations: list[dict[str, Any]] = []  # every write a simulated server accepted, oldest first
        for svc in scenario.services:
            for name, shape in svc.shapes().items():
                unit = "ratio" if name == "up" else self._unit(name)
                key = stable_key(scenario.seed, svc.name, name)
                self._curves[(svc.name, name)] = SignalCurve(shape, key, self.anchor, unit=unit)

    # -- time ---------------------------------------------------------------------------------------------
    def now(self) -> float:
        t = self.clock()
        return (t if t.tzinfo else t.replace(tzinfo=timezone.utc)).timestamp()

    def offset(self, td_seconds: float) -> float:
        return self.anchor + td_seconds

    def clip(self, start: float, end: float) -> tuple[float, float]:
        """The part of [start, end] where data exists: after retention starts, not after the clock."""
        return max(start, self.start), min(end, self.now())

    # -- services and signals -------------------------------------------------------------------------------
    @property
    def services(self) -> list[ServiceSpec]:
        return self.scenario.services

    def service(self, name: str) -> ServiceSpec:
        return self.scenario.service(name)

    def namespace(self, name: str) -> str:
        return self.scenario.namespace_of(self.service(name))

    def _unit(self, signal: str) -> str | None:
        if signal in DEFAULT_SIGNALS:
            return DEFAULT_SIGNALS[signal].unit
        custom = self.scenario.signals.get(signal)
        return custom.unit if custom else None

    def has(self, service: str, signal: str) -> bool:
        return (service, signal) in self._curves

    def signals_of(self, service: str) -> list[str]:
        return [sig for (svc, sig) in self._curves if svc == service]

    def value(self, service: str, signal: str, t: float) -> float:
        """The signal at `t` (any time: the API layer decides what is visible). KeyError if it does not exist."""
        v = self._curves[(service, signal)](t)
        if signal == "up":
            return 1.0 if v >= 0.5 else 0.0
        if signal == "latency_p99" and (service, "latency_p95") in self._curves:
            v = max(v, self._curves[(service, "latency_p95")](t) * 1.05)
        return v

    def sample(self, service: str, signal: str, start: float, end: float, step: float) -> list[tuple[float, float]]:
        """Points at start, start+step, ... <= end that lie inside the visible data."""
        lo, hi = self.clip(start, end)
        out = []
        n = int(math.floor((end - start) / step + 1e-9)) if step > 0 else 0
        for k in range(n + 1):
            t = start + k * step
            if lo <= t <= hi:
                out.append((t, self.value(service, signal, t)))
        return out

    # -- deploys and pods ---------------------------------------------------------------------------------
    def history(self, service: str) -> list[DeployState]:
        """Every deploy of the service's app (ids from 1, oldest first), including ones after the clock."""
        return self._history.get(service, [])

    @cached_property
    def _history(self) -> dict[str, list[DeployState]]:
        out: dict[str, list[DeployState]] = {}
        for svc in self.services:
            deploys: list[Deploy] = sorted(svc.argocd.history, key=lambda d: d.at) if svc.argocd else []
            out[svc.name] = [
                DeployState(id=i + 1, revision=d.revision, author=d.author, message=d.message,
                            started_at=self.anchor + (d.at - d.took).total_seconds(),
                            deployed_at=self.anchor + d.at.total_seconds())
                for i, d in enumerate(deploys)
            ]
        return out

    def record_deploy(self, service: str, revision: str, author: str) -> DeployState:
        """A deploy finishing now (a rollback or sync the bot ran): the next id, kept in time order."""
        hist = self._history.setdefault(service, [])
        now = self.now()
        d = DeployState(id=max((h.id for h in hist), default=0) + 1, revision=revision, author=author,
                        started_at=now, deployed_at=now, message="")
        hist.append(d)
        hist.sort(key=lambda h: h.deployed_at)
        return d

    def deployed(self, service: str, until: float | None = None) -> list[DeployState]:
        until = self.now() if until is None else until
        return [d for d in self.history(service) if d.deployed_at <= until]

    def revision_at(self, service: str, t: float) -> str:
        done = self.deployed(service, t)
        if done:
            return done[-1].revision
        hist = self.history(service)
        return f"before:{hist[0].revision}" if hist else "initial"

    def pod_hash(self, service: str, revision: str) -> str:
        key = stable_key(self.scenario.seed, service, "rs", revision)
        return "".join(_POD_ALPHABET[int(uniform(key, i) * len(_POD_ALPHABET))] for i in range(10))

    def pods(self, service: str, t: float | None = None) -> list[str]:
        """The pod names serving at `t` (default: now); they change with each deployed revision."""
        t = self.now() if t is None else t
        rev = self.revision_at(service, t)
        rs = f"{service}-{self.pod_hash(service, rev)}"
        key = stable_key(self.scenario.seed, service, "pod", rev)
        return [rs + "-" + "".join(_POD_ALPHABET[int(uniform(key, 5 * r + i) * len(_POD_ALPHABET))]
                                   for i in range(5)) for r in range(self.service(service).replicas)]

    # -- logs -----------------------------------------------------------------------------------------------
    def logs(self, service: str) -> ServiceLogs:
        if service not in self._logs:
            self._logs[service] = ServiceLogs(self, self.service(service))
        return self._logs[service]

    def log_entries(self, services: list[str], start: float, end: float, *,
                    newest_first: bool = True) -> Iterator[LogEntry]:
        """Lines of the given services in [start, end] (clipped to visible data), merged in time order."""
        lo, hi = self.clip(start, end)
        if hi < lo:
            return iter(())
        return merged_entries([self.logs(s) for s in services], lo, hi, newest_first=newest_first)

    # -- alerts ---------------------------------------------------------------------------------------------
    def alert_labels(self, spec: AlertSpec) -> dict[str, str]:
        labels = {"alertname": spec.alertname, "severity": spec.severity}
        if spec.service:
            ns = self.namespace(spec.service)
            labels.update(service=spec.service, namespace=ns, job=spec.service)
        labels.update(spec.labels)
        return labels

    def alerts(self, t: float | None = None) -> list[AlertState]:
        """The alerts Alertmanager holds at `t`: started, not yet resolved; sorted by fingerprint."""
        t = self.now() if t is None else t
        live: list[tuple[AlertSpec, dict[str, str], float]] = []
        for spec in self.scenario.alerts:
            starts = self.anchor + spec.starts.total_seconds()
            ends = self.anchor + spec.ends.total_seconds() if spec.ends is not None else None
            if starts <= t and (ends is None or t < ends):
                live.append((spec, self.alert_labels(spec), starts))
        by_name = {spec.alertname: fingerprint(labels) for spec, labels, _ in live}
        out = []
        for spec, labels, starts in live:
            updated = starts + math.floor((t - starts) / 60.0) * 60.0
            silenced = [stable_uuid(self.scenario.seed, "silence", spec.alertname)] if spec.silenced else []
            silenced += [s.id for s in self.silences.values()
                         if s.state(t) == "active" and matches_all(list(s.matchers), labels)]
            inhibited = [by_name[spec.inhibited_by]] if spec.inhibited_by in by_name else []
            out.append(AlertState(spec=spec, labels=labels, fingerprint=fingerprint(labels), starts_at=starts,
                                  updated_at=updated, ends_at=updated + RESOLVE_AFTER_S,
                                  silenced_by=silenced, inhibited_by=inhibited))
        return sorted(out, key=lambda a: a.fingerprint)


    def add_silence(self, matchers: list[Matcher], starts_at: float, ends_at: float, created_by: str,
                    comment: str) -> SilenceState:
        """A new silence (starting no earlier than now, as Alertmanager clamps it), with a stable id."""
        now = self.now()
        sid = stable_uuid(self.scenario.seed, "silence", len(self.silences), now)
        silence = SilenceState(id=sid, matchers=tuple(matchers), starts_at=max(starts_at, now), ends_at=ends_at,
                               created_by=created_by, comment=comment, updated_at=now)
        self.silences[sid] = silence
        return silence

    def expire_silence(self, silence_id: str) -> SilenceState | None:
        """End the silence now (an expired one is left as it is); None for an unknown id."""
        s = self.silences.get(silence_id)
        now = self.now()
        if s is not None and s.state(now) != "expired":
            s = self.silences[silence_id] = replace(s, ends_at=now, starts_at=min(s.starts_at, now), updated_at=now)
        return s
