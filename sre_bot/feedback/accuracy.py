"""Accuracy and calibration from feedback points (each person's latest vote on an answer). Pure: points in, numbers
out, each number with what it counts.

- accuracy: (yes + ½·partly) ÷ votes — "partly" (the right area, not the whole cause) is half right. The strict
  top-1 rate (yes ÷ votes) is reported next to it. This accuracy is what the autonomy step-down compares.
- calibration: Brier score and ECE of the engine's stated top confidence against "was the vote yes" (partly counts
  as not right: the confidence claims the top cause is *the* cause), and of the confidence as shown (calibrated),
  with the number of points. The model's confidences are scored apart: they are its own, not the engine's.
- deploy verdicts (answerer `deploy_check`) have their own tally, apart from the investigation answers (`overall`,
  `by_answerer`) and never in a calibration; `by_action` counts them (as the step-down does).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..analysis.calibration import MIN_FEEDBACK_POINTS, Calibration, CalibrationPoint, brier, expected_calibration_error
from ..store.feedback import FeedbackPoint
from .model import CALIBRATION_HISTORY, DEPLOY_CHECK, VERDICT_SCORE

__all__ = ["Tally", "CalibrationScores", "AccuracyReport", "tally", "calibration_scores", "build_report"]


@dataclass(frozen=True)
class Tally:
    votes: int
    answers: int
    yes: int
    partly: int
    no: int

    @property
    def accuracy(self) -> float | None:
        return (self.yes + 0.5 * self.partly) / self.votes if self.votes else None

    @property
    def strict(self) -> float | None:
        return self.yes / self.votes if self.votes else None

    def describe(self) -> str:
        if not self.votes:
            return "no votes"
        return (f"accuracy {self.accuracy:.2f} (top-1 strict {self.strict:.2f}) from {self.votes} vote(s) on "
                f"{self.answers} answer(s): {self.yes} yes · {self.partly} partly · {self.no} no")

    def as_dict(self) -> dict[str, Any]:
        return {"accuracy": self.accuracy, "top1_strict": self.strict, "votes": self.votes, "answers": self.answers,
                "yes": self.yes, "partly": self.partly, "no": self.no}


def tally(points: Iterable[FeedbackPoint]) -> Tally:
    pts = list(points)
    count = {v: sum(1 for p in pts if p.verdict == v) for v in VERDICT_SCORE}
    return Tally(votes=len(pts), answers=len({p.answer_id for p in pts}), yes=count["yes"], partly=count["partly"],
                 no=count["no"])


@dataclass(frozen=True)
class CalibrationScores:
    points: int
    right: int
    brier: float | None
    ece: float | None
    brier_shown: float | None = None  # of the calibrated confidences people were shown (None: none was)
    ece_shown: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"points": self.points, "right": self.right, "brier": self.brier, "ece": self.ece,
                "brier_shown": self.brier_shown, "ece_shown": self.ece_shown}


def calibration_scores(points: Iterable[FeedbackPoint]) -> CalibrationScores:
    """Scores of the stated top confidence (and of the shown one, over the points that had one) against "yes"."""
    stated = [CalibrationPoint(p.top_confidence, p.verdict == "yes") for p in points if p.top_confidence is not None]
    shown = [CalibrationPoint(p.top_calibrated, p.verdict == "yes") for p in points
             if p.top_calibrated is not None]
    return CalibrationScores(points=len(stated), right=sum(p.correct for p in stated), brier=brier(stated),
                             ece=expected_calibration_error(stated), brier_shown=brier(shown),
                             ece_shown=expected_calibration_error(shown))


@dataclass(frozen=True)
class AccuracyReport:
    since: datetime
    until: datetime
    days: int
    posted: int  # answers that named a cause, posted in the window (rated or not), deploy verdicts included
    overall: Tally  # the investigation answers (engine and model), not the deploy verdicts
    by_answerer: dict[str, Tally]
    by_action: dict[str, Tally]
    engine: CalibrationScores
    model: CalibrationScores
    in_use: Calibration | None  # how engine confidences are shown now
    team: Calibration | None  # the fit on the team's own votes (identity while too few)
    real_causes: list[tuple[datetime, str]] = field(default_factory=list)  # newest "the real cause was …"
    verdicts: Tally = field(default_factory=lambda: tally(()))  # votes on the deploy check's posted verdicts

    def calibration_line(self) -> str:
        """Which calibration is in use, on how many points; when it is not the team's, why not yet."""
        using = ("none: confidences are shown as the engine states them" if self.in_use is None
                 else self.in_use.describe())
        if self.in_use is not None and self.in_use is self.team:
            return f"Calibration in use: {using} (engine answers of the last {CALIBRATION_HISTORY.days} days)."
        n = self.team.points if self.team else 0
        right = self.team.correct if self.team else 0
        why = (f"too few points to fit one on the team's history: {n} of {MIN_FEEDBACK_POINTS}"
               if n < MIN_FEEDBACK_POINTS else f"the team's {n} points are all one outcome ({right} right)")
        return (f"Calibration in use: {using}. Not the team's own yet — {why} (votes on engine answers of the last "
                f"{CALIBRATION_HISTORY.days} days).")

    def as_dict(self) -> dict[str, Any]:
        return {
            "since": self.since.isoformat(), "until": self.until.isoformat(), "days": self.days,
            "answers_posted": self.posted, "overall": self.overall.as_dict(),
            "deploy_verdicts": self.verdicts.as_dict(),
            "by_answerer": {k: v.as_dict() for k, v in self.by_answerer.items()},
            "by_action": {k: v.as_dict() for k, v in self.by_action.items()},
            "calibration": {"engine": self.engine.as_dict(), "model": self.model.as_dict(),
                            "in_use": self.in_use.to_dict() if self.in_use else None,
                            "in_use_described": self.calibration_line(),
                            "team": self.team.to_dict() if self.team else None,
                            "team_needs_points": MIN_FEEDBACK_POINTS},
            "real_causes": [{"at": at.isoformat(), "text": t} for at, t in self.real_causes],
        }


def build_report(points: Sequence[FeedbackPoint], *, since: datetime, until: datetime, days: int, posted: int,
                 in_use: Calibration | None, team: Calibration | None, real_causes: int = 5) -> AccuracyReport:
    answers = [p for p in points if p.answered_by != DEPLOY_CHECK]
    by_answerer = {who: tally(p for p in answers if p.answered_by == who)
                   for who in sorted({p.answered_by for p in answers})}
    by_action = {a: tally(p for p in points if a in p.actions) for a in sorted({a for p in points for a in p.actions})}
    causes = sorted(((p.answer_at, p.real_cause) for p in points if p.real_cause), reverse=True)[:real_causes]
    return AccuracyReport(
        since=since, until=until, days=days, posted=posted, overall=tally(answers), by_answerer=by_answerer,
        by_action=by_action, engine=calibration_scores(p for p in points if p.answered_by == "engine"),
        model=calibration_scores(p for p in points if p.answered_by == "llm"), in_use=in_use, team=team,
        real_causes=[(at, text) for at, text in causes if text],
        verdicts=tally(p for p in points if p.answered_by == DEPLOY_CHECK))
