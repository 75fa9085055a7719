"""How far to trust a stated confidence: scores (Brier, ECE), reliability bins, and fitted mappings. Pure (no I/O).

Two mappings live here.

**The shipped calibration** turns the engine's ranking into one probability per hypothesis: "the probability that
this service is the root cause". It reads each hypothesis's place in the ranking (`ranking_features`: the engine's
own confidence, its rank, its score, its share of the top score, its lead over the next, how many candidates there
were) and maps them through one of four methods, chosen by leave-one-dataset-out on real ground truth
(`benchmarks/calibrate.py`): `identity` (the engine's number as is), `platt` (a logistic curve on the log-odds of
the engine's confidence), `isotonic` (a monotone step curve on it) or `logistic` (a small logistic regression on
every ranking feature). The fit uses scikit-learn; applying a fitted calibration is plain arithmetic on the stored
parameters, so answering a question never imports it.

**A team's recalibration** (`Calibration.fit`) is Platt scaling fitted on the team's own votes: a point per vote,
(the probability the answer showed, whether the vote said the top cause was right). With Platt's target smoothing
(a right answer counts as (n+ + 1) / (n+ + 2), a wrong one as 1 / (n- + 2)) a handful of points cannot produce 0 or
1; a negative slope is clamped to 0 (every value then maps to the smoothed base rate), so it never inverts the
order. Below `MIN_POINTS`, or with a single class, it is the identity.

    cal.rank_probabilities(scores, confidences)   # one probability per ranked candidate, in rank order
    team = Calibration.fit([CalibrationPoint(0.66, True), ...], source="team's feedback"); team.apply(0.66)
    brier(points), expected_calibration_error(points), reliability_bins(points)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["CalibrationPoint", "ReliabilityBin", "Calibration", "Method", "METHODS", "RANK_FEATURES",
           "ranking_features", "fit_method", "brier", "expected_calibration_error", "reliability_bins",
           "choose_calibration", "MIN_POINTS", "MIN_FEEDBACK_POINTS", "BINS", "SHOWN", "TEAM_SOURCE"]

MIN_POINTS = 8  # fewer points than this: `fit` gives the identity
MIN_FEEDBACK_POINTS = 30  # a team's own feedback recalibrates from this many votes (with both outcomes)
TEAM_SOURCE = "team's feedback"  # the source of a team's recalibration (what `Calibration.fit` is for)
BINS = 10
SHOWN = 1  # candidates of each ranking the calibration is fitted on: the top one (what "was it right" scores)
_EPS = 1e-4
MAX_PROBABILITY = 0.99  # a few hundred answers cannot support "certain": nothing is shown above this

Method = Literal["identity", "platt", "isotonic", "logistic"]
METHODS: tuple[Method, ...] = ("identity", "platt", "isotonic", "logistic")
RANK_FEATURES = ("logit_confidence", "log_candidates")


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


def ranking_features(scores: Sequence[float], confidences: Sequence[float]) -> list[tuple[float, ...]]:
    """One feature row per ranked candidate, in rank order (`RANK_FEATURES`): the log-odds of the engine's own
    confidence (which already holds its score, its lead over the runner-up and the systems it could not check) and
    log(1 + number of candidates) — how many services moved at all: one clear anomaly in a quiet system is a
    stronger answer than the strongest of twenty in a noisy one. Richer rows (rank, score, share of the top score,
    lead) fitted better in sample and worse out of sample (`benchmarks/calibrate.py`), so they are not used."""
    n = len(scores)
    return [(_logit(c), math.log1p(n)) for c in confidences[:n]]


def _interp(x: float, xs: Sequence[float], ys: Sequence[float]) -> float:
    """Piecewise-linear through (xs, ys), flat beyond the ends (as scikit-learn's isotonic `clip` predicts)."""
    if x <= xs[0]:
        return ys[0]
    if x >= xs[-1]:
        return ys[-1]
    lo, hi = 0, len(xs) - 1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if xs[mid] <= x:
            lo = mid
        else:
            hi = mid
    span = xs[hi] - xs[lo]
    return ys[lo] if span <= 0 else ys[lo] + (ys[hi] - ys[lo]) * (x - xs[lo]) / span


@dataclass(frozen=True)
class Calibration:
    """A fitted mapping onto "probability this hypothesis is the root cause", and what it was fitted on.

    `platt`: p = sigmoid(a·logit(c) + b) on the engine's confidence c. `isotonic`: piecewise-linear through
    (`xs`, `ys`) on c. `logistic`: sigmoid(intercept + Σ coef·(feature − mean)/scale) over `RANK_FEATURES`."""

    method: Method
    source: str  # where the points came from: "scenario library + Nezha", "team's feedback", ...
    points: int  # answers (top hypotheses) it was fitted on
    correct: int  # of which right
    a: float = 1.0
    b: float = 0.0
    xs: tuple[float, ...] = ()
    ys: tuple[float, ...] = ()
    mean: tuple[float, ...] = ()
    scale: tuple[float, ...] = ()
    coef: tuple[float, ...] = ()
    intercept: float = 0.0
    meta: Mapping[str, Any] = field(default_factory=dict, compare=False)  # datasets, engine digest, scores, …

    def apply(self, confidence: float) -> float:
        """The probability for one stated confidence (not for `logistic`, which needs the whole ranking)."""
        if self.method == "identity":
            return float(confidence)
        if self.method == "platt":
            return _sigmoid(self.a * _logit(confidence) + self.b)
        if self.method == "isotonic":
            return _interp(float(confidence), self.xs, self.ys)
        raise ValueError("a logistic calibration reads the whole ranking: use rank_probabilities")

    def _row(self, row: Sequence[float]) -> float:
        z = self.intercept + sum(c * (v - m) / s for c, v, m, s in zip(self.coef, row, self.mean, self.scale,
                                                                      strict=True))
        return _sigmoid(z)

    def rank_probabilities(self, scores: Sequence[float], confidences: Sequence[float]) -> list[float]:
        """One probability per ranked candidate (rank order), each that this candidate is the root cause, to two
        decimals, at most `MAX_PROBABILITY`. The fit is on top answers; a runner-up gets its own mapped value, but
        never more than the one ranked above it (the order is kept) nor more than what the candidates above it
        leave: at most one of them is the root cause, so together they never claim more than 1."""
        if self.method != "logistic":
            raw = [self.apply(c) for c in confidences]
        else:
            raw = [self._row(r) for r in ranking_features(scores, confidences)]
        out: list[float] = []
        for p in raw:
            p = min(p, MAX_PROBABILITY)
            if out:
                p = min(p, out[-1], max(0.0, 1.0 - sum(out)))
            out.append(round(p, 2))
        return out

    def describe(self) -> str:
        """One line for an answer: which calibration, on how many points."""
        if self.method == "identity" and self.points < MIN_POINTS:
            return f"confidence not calibrated ({self.points} {self.source} answers are too few)"
        if self.method == "identity":
            return f"confidence as the engine states it (checked on the {self.source}: {self.points} answers)"
        return f"confidence calibrated on the {self.source} ({self.points} answers, {self.correct} right)"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"method": self.method, "source": self.source, "points": self.points,
                               "correct": self.correct}
        if self.method == "platt":
            out.update(a=self.a, b=self.b)
        elif self.method == "isotonic":
            out.update(xs=list(self.xs), ys=list(self.ys))
        elif self.method == "logistic":
            out.update(features=list(RANK_FEATURES), mean=list(self.mean), scale=list(self.scale),
                       coef=list(self.coef), intercept=self.intercept)
        return {**out, **dict(self.meta)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Calibration:
        method = data.get("method")
        if method not in METHODS:
            raise ValueError(f"unknown calibration method {method!r}")
        known = {"method", "source", "points", "correct", "a", "b", "xs", "ys", "features", "mean", "scale", "coef",
                 "intercept"}
        common: dict[str, Any] = {"source": str(data["source"]), "points": int(data["points"]),
                                  "correct": int(data["correct"]),
                                  "meta": {k: v for k, v in data.items() if k not in known}}
        if method == "platt":
            return cls(method="platt", a=float(data["a"]), b=float(data["b"]), **common)
        if method == "isotonic":
            xs, ys = tuple(map(float, data["xs"])), tuple(map(float, data["ys"]))
            if not xs or len(xs) != len(ys) or list(xs) != sorted(xs):
                raise ValueError("an isotonic calibration needs sorted xs and as many ys")
            return cls(method="isotonic", xs=xs, ys=ys, **common)
        if method == "logistic":
            if tuple(data.get("features") or ()) != RANK_FEATURES:
                raise ValueError(f"a logistic calibration for other features {data.get('features')!r}")
            vecs = [tuple(map(float, data[k])) for k in ("mean", "scale", "coef")]
            if any(len(v) != len(RANK_FEATURES) for v in vecs) or any(s <= 0 for s in vecs[1]):
                raise ValueError("a logistic calibration needs a mean, a positive scale and a coefficient per feature")
            return cls(method="logistic", mean=vecs[0], scale=vecs[1], coef=vecs[2],
                       intercept=float(data["intercept"]), **common)
        return cls(method="identity", **common)

    @classmethod
    def identity(cls, source: str = "none", points: int = 0, correct: int = 0) -> Calibration:
        return cls(method="identity", source=source, points=points, correct=correct)

    @classmethod
    def fit(cls, points: Sequence[CalibrationPoint], *, source: str, min_points: int = MIN_POINTS) -> Calibration:
        """Platt scaling with target smoothing on (shown confidence, right) points: a team's recalibration."""
        n_pos = sum(1 for p in points if p.correct)
        n_neg = len(points) - n_pos
        if len(points) < min_points or n_pos == 0 or n_neg == 0:
            return cls.identity(source, len(points), n_pos)
        hi, lo = (n_pos + 1) / (n_pos + 2), 1 / (n_neg + 2)
        a, b = _platt([_logit(p.confidence) for p in points], [hi if p.correct else lo for p in points])
        return cls(method="platt", a=a, b=b, source=source, points=len(points), correct=n_pos)


def _platt(xs: Sequence[float], targets: Sequence[float], weights: Sequence[float] | None = None,
           ) -> tuple[float, float]:
    """Minimise the cross-entropy of sigmoid(a·x + b) against soft `targets` (scikit-learn's logistic regression,
    unpenalised, each point as a right and a wrong copy weighted by its target and its own weight); a negative
    slope is clamped to 0 and only the intercept fitted (the weighted mean target)."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    ws = list(weights) if weights is not None else [1.0] * len(xs)
    x = np.asarray(list(xs) * 2, dtype=float).reshape(-1, 1)
    y = np.asarray([1] * len(xs) + [0] * len(xs))
    w = np.asarray([t * v for t, v in zip(targets, ws, strict=True)]
                   + [(1 - t) * v for t, v in zip(targets, ws, strict=True)], dtype=float)
    model = LogisticRegression(C=1e6, max_iter=1000).fit(x, y, sample_weight=w)
    a, b = float(model.coef_[0][0]), float(model.intercept_[0])
    if a < 0:
        a, b = 0.0, _logit(sum(t * v for t, v in zip(targets, ws, strict=True)) / sum(ws))
    return a, b


def fit_method(method: Method, rankings: Sequence[tuple[Sequence[float], Sequence[float], Sequence[bool]]], *,
               source: str, weights: Sequence[float] | None = None, meta: Mapping[str, Any] | None = None,
               ) -> Calibration:
    """Fit `method` on rankings: per question (scores, engine confidences, which candidate is the root), rank
    order, with an optional weight per question (e.g. so that every dataset counts the same). Each question's top
    `SHOWN` candidate(s) are points; `points`/`correct` count the top ones."""
    import numpy as np

    rows: list[tuple[float, ...]] = []
    conf: list[float] = []
    ys: list[int] = []
    ws: list[float] = []
    tops = right = 0
    for i, (scores, confs, truth) in enumerate(rankings):
        k = min(SHOWN, len(scores))
        if not k:
            continue
        tops += 1
        right += bool(truth[0])
        rows += ranking_features(scores, confs)[:k]
        conf += [float(c) for c in confs[:k]]
        ys += [int(bool(t)) for t in truth[:k]]
        ws += [float(weights[i]) if weights is not None else 1.0] * k
    common: dict[str, Any] = {"source": source, "points": tops, "correct": right, "meta": dict(meta or {})}
    if method == "identity" or len(set(ys)) < 2:
        return Calibration(method="identity", **common)
    y = np.asarray(ys)
    w = np.asarray(ws) / (sum(ws) / len(ws))
    if method == "platt":
        a, b = _platt([_logit(c) for c in conf], ys, list(w))
        return Calibration(method="platt", a=a, b=b, **common)
    if method == "isotonic":
        from sklearn.isotonic import IsotonicRegression

        iso = IsotonicRegression(y_min=0.01, y_max=0.99, out_of_bounds="clip").fit(np.asarray(conf), y,
                                                                                      sample_weight=w)
        return Calibration(method="isotonic", xs=tuple(float(v) for v in iso.X_thresholds_),
                           ys=tuple(float(v) for v in iso.y_thresholds_), **common)
    from sklearn.linear_model import LogisticRegression

    x = np.asarray(rows, dtype=float)
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale <= 1e-9] = 1.0
    model = LogisticRegression(C=1.0, max_iter=2000).fit((x - mean) / scale, y, sample_weight=w)
    return Calibration(method="logistic", mean=tuple(map(float, mean)), scale=tuple(map(float, scale)),
                       coef=tuple(float(v) for v in model.coef_[0]), intercept=float(model.intercept_[0]), **common)


def choose_calibration(library: Calibration | None, feedback: Calibration | None, *,
                       min_feedback: int = MIN_FEEDBACK_POINTS) -> Calibration | None:
    """The team's own recalibration once it rests on `min_feedback` points and is fitted, else None (the shipped
    calibration alone). `library` is kept for callers that compare the two."""
    if feedback is not None and feedback.method != "identity" and feedback.points >= min_feedback:
        return feedback
    return library
