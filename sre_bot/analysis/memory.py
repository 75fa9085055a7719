"""Incident memory, the pure part: what an incident looked like (a `Fingerprint`), how alike two are (an explained
`Similarity`), and the nearest past cases to a new one.

    fp = fingerprint_of(investigation)                       # what today's answer saw
    case_fp = fp.confirmed("payments-db", "resource_saturation")   # the cause a person confirmed
    s = similarity(case_fp, fp)                              # Similarity(score=0.91, parts=[Part(...), ...])
    s.because()                                              # "same root service payments-db; 3 of 4 anomalous …"
    best = nearest([(case_id, case_fp), ...], fp, k=3)       # [(case_id, Similarity), ...], closest first

A fingerprint is a handful of weighted sets, each element a short readable key with a weight in (0, 1] (how strongly
it moved): the anomalous signals with their direction (`payments-db latency up`), the call-graph findings, firing
alert names, new error-log templates, the services deployed shortly before, and the suspects (the confirmed service
of a case; the engine's three strongest candidates of a new answer) with the cause kind. The similarity is a
weighted mean, over the parts present in either fingerprint, of each part's weighted Jaccard overlap (sum of
minima over sum of maxima), so it is symmetric, in [0, 1], and 1 for identical fingerprints; each part says in
words what matched. No learning, no black box: the weights are `WEIGHTS`, and the threshold for "seen before" is
chosen on the Nezha benchmark (`benchmarks/nezha_memory.py`), not by hand.

Pure: no I/O, no clock.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from ..investigation import Investigation
from .engine import DEPLOY_LOOKBACK_S, Analysis
from .evidence import AlertEvent, DeployEvent, EngineEvidence, LogShift

__all__ = ["Fingerprint", "Part", "Similarity", "WEIGHTS", "fingerprint_of", "fingerprint_of_analysis",
           "similarity", "nearest", "strength", "describe"]

T = TypeVar("T")

# How much each part counts when present in either fingerprint (a part absent from both is not evidence either way).
WEIGHTS: dict[str, float] = {
    "suspect": 0.25,   # the same root service (a case's confirmed one vs today's strongest candidates)
    "kind": 0.05,      # the same kind of cause (saturation, network, bad deploy, …)
    "signals": 0.35,   # the same signals off baseline, in the same direction
    "edges": 0.15,     # the same calls slowed, failing or changed
    "logs": 0.10,      # the same new error-log templates
    "alerts": 0.05,    # the same alerts firing
    "deploys": 0.05,   # the same services deployed just before
}
_Z_FULL = 20.0  # a robust z at or above this counts fully; weaker changes count less (log scale)
_NUMBERS = re.compile(r"\d+(?:[.,:]\d+)*")


def strength(z: float | None) -> float:
    """A change's weight in (0, 1]: log-scaled |z|, full at `_Z_FULL` (unknown z: full)."""
    if z is None or not math.isfinite(z):
        return 1.0
    return max(0.05, min(1.0, math.log1p(abs(z)) / math.log1p(_Z_FULL)))


class Fingerprint(BaseModel):
    """What an incident looked like; JSON-safe (stored in `cases.fingerprint`)."""

    model_config = ConfigDict(frozen=True)

    suspects: tuple[str, ...] = ()  # a case: its confirmed service; an answer: the engine's strongest candidates
    cause_kind: str | None = None  # of the first suspect
    signals: dict[str, float] = Field(default_factory=dict)  # "svc signal up" -> strength
    edges: dict[str, float] = Field(default_factory=dict)  # "client → server latency up" -> strength
    logs: dict[str, float] = Field(default_factory=dict)  # "svc: template" -> 1
    alerts: dict[str, float] = Field(default_factory=dict)  # "AlertName on svc" -> 1
    deploys: dict[str, float] = Field(default_factory=dict)  # "svc" -> 1

    def confirmed(self, service: str, cause_kind: str | None) -> Fingerprint:
        """This fingerprint as a case: the cause a person confirmed replaces the engine's guesses."""
        return self.model_copy(update={"suspects": (service,), "cause_kind": cause_kind or self.cause_kind})

    @property
    def root(self) -> str | None:
        return self.suspects[0] if self.suspects else None

    @property
    def empty(self) -> bool:
        return not (self.signals or self.edges or self.logs or self.alerts or self.deploys)


