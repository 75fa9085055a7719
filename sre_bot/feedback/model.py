"""What an investigation answer claimed, as the feedback needs it: who answered, its ranked hypotheses with their
stated (and, for the engine, calibrated) confidences. Built by `answers.answer_draft`, carried on the Reply.

A deploy verdict posted by the watcher is scored like an answer: answerer `deploy_check`
(`services.deploy_check.verdict_draft`), kept apart from the engine's and the model's in the accuracy report and
never in the engine's calibration, but counted by the step-down of the rollback it proposed."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Verdict", "VERDICTS", "VERDICT_SCORE", "CALIBRATION_HISTORY", "Answerer", "DEPLOY_CHECK",
           "AnswerHypothesis", "AnswerDraft"]

Verdict = Literal["yes", "partly", "no"]
VERDICTS: tuple[Verdict, ...] = ("yes", "partly", "no")
# How a vote counts towards accuracy: "partly" (the right area, not the whole cause) is half right.
VERDICT_SCORE: dict[str, float] = {"yes": 1.0, "partly": 0.5, "no": 0.0}
CALIBRATION_HISTORY = timedelta(days=365)  # votes on answers older than this no longer shape the calibration
Answerer = Literal["engine", "llm", "deploy_check"]  # stored in answers.answered_by (String(16))
DEPLOY_CHECK: Answerer = "deploy_check"  # a deploy verdict's message, scored like an answer


class AnswerHypothesis(BaseModel):
    model_config = ConfigDict(frozen=True)

    service: str | None = None
    cause: str
    cause_kind: str | None = None  # the engine's vocabulary (bad_deploy, saturation, …); None for the model's
    confidence: float  # as the answerer stated it
    calibrated: float | None = None  # as shown to people, when a calibration was applied (engine only)


class AnswerDraft(BaseModel):
    """One answer before it is posted; the surface stores it with where it was posted and what it proposed."""

    model_config = ConfigDict(frozen=True)

    question: str
    answered_by: Answerer
    engine: str  # the engine's version (it ran either way); for a deploy verdict, the deploy check's version
    model: str | None = None  # the model that answered, with its prompt version
    insufficient: bool = False
    hypotheses: list[AnswerHypothesis] = Field(default_factory=list)
    calibration: str | None = None  # which calibration the shown confidences went through, and on how many points

    @property
    def top(self) -> AnswerHypothesis | None:
        return self.hypotheses[0] if self.hypotheses else None

    @property
    def rateable(self) -> bool:
        """Whether "Right cause?" (a verdict: "Right call?") can be asked: the answer named a cause."""
        return not self.insufficient and self.top is not None
