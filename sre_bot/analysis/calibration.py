"""How far to trust a stated confidence: scores (Brier, ECE), reliability bins, and a fitted mapping. Pure.

A calibration is fitted from any list of `(confidence, correct)` points — the scenario library's answers
(`sre-bot eval`), or a team's own feedback on answers later — and says where its points came from and how many
there were, so an answer can say "calibrated on the scenario library, 27 answers".

The mapping is Platt scaling on the log-odds of the stated confidence, `p = sigmoid(a * logit(c) + b)`, fitted by
Newton's method with Platt's target smoothing (a correct answer counts as (n+ + 1) / (n+ + 2), a wrong one as
1 / (n- + 2)), so a handful of points cannot produce 0 or 1. It is monotone and never inverts the engine's order:
a fitted negative slope is clamped to 0 (every confidence then maps to the smoothed base rate). Below
`MIN_POINTS`, or with a single class, `fit` returns the identity: too little to learn from.

    points = [CalibrationPoint(0.66, True), CalibrationPoint(0.41, False), ...]
    cal = Calibration.fit(points, source="scenario library")
    cal.apply(0.66), brier(points), expected_calibration_error(points), reliability_bins(points)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["CalibrationPoint", "ReliabilityBin", "Calibration", "brier", "expected_calibration_error",
           "reliability_bins", "choose_calibration", "MIN_POINTS", "MIN_FEEDBACK_POINTS", "BINS"]

MIN_POINTS = 8  # fewer points than this: `fit` gives the identity
MIN_FEEDBACK_POINTS = 30  # a team's own feedback replaces the library's calibration from this many points
BINS = 10
_EPS = 1e-4


@dataclass(frozen=True)
class CalibrationPoint:
    confidence: float  # what the answer stated, 0..1
    correct: bool  # whether it was right (for the engine: its top service is the true root service)


@dataclass(frozen=True)
class ReliabilityBin:
    lo: float
    hi: float
    count: int
    mean_confidence: float | None
    accuracy: float | None


def _clip(c: float) -> float:
    return min(1 - _EPS, max(_EPS, float(c)))


def _logit(c: float) -> float:
    c = _clip(c)
    return math.log(c / (1 - c))


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x)) if x >= 0 else math.exp(x) / (1 + math.exp(x))


def brier(points: Sequence[CalibrationPoint]) -> float | None:
    """Mean squared error of the confidences against the outcomes (0 is perfect; always saying 0.5 scores 0.25)."""
    if not points:
        return None
    return sum((p.confidence - (1.0 if p.correct else 0.0)) ** 2 for p in points) / len(points)


def reliability_bins(points: Sequence[CalibrationPoint], bins: int = BINS) -> list[ReliabilityBin]:
    """Equal-width confidence bins [0, 0.1), …, [0.9, 1.0]: how many points, their mean confidence and accuracy."""
    groups: list[list[CalibrationPoint]] = [[] for _ in range(bins)]
    for p in points:
        groups[min(bins - 1, max(0, int(p.confidence * bins)))].append(p)
    out = []
    for i, g in enumerate(groups):
        out.append(ReliabilityBin(
            lo=i / bins, hi=(i + 1) / bins, count=len(g),
            mean_confidence=sum(p.confidence for p in g) / len(g) if g else None,
            accuracy=sum(1 for p in g if p.correct) / len(g) if g else None))
    return out


def expected_calibration_error(points: Sequence[CalibrationPoint], bins: int = BINS) -> float | None:
    """Sum over bins of (share of points) × |accuracy − mean confidence|; None without points."""
    if not points:
        return None
    n = len(points)
    return sum(b.count / n * abs((b.accuracy or 0.0) - (b.mean_confidence or 0.0))
               for b in reliability_bins(points, bins) if b.count)


@dataclass(frozen=True)
class Calibration:
    """`apply(c)` maps a stated confidence to the probability of being right, learned from `points` answers."""

    method: Literal["platt", "identity"]
    a: float
    b: float
    source: str  # where the points came from: "scenario library", "team feedback", ...
    points: int
    correct: int

    def apply(self, confidence: float) -> float:
        if self.method == "identity":
            return float(confidence)
        return _sigmoid(self.a * _logit(confidence) + self.b)

    def describe(self) -> str:
        """One line for an answer: which calibration, on how many points."""
        if self.method == "identity":
            return f"confidence not calibrated ({self.points} {self.source} answers are too few)"
        return f"confidence calibrated on the {self.source} ({self.points} answers, {self.correct} right)"

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "a": self.a, "b": self.b, "source": self.source, "points": self.points,
                "correct": self.correct}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Calibration:
        method = data.get("method")
        if method not in ("platt", "identity"):
            raise ValueError(f"unknown calibration method {method!r}")
        return cls(method=method, a=float(data["a"]), b=float(data["b"]), source=str(data["source"]),
                   points=int(data["points"]), correct=int(data["correct"]))

    @classmethod
    def identity(cls, source: str = "none", points: int = 0, correct: int = 0) -> Calibration:
        return cls(method="identity", a=1.0, b=0.0, source=source, points=points, correct=correct)

    @classmethod
    def fit(cls, points: Sequence[CalibrationPoint], *, source: str, min_points: int = MIN_POINTS,
            iterations: int = 100) -> Calibration:
        n_pos = sum(1 for p in points if p.correct)
        n_neg = len(points) - n_pos
        if len(points) < min_points or n_pos == 0 or n_neg == 0:
            return cls.identity(source, len(points), n_pos)
        xs = [_logit(p.confidence) for p in points]
        hi, lo = (n_pos + 1) / (n_pos + 2), 1 / (n_neg + 2)
        ts = [hi if p.correct else lo for p in points]
        a, b = _newton(xs, ts, 1.0, 0.0, iterations, fit_slope=True)
        if a < 0:  # anti-informative scores: keep the order, give the base rate
            a, b = _newton(xs, ts, 0.0, 0.0, iterations, fit_slope=False)
        return cls(method="platt", a=a, b=b, source=source, points=len(points), correct=n_pos)


def _newton(xs: list[float], ts: list[float], a: float, b: float, iterations: int, *, fit_slope: bool,
            ) -> tuple[float, float]:
    """Minimise the cross-entropy of sigmoid(a·x + b) against targets `ts` (a fixed when not `fit_slope`)."""
    for _ in range(iterations):
        ga = gb = haa = hab = hbb = 0.0
        for x, t in zip(xs, ts, strict=False):
            p = _sigmoid(a * x + b)
            d, w = p - t, max(p * (1 - p), 1e-12)
            ga += d * x
            gb += d
            haa += w * x * x
            hab += w * x
            hbb += w
        haa, hbb = haa + 1e-9, hbb + 1e-9  # a tiny ridge keeps the step finite
        if fit_slope:
            det = haa * hbb - hab * hab
            if det <= 0:
                break
            da, db = (hbb * ga - hab * gb) / det, (haa * gb - hab * ga) / det
        else:
            da, db = 0.0, gb / hbb
        a, b = a - da, b - db
        if abs(da) < 1e-10 and abs(db) < 1e-10:
            break
    return a, b


def choose_calibration(library: Calibration | None, feedback: Calibration | None, *,
                       min_feedback: int = MIN_FEEDBACK_POINTS) -> Calibration | None:
    """The team's own calibration once it rests on `min_feedback` points and is fitted, else the library's."""
    if feedback is not None and feedback.method != "identity" and feedback.points >= min_feedback:
        return feedback
    return library
