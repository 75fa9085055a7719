"""Fitting the shipped calibration: pooled datasets, the method chosen out of sample, the abstention threshold.

Input: questions with ground truth, each the engine's ranking (scores, its own confidences, which candidate is the
true root; no candidate is when nothing is wrong) and the dataset it comes from ("scenario library",
"Nezha OnlineBoutique", …). `benchmarks/calibrate.py` gathers them; this module only computes.

- **Choice of method, leave-one-dataset-out.** Each method of `analysis.calibration.METHODS` is fitted on every
  dataset but one (each dataset weighing the same, whatever its size) and scored on that one (the top hypothesis's
  probability against "was the top one the root"); the method with the lowest mean held-out Brier score across
  datasets wins and is refitted on all of them. These held-out scores are what the README quotes: never in-sample.
- **Baselines**, per dataset: always saying the dataset's own base rate (the Brier score a constant that already
  knew the dataset would get: a high bar), and the engine's own uncalibrated number.
- **Abstention**: with every question's held-out probability, each threshold's share of no-fault questions that
  abstain (right) and of fault questions that abstain (a missed answer), and of the answers given, how many are
  right. The shipped threshold is the one that maximises right answers named minus wrong answers named per
  question (a confidently wrong cause costs the on-call engineer as much as a right one saves), averaged over the
  datasets.
- **Staleness**: `scoring_digest()` hashes the code that makes the scores and features (the engine, its anomaly
  judgement, its evidence types and graph, the calibration features), parsed, so comments and docstrings do not
  count; the calibration file records it and CI fails when the two differ
  (`tests/evaluation/test_calibration_fresh.py`).
"""

from __future__ import annotations

import ast
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

from ..analysis.calibration import (
    METHODS,
    Calibration,
    CalibrationPoint,
    Method,
    brier,
    expected_calibration_error,
    fit_method,
    reliability_bins,
)

__all__ = ["Question", "balanced", "scoring_digest", "SCORING_FILES", "held_out", "score_points", "choose",
           "thresholds_table", "pick_threshold", "HIGH"]

SCORING_FILES = ("analysis/engine.py", "analysis/anomaly.py", "analysis/evidence.py", "analysis/graph.py",
                 "analysis/calibration.py")
HIGH = 0.8  # "at confidence ≥ 0.8": the share of those answers that are right
THRESHOLDS = tuple(round(0.05 * i, 2) for i in range(0, 15))  # 0.0 … 0.7


@dataclass(frozen=True)
class Question:
    dataset: str
    name: str
    scores: tuple[float, ...]  # the engine's ranking, best first (0..1)
    confidences: tuple[float, ...]  # the engine's own confidence per candidate
    truth: tuple[bool, ...]  # which candidate is the true root (all False when nothing is wrong or it is missed)
    fault: bool  # a fault was injected (False: a no-fault window or a no-cause scenario)
    forced: bool = False  # the answer abstains whatever the probability (a past episode asked about now)

    @property
    def ranked(self) -> bool:
        return bool(self.scores)

    def ranking(self) -> tuple[Sequence[float], Sequence[float], Sequence[bool]]:
        return self.scores, self.confidences, self.truth


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and body
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return tree


def scoring_digest() -> str:
    """A hash of the scoring code as parsed (comments, docstrings and layout do not count)."""
    h = hashlib.sha256()
    root = resources.files("sre_bot")
    for rel in SCORING_FILES:
        src = root.joinpath(*rel.split("/")).read_text(encoding="utf-8")
        h.update(rel.encode() + b"\0" + ast.dump(_strip_docstrings(ast.parse(src))).encode() + b"\0")
    return h.hexdigest()[:16]


def _top_points(cal: Calibration | None, questions: Iterable[Question]) -> list[CalibrationPoint]:
    """The top hypothesis of every question that ranked something: (its probability, was it the root)."""
    out = []
    for q in questions:
        if not q.ranked:
            continue
        p = cal.rank_probabilities(q.scores, q.confidences)[0] if cal is not None else q.confidences[0]
        out.append(CalibrationPoint(p, q.truth[0]))
    return out


def score_points(points: Sequence[CalibrationPoint]) -> dict[str, Any]:
    """Brier, ECE, the base-rate baseline, the reliability bins and the ≥ HIGH slice of a list of top points."""
    n = len(points)
    right = sum(p.correct for p in points)
    rate = right / n if n else None
    high = [p for p in points if p.confidence >= HIGH]
    return {
        "points": n, "right": right, "brier": brier(points), "ece": expected_calibration_error(points),
        "base_rate": rate, "brier_base_rate": rate * (1 - rate) if rate is not None else None,
        "mean_confidence": sum(p.confidence for p in points) / n if n else None,
        "mean_when_right": _mean([p.confidence for p in points if p.correct]),
        "mean_when_wrong": _mean([p.confidence for p in points if not p.correct]),
        "high": {"at_least": HIGH, "answers": len(high), "right": sum(p.correct for p in high)},
        "bins": [b.__dict__ for b in reliability_bins(points)],
        "pairs": [[p.confidence, p.correct] for p in points],
    }