@dataclass(frozen=True)
class Part:
    name: str
    score: float  # 0..1
    weight: float
    text: str  # what matched, in words


@dataclass(frozen=True)
class Similarity:
    score: float  # 0..1, the weighted mean of the parts present
    parts: tuple[Part, ...]

    def because(self, limit: int = 3) -> str:
        """The parts that matched most, as one sentence fragment."""
        shown = sorted((p for p in self.parts if p.score > 0), key=lambda p: -p.score * p.weight)[:limit]
        return "; ".join(p.text for p in shown) or "nothing specific matched"


# -- building fingerprints ---------------------------------------------------------------------------------------

def _template(text: str) -> str:
    return _NUMBERS.sub("<n>", " ".join(text.split()))[:160]


def _add(into: dict[str, float], key: str, weight: float) -> None:
    into[key] = max(into.get(key, 0.0), round(weight, 4))


def fingerprint_of(inv: Investigation) -> Fingerprint:
    """What an answered investigation saw: its anomalies (signals and calls), new error-log templates, firing
    alerts, deploys shortly before the window's end, and the engine's three strongest candidates."""
    signals: dict[str, float] = {}
    edges: dict[str, float] = {}
    logs: dict[str, float] = {}
    alerts: dict[str, float] = {}
    deploys: dict[str, float] = {}
    start = inv.window.start.timestamp() - DEPLOY_LOOKBACK_S
    end = inv.window.end.timestamp()
    for e in inv.evidence:
        d = e.data
        if e.status != "ok":
            continue
        if e.kind == "anomaly" and e.service and d.get("signal"):
            _add(signals, f"{e.service} {d['signal']} {d.get('direction', 'up')}", strength(d.get("z")))
        elif e.kind == "edge_anomaly" and d.get("client") and d.get("server"):
            _add(edges, f"{d['client']} → {d['server']} {d.get('finding', '?')} {d.get('direction', 'up')}",
                 strength(d.get("z")))
        elif e.kind == "log_shift" and e.service and d.get("kind") == "new" and d.get("template"):
            _add(logs, f"{e.service}: {_template(str(d['template']))}", 1.0)
        elif e.kind == "alert" and d.get("alertname"):
            _add(alerts, f"{d['alertname']} on {e.service or '?'}", 1.0)
        elif e.kind == "deploy" and e.service and d.get("deployed_at"):
            at = datetime.fromisoformat(d["deployed_at"]).timestamp()
            if start <= at <= end:
                _add(deploys, e.service, 1.0)
    top = inv.ranking[:3]
    return Fingerprint(suspects=tuple(r.service for r in top), cause_kind=top[0].cause_kind if top else None,
                       signals=signals, edges=edges, logs=logs, alerts=alerts, deploys=deploys)


def fingerprint_of_analysis(result: Analysis, evidence: Sequence[EngineEvidence],
                            window: tuple[float, float]) -> Fingerprint:
    """The same fingerprint from the pure engine's output and its typed inputs (what the benchmark replays):
    `fingerprint_of` of the investigation built from them, up to log templates, which the typed evidence carries
    only as their label (so a shift counts by service and kind)."""
    signals: dict[str, float] = {}
    edges: dict[str, float] = {}
    logs: dict[str, float] = {}
    alerts: dict[str, float] = {}
    deploys: dict[str, float] = {}
    for findings in result.signal_findings.values():
        for f in findings:
            _add(signals, f"{f.series.service} {f.series.signal} {f.anomaly.direction}", strength(f.anomaly.z))
    for ef in result.edge_findings:
        _add(edges, f"{ef.client} → {ef.server} {ef.kind} {ef.anomaly.direction}", strength(ef.anomaly.z))
    start, end = window[0] - DEPLOY_LOOKBACK_S, window[1]
    for item in evidence:
        if isinstance(item, LogShift) and item.kind == "new" and item.first_seen is not None:
            _add(logs, f"{item.service}: {_template(item.text.split(':', 1)[0])}", 1.0)
        elif isinstance(item, AlertEvent):
            _add(alerts, f"{item.alertname} on {item.service or '?'}", 1.0)
        elif isinstance(item, DeployEvent) and start <= item.at <= end:
            _add(deploys, item.service, 1.0)
    top = result.candidates[:3]
    return Fingerprint(suspects=tuple(c.service for c in top), cause_kind=top[0].cause_kind if top else None,
                       signals=signals, edges=edges, logs=logs, alerts=alerts, deploys=deploys)


