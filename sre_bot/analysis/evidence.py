"""What the engine reasons over: typed, frozen evidence, one type per kind of fact. Pure data.

The gathering layer (`services/investigate.py`) turns what the backends returned into these; the engine
(`analysis/engine.py`) never sees a backend, a clock or a quote, only numbers, times and the id of the evidence
item a person can open. Because they are plain frozen dataclasses of floats and strings, a recorded investigation
can be replayed through the engine in milliseconds (the Nezha benchmark's `--replay`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

__all__ = ["Point", "SignalSeries", "EdgeSeries", "DeployEvent", "LogShift", "AlertEvent", "EngineEvidence",
           "EdgeMetric", "SignalRole", "signal_role"]

Point = tuple[float, float]  # (unix seconds, value)
EdgeMetric = Literal["requests", "errors", "latency_client", "latency_server"]
SignalRole = Literal["availability", "traffic", "errors", "latency", "resource", "other"]


def signal_role(signal: str, title: str, unit: str) -> SignalRole:
    """What a signal measures, from its unit and name: whether the thing is up at all, request rate, errors,
    latency, a resource, or other."""
    name = f"{signal} {title}".lower()
    if re.search(r"(^|[\s_])up$|\bup\b|availab|reachab|healthy", name):
        return "availability"
    if "error" in name or "fail" in name or "success" in name:
        return "errors"
    if unit == "rps" or "request rate" in name or "workload" in name:
        return "traffic"
    if unit == "seconds" or "latency" in name or "duration" in name:
        return "latency"
    if unit in ("cores", "bytes") or any(w in name for w in ("cpu", "memory", "connection", "saturat", "disk",
                                                               "heap", "queue", "backlog", "throttl", "pool")):
        return "resource"
    return "other"


@dataclass(frozen=True)
class SignalSeries:
    """One golden signal of one service over the baseline and the window."""

    evidence_id: str
    service: str
    signal: str  # the config's signal name
    title: str
    unit: str
    points: tuple[Point, ...]
    bad: Literal["up", "down", "both"] = "up"
    min_abs: float = 0.0
    seasonal: tuple[Point, ...] = ()  # the same window a day earlier, shifted onto today's times
    expected: tuple[float, float] | None = None  # points the query should return (window, baseline)

    @property
    def role(self) -> SignalRole:
        return signal_role(self.signal, self.title, self.unit)


@dataclass(frozen=True)
class EdgeSeries:
    """One per-edge metric of a call from `client` to `server` (service-graph, mesh or span metrics)."""

    evidence_id: str
    client: str
    server: str
    metric: EdgeMetric
    points: tuple[Point, ...]
    source: str = ""  # which metrics it came from ("tempo service graphs", "istio", ...)


@dataclass(frozen=True)
class DeployEvent:
    evidence_id: str
    service: str
    at: float
    text: str
    revision: str = ""


@dataclass(frozen=True)
class LogShift:
    """An error-log template of a service that is new in the window, or whose rate jumped."""

    evidence_id: str
    service: str
    kind: Literal["new", "jump"]
    text: str
    first_seen: float | None = None
    during: int = 0
    before: int = 0


@dataclass(frozen=True)
class AlertEvent:
    evidence_id: str
    service: str | None
    alertname: str
    starts_at: float


EngineEvidence = SignalSeries | EdgeSeries | DeployEvent | LogShift | AlertEvent