def _mean(xs: Sequence[float]) -> float | None:
    return sum(xs) / len(xs) if xs else None


def balanced(questions: Sequence[Question]) -> list[float]:
    """A weight per question so that every dataset counts the same in a fit (its questions share 1)."""
    counts: dict[str, int] = {}
    for q in questions:
        counts[q.dataset] = counts.get(q.dataset, 0) + 1
    return [1 / counts[q.dataset] for q in questions]


def held_out(questions: Sequence[Question], method: Method) -> tuple[dict[str, Calibration], list[float | None]]:
    """Leave-one-dataset-out: per dataset, `method` fitted on the others; and every question's held-out top
    probability (None when it ranked nothing)."""
    datasets = sorted({q.dataset for q in questions})
    fits: dict[str, Calibration] = {}
    probs: list[float | None] = [None] * len(questions)
    for d in datasets:
        train = [q for q in questions if q.dataset != d]
        fits[d] = fit_method(method, [q.ranking() for q in train], source=f"all but {d}", weights=balanced(train))
        for i, q in enumerate(questions):
            if q.dataset == d and q.ranked:
                probs[i] = fits[d].rank_probabilities(q.scores, q.confidences)[0]
    return fits, probs


def choose(questions: Sequence[Question], methods: Sequence[Method] = METHODS,
           ) -> tuple[Method, dict[str, Any], dict[Method, list[float | None]]]:
    """The method with the lowest mean held-out Brier across datasets; the per-method, per-dataset scores; and each
    method's held-out probabilities."""
    datasets = sorted({q.dataset for q in questions})
    table: dict[str, Any] = {}
    all_probs: dict[Method, list[float | None]] = {}
    for m in methods:
        _, probs = held_out(questions, m)
        all_probs[m] = probs
        per = {}
        for d in datasets:
            pts = [CalibrationPoint(p, q.truth[0]) for q, p in zip(questions, probs, strict=True)
                   if q.dataset == d and p is not None]
            per[d] = {k: v for k, v in score_points(pts).items() if k not in ("pairs", "bins")}
        briers = [v["brier"] for v in per.values() if v["brier"] is not None]
        table[m] = {"datasets": per, "mean_brier": sum(briers) / len(briers) if briers else None}
    best = min(methods, key=lambda m: (table[m]["mean_brier"] if table[m]["mean_brier"] is not None else 9.0,
                                       METHODS.index(m)))
    return best, table, all_probs


def _tally(pairs: Sequence[tuple[Question, float | None]], t: float) -> dict[str, int]:
    def abstains(q: Question, p: float | None) -> bool:
        return q.forced or p is None or p < t

    named = [q for q, p in pairs if not abstains(q, p)]
    right = sum(1 for q in named if q.truth[0])
    return {"quiet": sum(1 for q, _ in pairs if not q.fault),
            "quiet_abstained": sum(1 for q, p in pairs if not q.fault and abstains(q, p)),
            "fault": sum(1 for q, _ in pairs if q.fault),
            "fault_abstained": sum(1 for q, p in pairs if q.fault and abstains(q, p)),
            "named": len(named), "named_right": right, "net": right - (len(named) - right)}


def thresholds_table(questions: Sequence[Question], probs: Sequence[float | None],
                     thresholds: Sequence[float] = THRESHOLDS) -> list[dict[str, Any]]:
    """Per threshold, pooled and per dataset: no-fault questions that abstain, fault questions that abstain,
    answers named and right; `net_rate` is the mean over datasets of (right − wrong answers named) per question."""
    pairs = list(zip(questions, probs, strict=True))
    datasets = sorted({q.dataset for q in questions})
    rows = []
    for t in thresholds:
        per = {d: _tally([(q, p) for q, p in pairs if q.dataset == d], t) for d in datasets}
        rates = [v["net"] / (v["quiet"] + v["fault"]) for v in per.values() if v["quiet"] + v["fault"]]
        rows.append({"threshold": t, **_tally(pairs, t), "datasets": per,
                     "net_rate": round(sum(rates) / len(rates), 4) if rates else 0.0})
    return rows


def pick_threshold(rows: Sequence[Mapping[str, Any]]) -> float:
    """The threshold with the most right answers named minus wrong ones, per question, averaged over datasets (so
    the largest dataset does not decide alone; a confidently wrong cause costs the on-call engineer as much as a
    right one saves). Ties: the lower threshold (fewer answers withheld for nothing)."""
    return float(max(rows, key=lambda r: (r["net_rate"], -r["threshold"]))["threshold"])
