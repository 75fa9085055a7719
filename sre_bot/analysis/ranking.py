"""Rank services as root-cause candidates from their anomalies, deploys and log shifts. Pure.

Each service with at least one anomalous signal gets a score in [0, 1], a weighted sum of five parts, and the
reasons that moved it:

    strength  0.30  how far its signals left baseline (robust z), and how many did
    root      0.30  walking the dependency graph from the asked-about service towards its dependencies, the
                    anomalous service with no anomalous dependency of its own is the likely root; a service whose
                    dependencies are also anomalous is more likely a victim — unless it was deployed before the
                    first anomaly anywhere: the change that opens the timeline is the trigger even when its load
                    shows up downstream (a caller's bad deploy exhausting a database). Load flows the other way:
                    a service whose request rate rose while a caller's rose too is receiving that caller's load
                    (a victim), and dependencies whose request rate rose are not held against the caller sending
                    it (a traffic spike starts at the entry, not at the last service it reaches)
    onset     0.15  earlier onsets come first in a propagation chain
    deploy    0.15  a deploy shortly before the service's onset (not one after: that is never blamed)
    logs      0.10  an error-log template that is new or jumped in rate

Confidence is the top score, discounted when the runner-up is close and when evidence could not be gathered;
below MIN_CONFIDENCE, or with no anomaly at all, the answer is "insufficient evidence". The eval issue calibrates
these numbers against ground truth; until then they are ordered scores, not probabilities.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from .anomaly import SignalAnomaly
from .graph import depends_on_closure

__all__ = ["SignalHit", "DeployHit", "LogHit", "Candidate", "rank_services", "MIN_CONFIDENCE", "WEIGHTS",
           "DEPLOY_LOOKBACK_S"]

WEIGHTS = {"strength": 0.30, "root": 0.30, "onset": 0.15, "deploy": 0.15, "logs": 0.10}
MIN_CONFIDENCE = 0.2
DEPLOY_LOOKBACK_S = 30 * 60
DEPLOY_GRACE_S = 60  # a deploy this close after the onset still counts (clock skew, scrape interval)

CauseKind = Literal["bad_deploy", "resource_saturation", "error_spike", "latency", "traffic_spike", "anomaly"]


@dataclass(frozen=True)
class SignalHit:
    signal: str  # config signal name
    title: str
    unit: str
    anomaly: SignalAnomaly
    evidence_id: str


@dataclass(frozen=True)
class DeployHit:
    at: float
    text: str
    evidence_id: str


@dataclass(frozen=True)
class LogHit:
    kind: Literal["new", "jump"]
    text: str
    evidence_id: str


@dataclass
class Candidate:
    service: str
    score: float
    onset: float
    parts: dict[str, float]
    cause_kind: CauseKind
    reasons: list[str] = field(default_factory=list)
    evidence_ids: list[str] = field(default_factory=list)
    confidence: float = 0.0


# Saturation in the USE method's sense: a resource used up, or work queued because it is (queue depth, backlog).
_SATURATION_WORDS = ("cpu", "memory", "connection", "saturat", "utilis", "utiliz", "disk", "heap", "queue",
                     "backlog", "throttl", "pool")


def _kind(hits: list[SignalHit], deploy: float) -> CauseKind:
    if deploy >= 0.5:
        return "bad_deploy"
    strongest = max(hits, key=lambda h: abs(h.anomaly.z))
    name = f"{strongest.signal} {strongest.title}".lower()
    if strongest.unit in ("cores", "bytes") or any(w in name for w in _SATURATION_WORDS):
        return "resource_saturation"
    if "error" in name or "success" in name:
        return "error_spike"
    if strongest.unit == "seconds" or "latency" in name:
        return "latency"
    if strongest.unit == "rps" and strongest.anomaly.direction == "up":
        return "traffic_spike"
    return "anomaly"


def rank_services(
    *,
    graph: Mapping[str, list[str]],
    focus: str | None,
    signals: Mapping[str, list[SignalHit]],
    deploys: Mapping[str, list[DeployHit]],
    logs: Mapping[str, list[LogHit]],
    gaps: int = 0,
) -> list[Candidate]:
    """Candidates best first, each with confidence; only services with an anomalous signal are candidates."""
    anomalous = {s for s, hits in signals.items() if hits}
    if not anomalous:
        return []
    onsets = {s: min(h.anomaly.onset for h in signals[s]) for s in anomalous}
    t0 = min(onsets.values())
    reachable = depends_on_closure(graph, focus) | {focus} if focus and focus in graph else None
    closures = {s: depends_on_closure(graph, s) for s in anomalous}
    more_traffic = {s for s in anomalous if any(h.unit == "rps" and h.anomaly.direction == "up" for h in signals[s])}
    out = []
    for s in anomalous:
        hits = sorted(signals[s], key=lambda h: h.anomaly.onset)
        max_z = max(min(abs(h.anomaly.z), 1e6) for h in hits)
        strength = min(1.0, 1 - math.exp(-max_z / 8) + 0.1 * (len(hits) - 1))
        senders = sorted(c for c in more_traffic if c != s and s in closures[c]) if s in more_traffic else []
        bad_deps = sorted(d for d in closures[s] & anomalous if s not in more_traffic or d not in more_traffic)
        root = 1.0 if not bad_deps and not senders else 0.2
        if s not in graph:
            root = 0.6
        if reachable is not None and s not in reachable:
            root *= 0.5
        trigger = any(-DEPLOY_GRACE_S <= t0 - d.at <= DEPLOY_LOOKBACK_S for d in deploys.get(s, []))
        if trigger:
            root = 1.0
        onset = math.exp(-(onsets[s] - t0) / 300)
        deploy, deploy_ids, reasons = 0.0, [], []
        for d in deploys.get(s, []):
            gap = onsets[s] - d.at
            if -DEPLOY_GRACE_S <= gap <= DEPLOY_LOOKBACK_S:
                w = math.exp(-max(gap, 0) / 900)
                if w > deploy:
                    deploy = w
                deploy_ids.append(d.evidence_id)
                reasons.append(f"deploy {int(max(gap, 0) // 60)} min before its first anomaly: {d.text}")
            elif gap < -DEPLOY_GRACE_S and d.at - onsets[s] < DEPLOY_LOOKBACK_S:
                reasons.append(f"deploy after the anomaly began, not blamed: {d.text}")
        log_hits = logs.get(s, [])
        log_part = 1.0 if any(h.kind == "new" for h in log_hits) else (0.6 if log_hits else 0.0)
        parts = {"strength": strength, "root": root, "onset": onset, "deploy": deploy, "logs": log_part}
        score = sum(WEIGHTS[k] * v for k, v in parts.items())
        first = hits[0]
        reasons.insert(0, f"{len(hits)} signal(s) off baseline, strongest robust z {max_z:.1f}; first: "
                          f"{first.title}")
        if trigger:
            reasons.append("its deploy comes before the first anomaly anywhere: the change that opens the timeline")
        elif senders:
            reasons.append(f"its callers' request rate rose too ({', '.join(senders)}): receiving their load")
        elif not bad_deps:
            reasons.append("no anomalous dependency: likely where it starts")
        else:
            reasons.append(f"its dependencies are anomalous too ({', '.join(bad_deps)}): maybe a victim")
        reasons += [h.text for h in log_hits]
        ids = [h.evidence_id for h in hits] + deploy_ids + [h.evidence_id for h in log_hits]
        out.append(Candidate(service=s, score=round(score, 4), onset=onsets[s], parts=parts,
                             cause_kind=_kind(hits, deploy), reasons=reasons, evidence_ids=ids))
    out.sort(key=lambda c: (-c.score, c.onset, c.service))
    completeness = max(0.5, 1 - 0.1 * gaps)
    for i, c in enumerate(out):
        nxt = out[i + 1].score if i + 1 < len(out) else 0.0
        margin = (c.score - nxt) / c.score if c.score else 0.0
        c.confidence = round(min(0.95, max(0.05, c.score * (0.6 + 0.4 * margin) * completeness)), 2)
    return out