# -- comparing ---------------------------------------------------------------------------------------------------

def _overlap(a: Mapping[str, float], b: Mapping[str, float]) -> tuple[float, list[str]]:
    """Weighted Jaccard (sum of minima / sum of maxima) and the keys in both, strongest first."""
    keys = set(a) | set(b)
    top = math.fsum(max(a.get(k, 0.0), b.get(k, 0.0)) for k in keys)
    if top <= 0:
        return 0.0, []
    both = sorted(set(a) & set(b), key=lambda k: (-min(a[k], b[k]), k))
    return math.fsum(min(a.get(k, 0.0), b.get(k, 0.0)) for k in keys) / top, both


def _listed(keys: list[str], limit: int = 3, width: int = 60) -> str:
    more = f", +{len(keys) - limit} more" if len(keys) > limit else ""
    return ", ".join(k if len(k) <= width else k[:width - 1] + "…" for k in keys[:limit]) + more


_NOUNS = {"signals": "anomalous signals", "edges": "call findings", "logs": "new error templates",
          "alerts": "alerts", "deploys": "recent deploys"}


def _set_part(name: str, a: Mapping[str, float], b: Mapping[str, float]) -> Part | None:
    if not a and not b:
        return None
    score, both = _overlap(a, b)
    union = len(set(a) | set(b))
    if name == "alerts" and both:
        text = f"alert {_listed(both)} in both"
    elif name == "deploys" and both:
        text = f"{_listed(both)} deployed just before, both times"
    elif both:
        text = f"{len(both)} of {union} {_NOUNS[name]} match: {_listed(both)}"
    else:
        text = f"no {_NOUNS[name]} in common (0 of {union})"
    return Part(name, score, WEIGHTS[name], text)


def _suspect_part(a: Fingerprint, b: Fingerprint) -> Part | None:
    if not a.suspects or not b.suspects:
        return None
    if a.root == b.root:
        return Part("suspect", 1.0, WEIGHTS["suspect"], f"same root service {a.root}")
    if a.root in b.suspects or b.root in a.suspects:
        shared = a.root if a.root in b.suspects else b.root
        return Part("suspect", 0.5, WEIGHTS["suspect"], f"{shared} among the suspects both times")
    return Part("suspect", 0.0, WEIGHTS["suspect"], f"different root service ({a.root} vs {b.root})")


def _kind_part(a: Fingerprint, b: Fingerprint) -> Part | None:
    if a.cause_kind is None or b.cause_kind is None:
        return None
    same = a.cause_kind == b.cause_kind
    text = f"same kind of cause ({a.cause_kind})" if same else f"different kind ({a.cause_kind} vs {b.cause_kind})"
    return Part("kind", 1.0 if same else 0.0, WEIGHTS["kind"], text)


def similarity(a: Fingerprint, b: Fingerprint) -> Similarity:
    """How alike two fingerprints are, part by part: symmetric, in [0, 1], 1 when identical."""
    parts = [p for p in (
        _suspect_part(a, b), _kind_part(a, b),
        *(_set_part(name, getattr(a, name), getattr(b, name)) for name in ("signals", "edges", "logs", "alerts",
                                                                         "deploys"))) if p is not None]
    if not parts:  # nothing to compare: alike only if they are the same (empty) fingerprint
        return Similarity(1.0 if a == b else 0.0, ())
    total = math.fsum(p.weight for p in parts)
    score = math.fsum(p.weight * p.score for p in parts) / total
    return Similarity(round(min(1.0, max(0.0, score)), 6), tuple(parts))


def nearest(items: Iterable[tuple[T, Fingerprint]], fp: Fingerprint, k: int = 3) -> list[tuple[T, Similarity]]:
    """The `k` items most similar to `fp`, closest first (ties keep the order given: pass the newest first)."""
    scored = [(item, similarity(case, fp)) for item, case in items]
    ranked = sorted(range(len(scored)), key=lambda i: (-scored[i][1].score, i))
    return [scored[i] for i in ranked[:k]]


def describe(fp: Fingerprint) -> dict[str, Any]:
    """A short JSON summary (for the audit): counts per part and the suspects."""
    return {"suspects": list(fp.suspects), "cause_kind": fp.cause_kind,
            **{n: len(getattr(fp, n)) for n in ("signals", "edges", "logs", "alerts", "deploys")}}
