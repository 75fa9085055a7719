"""Selective accuracy: "if I only trust answers with confidence ≥ x, how often are they right, and how many answers
is that". Pure: calibration points in, rows and one number out.

- `risk_coverage(points, total)`: a row per threshold — answered (points with confidence ≥ the threshold),
  coverage (answered ÷ `total`, the number of questions, so an abstention is a question not covered), right, and
  accuracy (right ÷ answered; None when nothing was answered).
- `aurc(points, total)`: the area under the risk–coverage curve (Geifman & El-Yaniv's AURC): sort the answers by
  confidence, most confident first; at each coverage level k (the k most confident answers) the risk is the share
  of them that are wrong; AURC is the mean of those risks over k = 1 … total. Lower is better. The `total − len(
  points)` questions that got no answer come last and count as wrong (they gave the user no right answer), so a
  run cannot lower its AURC by abstaining. Tied confidences cannot be told apart: within a tie the risk is the
  expected one over the tie's orderings, so the number does not depend on the input order.
- `trusted(rows)`: the smallest threshold whose answers are right at least 90% of the time, if any.
- `render_table(rows)`: the rows as a Markdown table (the evaluation report's "Selective accuracy").

    rows = risk_coverage(points, total=20)
    aurc(points, total=20), trusted(rows), render_table(rows)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from itertools import groupby
from typing import Any

from ..analysis.calibration import CalibrationPoint

__all__ = ["SelectiveRow", "THRESHOLDS", "TRUSTED_ACCURACY", "risk_coverage", "aurc", "optimal_aurc", "trusted",
           "describe_trusted", "format_threshold", "render_table"]

THRESHOLDS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
TRUSTED_ACCURACY = 0.9
_TOLERANCE = 1e-9  # a confidence of 0.7 computed as 0.6999999999 still counts for "≥ 0.7"


@dataclass(frozen=True)
class SelectiveRow:
    threshold: float
    answered: int  # answers with confidence ≥ threshold
    coverage: float | None  # answered ÷ total questions; None without questions
    right: int
    accuracy: float | None  # right ÷ answered; None when nothing was answered

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SelectiveRow:
        return cls(threshold=float(data["threshold"]), answered=int(data["answered"]),
                   coverage=None if data.get("coverage") is None else float(data["coverage"]),
                   right=int(data["right"]), accuracy=None if data.get("accuracy") is None else float(data["accuracy"]))


def _total(points: Sequence[CalibrationPoint], total: int | None) -> int:
    if total is None:
        return len(points)
    if total < len(points):
        raise ValueError(f"total {total} is smaller than the {len(points)} answers: total counts the questions")
    return total


def risk_coverage(points: Sequence[CalibrationPoint], total: int | None = None,
                  thresholds: Sequence[float] = THRESHOLDS) -> list[SelectiveRow]:
    """A row per threshold: the answers with confidence ≥ it, their share of `total` questions, how many were right."""
    n = _total(points, total)
    rows = []
    for t in thresholds:
        kept = [p for p in points if p.confidence >= t - _TOLERANCE]
        right = sum(1 for p in kept if p.correct)
        rows.append(SelectiveRow(threshold=t, answered=len(kept), coverage=len(kept) / n if n else None,
                                 right=right, accuracy=right / len(kept) if kept else None))
    return rows


def aurc(points: Sequence[CalibrationPoint], total: int | None = None) -> float | None:
    """Mean risk over the coverage levels 1 … total, most confident answers first; None without questions."""
    n = _total(points, total)
    if n == 0:
        return None
    ranked = sorted(points, key=lambda p: -p.confidence)
    groups = [[p.correct for p in g] for _, g in groupby(ranked, key=lambda p: p.confidence)]
    if n > len(points):
        groups.append([False] * (n - len(points)))  # the questions not answered: last, and no right answer
    risks, seen, wrong = 0.0, 0, 0
    for g in groups:
        g_wrong = g.count(False)
        for j in range(1, len(g) + 1):  # j of the tie taken: j × its share of wrong answers, in expectation
            risks += (wrong + j * g_wrong / len(g)) / (seen + j)
        seen, wrong = seen + len(g), wrong + g_wrong
    return risks / n


def optimal_aurc(points: Sequence[CalibrationPoint], total: int | None = None) -> float | None:
    """The AURC of the same answers ranked perfectly (every right one above every wrong one): the floor for them."""
    return aurc([CalibrationPoint(1.0 if p.correct else 0.0, p.correct) for p in points], total)


def trusted(rows: Sequence[SelectiveRow], min_accuracy: float = TRUSTED_ACCURACY) -> SelectiveRow | None:
    """The row of the smallest threshold whose answers are right at least `min_accuracy` of the time, if any."""
    ok = [r for r in rows if r.accuracy is not None and r.accuracy >= min_accuracy - _TOLERANCE]
    return min(ok, key=lambda r: r.threshold) if ok else None


def format_threshold(t: float) -> str:
    """0.8 as "0.8", 0.0 as "0.0", 0.85 as "0.85"."""
    return f"{t:.1f}" if round(t, 1) == t else f"{t:g}"


def _pct(x: float | None, digits: int = 0) -> str:
    return "—" if x is None else f"{x * 100:.{digits}f}%"


def describe_trusted(row: SelectiveRow | None, min_accuracy: float = TRUSTED_ACCURACY) -> str:
    """One sentence: "answers with confidence ≥ 0.8 were right 92% of the time (14 answers, 35% of the questions)"."""
    if row is None:
        return f"No confidence threshold gives answers right {_pct(min_accuracy)} of the time or more."
    return (f"Answers with confidence ≥ {format_threshold(row.threshold)} were right {_pct(row.accuracy)} of the "
            f"time ({row.right}/{row.answered} answers, {_pct(row.coverage)} of the questions).")


def render_table(rows: Sequence[SelectiveRow]) -> str:
    """Markdown: threshold, answers kept, coverage, right, accuracy."""
    lines = ["| confidence ≥ | answers | coverage | right | accuracy |", "|---:|---:|---:|---:|---:|"]
    lines += [f"| {format_threshold(r.threshold)} | {r.answered} | {_pct(r.coverage, 1)} | {r.right} "
              f"| {_pct(r.accuracy, 1)} |" for r in rows]
    return "\n".join(lines)
