"""What alert correlation works on and produces: an alert event, the rules' settings, and an incident with the
merges that built it. Pure data; the rules themselves are in `correlation.py`."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Literal, overload

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..querylang import LABEL_NAME_RE
from ..windows import duration_field, parse_duration

__all__ = ["AlertEvent", "SkewedTime", "CorrelationRules", "Merge", "Related", "Assignment", "Incident",
           "service_from_labels", "severity_of", "as_utc", "MergeRule", "RULE_ORDER", "RULE_RANK", "SEVERITIES",
           "SEVERITY_RANK"]

MergeRule = Literal["group", "graph", "label", "learned", "deploy", "time"]
RULE_ORDER: tuple[MergeRule, ...] = ("group", "graph", "label", "learned", "deploy", "time")
RULE_RANK = {r: i for i, r in enumerate(RULE_ORDER)}
SEVERITIES = ("critical", "error", "warning", "info", "none")  # highest first
SEVERITY_RANK = {s: i for i, s in enumerate(SEVERITIES)}
_SEV_ALIASES = {"crit": "critical", "page": "critical", "fatal": "critical", "high": "error", "err": "error",
                "warn": "warning", "medium": "warning", "low": "info", "informational": "info"}
# Kubernetes names generated suffixes from this alphabet (no vowels, no 0/1/3): <rs hash 6-10>-<pod 5>.
_HASH = "[bcdfghjklmnpqrstvwxz2456789]"
_POD_RE = re.compile(rf"^(.+)-{_HASH}{{6,10}}-{_HASH}{{5}}$")


@overload
def as_utc(dt: datetime) -> datetime: ...
@overload
def as_utc(dt: None) -> None: ...
def as_utc(dt: datetime | None) -> datetime | None:
    if dt is None:
        return None
    return dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt.astimezone(timezone.utc)


def _utc(t: datetime) -> str:
    return f"{t:%Y-%m-%d %H:%M:%S} UTC"


class SkewedTime(BaseModel):
    """A time an alert claimed that was too far from the clock to use, and the time used instead
    (`alert_times.py` says when a time is set aside)."""

    model_config = ConfigDict(frozen=True)

    which: Literal["startsAt", "endsAt"]
    reported: datetime  # what the alert said
    used: datetime  # what correlation, the incident and its timeline use: when the bot received the alert
    why: str  # "is 3 h after its notification arrived", "is at or before 1970-01-01, not a real time"

    _tz = field_validator("reported", "used")(lambda cls, v: as_utc(v))

    def describe(self) -> str:
        return f"{self.which} {_utc(self.reported)} {self.why}; {_utc(self.used)} (its arrival) used instead"


class AlertEvent(BaseModel):
    """One alert as the bot received it (Alertmanager webhook v4 or API v2), times in UTC.

    `skewed` is set once its times were checked against `received_at` and one was set aside: `starts_at`/`ends_at`
    then hold the times used, each `SkewedTime` what the alert claimed."""

    model_config = ConfigDict(frozen=True)

    fingerprint: str = Field(min_length=1)
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    status: Literal["firing", "resolved"] = "firing"
    starts_at: datetime
    ends_at: datetime | None = None
    generator_url: str | None = None
    group_key: str | None = None  # Alertmanager's groupKey (webhook only)
    received_at: datetime | None = None
    skewed: list[SkewedTime] = Field(default_factory=list)

    _tz = field_validator("starts_at", "ends_at", "received_at")(lambda cls, v: as_utc(v))

    @property
    def skew_note(self) -> str | None:
        """What was set aside and what was used instead, or None."""
        return "; ".join(s.describe() for s in self.skewed) or None

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "?")

    @property
    def severity(self) -> str:
        return severity_of(self.labels)

    @property
    def instance(self) -> str | None:
        """What tells apart alerts of one name on one service: its pod, instance, node or container label."""
        return next((self.labels[k] for k in ("pod", "instance", "node", "container") if self.labels.get(k)), None)

    @property
    def event_at(self) -> datetime:
        """When this event happened: the end of a resolved alert, else its start (the order a replay uses)."""
        return self.ends_at if self.status == "resolved" and self.ends_at else self.starts_at


def severity_of(labels: Mapping[str, str]) -> str:
    """The `severity` label as one of SEVERITIES (common synonyms mapped; unknown values are "none")."""
    s = labels.get("severity", "").strip().lower()
    s = _SEV_ALIASES.get(s, s)
    return s if s in SEVERITY_RANK else "none"


class CorrelationRules(BaseModel):
    """The `correlation:` section of sre-bot.yaml: when alerts join one incident (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    window: str = "10m"  # time proximity: how far apart linked alerts may start
    max_incident_age: str = "2h"  # never join an incident that would then span longer than this
    use_groups: bool = True  # alerts with the same Alertmanager groupKey join one incident
    graph_hops: int = Field(1, ge=0, le=6)  # services this close in the dependency graph merge (0: same service)
    # Only `node` by default. Not `namespace`: one namespace often holds a whole application of unrelated services.
    # Not `cluster`: Prometheus' external_labels usually put the same cluster on every alert, and then this rule
    # links everything within `window` into one incident, hiding an unrelated second problem (measured:
    # benchmarks/correlation.py, "… and `cluster` in shared_labels"). Add it when alerts come from several clusters.
    shared_labels: list[str] = Field(default_factory=lambda: ["node"])
    deploy_window: str = "30m"  # a deploy this long before an alert can link it (rule 4)
    # an alert time this far after its receipt (or before 1970) is a skewed clock: the receive time is used
    max_clock_skew: str = "5m"
    service_labels: list[str] = Field(
        default_factory=lambda: ["service", "app", "job", "deployment", "pod", "container"])
    # a service this many topology neighbours (or more; also the top 10% with at least 4) is a hub: its alerts may
    # join an incident, but its edges do not link other services' alerts (a frontend every problem alerts on)
    hub_degree: int = Field(6, ge=2)
    # learned co-occurrence (rule "learned"): a tie this strong (together / seen) over at least this many incidents
    learned_min: float = Field(0.5, gt=0, le=1)
    learned_min_incidents: float = Field(3, ge=1)
    # the no-topology default (rule "time"): alerts this close that share every one of `time_labels` (each present
    # on both) join; an empty list turns the rule off
    time_window: str = "2m"
    time_labels: list[str] = Field(default_factory=lambda: ["alertname", "namespace"])

    _durations = field_validator("window", "max_incident_age", "deploy_window", "max_clock_skew", "time_window")(
        lambda cls, v: duration_field(v))

    @field_validator("shared_labels", "service_labels", "time_labels")
    @classmethod
    def _labels(cls, v: list[str]) -> list[str]:
        bad = [x for x in v if not LABEL_NAME_RE.match(x)]
        if bad:
            raise ValueError(f"not valid label names: {', '.join(map(repr, bad))}")
        return v

    @property
    def window_delta(self) -> timedelta:
        return parse_duration(self.window)

    @property
    def max_age_delta(self) -> timedelta:
        return parse_duration(self.max_incident_age)

    @property
    def deploy_delta(self) -> timedelta:
        return parse_duration(self.deploy_window)

    @property
    def skew_delta(self) -> timedelta:
        return parse_duration(self.max_clock_skew)

    @property
    def time_delta(self) -> timedelta:
        return parse_duration(self.time_window)


class Merge(BaseModel):
    """Why an alert joined an incident that already existed."""

    model_config = ConfigDict(frozen=True)

    alert: str  # fingerprint of the alert that joined
    rule: MergeRule
    reason: str
    linked_alert: str | None = None  # the alert already in the incident that it was linked to
    # where the link came from: for "graph" the weakest edge source on the path ("config", or "discovered" when a
    # hop was discovered; None for the same service); else the rule's evidence: "group" (Alertmanager groupKey),
    # "label", "learned", "deploy", "time"
    source: str | None = None


class Related(BaseModel):
    """A possible merge that was not made: an alert of this incident also matched another open incident."""

    model_config = ConfigDict(frozen=True)

    incident: str  # the other incident's key
    alert: str
    rule: MergeRule
    reason: str


class Assignment(BaseModel):
    """What `Correlator.add` did with one alert."""

    model_config = ConfigDict(frozen=True)

    incident_key: str
    new: bool  # it opened this incident
    merge: Merge | None = None  # set when it joined an existing incident
    repeat: bool = False  # a fingerprint already known: status/ends_at updated, nothing joined
    resolved: bool = False  # the incident is resolved after this event
    follows: str | None = None  # for a new incident: the resolved one it recurs
    related: list[Related] = Field(default_factory=list)  # notes this alert added to the incident it joined


class Incident(BaseModel):
    """One incident as it stands: a snapshot; the Correlator keeps the live state."""

    model_config = ConfigDict(frozen=True)

    key: str
    alerts: list[str]  # fingerprints, in arrival order
    services: list[str]  # by onset
    severity: str
    started_at: datetime
    last_alert_at: datetime
    title: str
    root_service: str | None
    root_reason: str
    merges: list[Merge] = Field(default_factory=list)
    related: list[Related] = Field(default_factory=list)
    follows: str | None = None
    resolved: bool = False
    resolved_at: datetime | None = None
    firing: int = 0
    alert_names: dict[str, int] = Field(default_factory=dict)  # alert count by alertname
    skewed: list[str] = Field(default_factory=list)  # one line per alert whose time was set aside (which, why)


def service_from_labels(labels: Mapping[str, str], service_labels: Sequence[str],
                        aliases: Mapping[str, str] | None = None) -> str | None:
    """The first of `service_labels` present; a pod name without its two generated hash parts; aliases resolved."""
    for name in service_labels:
        v = labels.get(name)
        if v:
            if name == "pod":
                m = _POD_RE.match(v)
                v = m.group(1) if m else v
            return (aliases or {}).get(v, v)
    return None
