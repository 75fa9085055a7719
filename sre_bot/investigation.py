"""What an investigation answers: ranked hypotheses with their evidence, a timeline, what was checked, the gaps."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from .models import Evidence, TimeRange

__all__ = ["Hypothesis", "RankedService", "TimelineEntry", "Investigation", "ENGINE_VERSION", "CONFIDENCE_MEANS"]

ENGINE_VERSION = "stats-v2"
CONFIDENCE_MEANS = ("the probability that the hypothesis is the root cause, calibrated on real ground truth "
                    "(see `calibration`); `engine_confidence` is the engine's own, uncalibrated number")


class RankedService(BaseModel):
    service: str
    score: float  # the engine's score, 0..1 (its order)
    confidence: float  # the probability this service is the root cause (calibrated; services/confidence.py)
    engine_confidence: float | None = None  # the engine's own, uncalibrated number
    cause: str
    cause_kind: str
    reasons: list[str] = Field(default_factory=list)
    parts: dict[str, float] = Field(default_factory=dict)  # which evidence moved the score, and by how much


class Hypothesis(BaseModel):
    service: str
    cause: str
    cause_kind: str
    confidence: float  # the probability this hypothesis is the root cause (calibrated)
    engine_confidence: float | None = None  # the engine's own, uncalibrated number
    reasons: list[str] = Field(default_factory=list)
    evidence: list[Evidence] = Field(default_factory=list)


class TimelineEntry(BaseModel):
    at: datetime
    service: str | None = None
    text: str
    evidence_id: str | None = None


class Investigation(BaseModel):
    question: str
    focus: str | None = None
    symptom: str | None = None
    summary: str
    window: TimeRange
    baseline: TimeRange
    insufficient: bool = False
    # why it abstained: "nothing anomalous", "below threshold" (the top probability), "past episode" (all over)
    abstain_reason: str | None = None
    hypotheses: list[Hypothesis] = Field(default_factory=list)
    ranking: list[RankedService] = Field(default_factory=list)
    timeline: list[TimelineEntry] = Field(default_factory=list)
    checked: list[str] = Field(default_factory=list)
    gaps: list[str] = Field(default_factory=list)
    evidence: list[Evidence] = Field(default_factory=list)
    services: list[str] = Field(default_factory=list)
    engine: str = ENGINE_VERSION
    graph: dict[str, list[str]] = Field(default_factory=dict)  # the dependency graph the engine used
    calibration: str | None = None  # what the confidences are calibrated on (Calibration.describe)
    abstain_below: float | None = None  # the top probability under which the answer is "insufficient evidence"

    def to_json(self) -> dict[str, Any]:
        """The stable JSON shape of `sre-bot ask --json`."""
        def ev(e: Evidence) -> dict[str, Any]:
            return {"id": e.id, "source": e.source, "kind": e.kind, "label": e.label, "query": e.query,
                    "quote": e.quote, "url": e.url, "status": e.status,
                    "window": {"start": e.window.start.isoformat(), "end": e.window.end.isoformat()}
                    if e.window else None}

        return {
            "question": self.question, "engine": self.engine, "summary": self.summary,
            "insufficient_evidence": self.insufficient, "abstain_reason": self.abstain_reason,
            "focus": self.focus, "symptom": self.symptom,
            "confidence_means": CONFIDENCE_MEANS, "calibration": self.calibration,
            "abstain_below": self.abstain_below,
            "window": {"start": self.window.start.isoformat(), "end": self.window.end.isoformat()},
            "baseline": {"start": self.baseline.start.isoformat(), "end": self.baseline.end.isoformat()},
            "hypotheses": [{"service": h.service, "cause": h.cause, "cause_kind": h.cause_kind,
                            "confidence": h.confidence, "engine_confidence": h.engine_confidence,
                            "reasons": h.reasons,
                            "evidence": [ev(e) for e in h.evidence]} for h in self.hypotheses],
            "ranking": [r.model_dump() for r in self.ranking],
            # abstained below the threshold: the strongest candidates, as leads to check (not a named cause)
            "leads": [r.service for r in self.ranking[:3]] if self.abstain_reason == "below threshold" else [],
            "timeline": [{"at": t.at.isoformat(), "service": t.service, "text": t.text,
                          "evidence_id": t.evidence_id} for t in self.timeline],
            "checked": self.checked, "gaps": self.gaps, "services": self.services,
        }
