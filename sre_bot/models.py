"""Shared value types: what backends return, what tools produce, what surfaces render.

Backends return the raw-but-typed shapes (`Series`, `LogLine`, `Application`, `Alert`); tools turn them into
`Evidence`, the unit every answer is made of. An `Evidence` item quotes exactly what a backend returned (so a
quote can be verified later), says where it came from (source, query, window) and links to it.
"""

from __future__ import annotations

import hashlib
import math
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "TimeRange",
    "Point",
    "Series",
    "LogLine",
    "LogResult",
    "DeployRecord",
    "Application",
    "ResourceNode",
    "Alert",
    "EvidenceStatus",
    "Evidence",
    "evidence_id",
]


def _utc(dt: datetime) -> datetime:
    if dt.tzinfo is None:
        return dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc)


class TimeRange(BaseModel):
    """A closed time window in UTC."""

    model_config = ConfigDict(frozen=True)

    start: datetime
    end: datetime

    @field_validator("start", "end")
    @classmethod
    def _tz(cls, v: datetime) -> datetime:
        return _utc(v)

    @model_validator(mode="after")
    def _order(self) -> TimeRange:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self

    @classmethod
    def ending(cls, end: datetime, duration: timedelta) -> TimeRange:
        end = _utc(end)
        return cls(start=end - duration, end=end)

    @property
    def duration(self) -> timedelta:
        return self.end - self.start

    def shift(self, delta: timedelta) -> TimeRange:
        return TimeRange(start=self.start + delta, end=self.end + delta)

    def before(self, duration: timedelta | None = None) -> TimeRange:
        """The window of `duration` (default: the same length) that ends where this one starts."""
        d = duration or self.duration
        return TimeRange(start=self.start - d, end=self.start)

    def contains(self, t: datetime) -> bool:
        return self.start <= _utc(t) <= self.end

    def label(self) -> str:
        """A short human label: '14:05–15:05 UTC' (date added when it is not today's window)."""
        fmt = "%H:%M"
        if self.start.date() != self.end.date():
            return f"{self.start:%Y-%m-%d %H:%M}–{self.end:%Y-%m-%d %H:%M} UTC"
        return f"{self.start:%Y-%m-%d} {self.start.strftime(fmt)}–{self.end.strftime(fmt)} UTC"


class Point(BaseModel):
    model_config = ConfigDict(frozen=True)

    t: float  # unix seconds
    v: float


class Series(BaseModel):
    """One time series: its labels and its points, in time order. NaN values are dropped at the boundary."""

    model_config = ConfigDict(frozen=True)

    labels: dict[str, str] = Field(default_factory=dict)
    points: list[Point] = Field(default_factory=list)

    @property
    def values(self) -> list[float]:
        return [p.v for p in self.points if not math.isnan(p.v)]

    @property
    def last(self) -> float | None:
        vals = self.values
        return vals[-1] if vals else None


class LogLine(BaseModel):
    model_config = ConfigDict(frozen=True)

    ts_ns: int  # unix nanoseconds, as Loki returns them
    line: str
    labels: dict[str, str] = Field(default_factory=dict)

    @property
    def time(self) -> datetime:
        return datetime.fromtimestamp(self.ts_ns / 1e9, tz=timezone.utc)


class LogResult(BaseModel):
    """Lines of a log query. `limit_hit` says the backend stopped at `limit`: more lines exist than shown."""

    lines: list[LogLine] = Field(default_factory=list)
    limit: int
    limit_hit: bool = False


class DeployRecord(BaseModel):
    """One entry of an Argo CD application's `status.history`."""

    model_config = ConfigDict(frozen=True)

    id: int
    revision: str
    deployed_at: datetime
    deploy_started_at: datetime | None = None
    initiated_by: str | None = None  # user name, or "automated"
    source: str | None = None  # repoURL[/path]


class Application(BaseModel):
    name: str
    project: str = "default"
    namespace: str | None = None  # destination namespace
    sync_status: str = "Unknown"
    health_status: str = "Unknown"
    revision: str | None = None
    repo_url: str | None = None
    history: list[DeployRecord] = Field(default_factory=list)
    operation_phase: str | None = None
    operation_message: str | None = None
    operation_finished_at: datetime | None = None


class ResourceNode(BaseModel):
    kind: str
    name: str
    namespace: str | None = None
    group: str | None = None
    health: str | None = None
    version: str | None = None  # the API version ("v1"), which a resource action names


class Alert(BaseModel):
    """An alert as Alertmanager's API v2 (or a webhook v4 body) describes it."""

    fingerprint: str
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    state: str = "active"  # active | suppressed | unprocessed | firing | resolved
    starts_at: datetime
    ends_at: datetime | None = None
    generator_url: str | None = None

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "?")

    @property
    def severity(self) -> str:
        return self.labels.get("severity", "none")


EvidenceStatus = Literal["ok", "no_data", "error"]
EvidenceSource = Literal["prometheus", "loki", "argocd", "alertmanager", "engine", "tempo"]


def evidence_id(source: str, query: str, window: TimeRange | None, extra: str = "") -> str:
    """A stable id: the same source, query, window (and extra discriminator) always give the same id."""
    w = f"{window.start.isoformat()}/{window.end.isoformat()}" if window else "-"
    digest = hashlib.sha256(f"{source}\x00{query}\x00{w}\x00{extra}".encode()).hexdigest()[:10]
    return f"{source[:4]}-{digest}"


class Evidence(BaseModel):
    """One quotable fact: what was asked, of which system, over which window, and exactly what came back.

    `quote` is the verbatim text shown to people (and later verified against model output); `label` is the
    one-line human description of the call for Slack and the audit log. `status` is `ok`, `no_data` (an answer,
    not a failure) or `error` (the backend failed; `quote` says how).
    """

    id: str
    source: EvidenceSource
    kind: str  # e.g. "signal", "logs", "deploys", "app", "alerts", "query"
    label: str
    query: str
    window: TimeRange | None = None
    quote: str
    url: str | None = None
    extra_urls: dict[str, str] = Field(default_factory=dict)  # e.g. {"Grafana": "..."}
    status: EvidenceStatus = "ok"
    service: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)  # structured values behind the quote
    partial: str | None = None  # set when only part of the result is shown ("showing 20 of 1,204 lines")
