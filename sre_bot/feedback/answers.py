"""An answer ready for feedback: the engine's probabilities recalibrated on the team's own votes once enough
exist, and the draft (`Reply.answer`) the surface stores with the buttons.

    explained = await for_feedback(deps, explained, question=text)   # services/mention.py, after `explain`
    explained.reply.answer.hypotheses[0].calibrated                  # what the person was shown, when recalibrated

Every engine answer's confidence is already a probability calibrated on real ground truth (`services/confidence.py`).
The team's recalibration is fitted on the latest votes on answers by the running engine version: a point per vote,
(that probability for the top hypothesis, whether the vote was "yes"); "partly" counts as not right, because the
probability claims the top cause is *the* cause. Once it rests on `MIN_FEEDBACK_POINTS` votes with both outcomes,
it maps every engine probability once more. The model's own stated confidence is not calibrated.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from ..analysis.calibration import TEAM_SOURCE, Calibration, CalibrationPoint, choose_calibration
from ..deps import Deps
from ..investigation import ENGINE_VERSION
from ..services.answer import investigation_reply, library_calibration
from ..services.explain import Explained
from ..store.errors import StoreError
from ..store.store import Store
from .model import CALIBRATION_HISTORY, AnswerDraft, AnswerHypothesis

__all__ = ["TEAM_SOURCE", "team_calibration", "calibration_in_use", "answer_draft",
           "for_feedback"]

_MAX_POINTS = 2000


async def team_calibration(store: Store | None, *, now: datetime) -> Calibration | None:
    """Fitted on the team's votes (the identity when too few, with the count); None without a store."""
    if store is None:
        return None
    points = await store.feedback.points(since=now - CALIBRATION_HISTORY, answered_by="engine",
                                              engine=ENGINE_VERSION, limit=_MAX_POINTS)
    cal_points = [CalibrationPoint(p.top_confidence, p.verdict == "yes") for p in points
                  if p.top_confidence is not None]
    return Calibration.fit(cal_points, source=TEAM_SOURCE)


async def calibration_in_use(store: Store | None, *, now: datetime
                             ) -> tuple[Calibration | None, Calibration | None]:
    """(the calibration engine answers are shown through, the team's own fit): the team's once it rests on enough
    points (`analysis.calibration.MIN_FEEDBACK_POINTS`), else the scenario library's."""
    team = await team_calibration(store, now=now)
    return choose_calibration(library_calibration(), team), team


def _recalibration(cal: Calibration | None) -> Calibration | None:
    return cal if cal is not None and cal.method == "platt" and cal.source == TEAM_SOURCE else None


def answer_draft(explained: Explained, calibration: Calibration | None, *, question: str) -> AnswerDraft:
    """What the answer claimed, as shown: the model's hypotheses when it answered, else the engine's with their
    probabilities (and, when `calibration` is the team's recalibration, the recalibrated one the person read)."""
    engine = explained.engine
    if explained.llm is not None:
        r = explained.llm
        return AnswerDraft(question=question, answered_by="llm", engine=engine.engine,
                           model=f"{r.model} ({r.prompt_version})", insufficient=r.answer.insufficient,
                           hypotheses=[AnswerHypothesis(service=h.service, cause=h.cause, confidence=h.confidence)
                                       for h in r.answer.hypotheses])
    recal = _recalibration(calibration)
    described = engine.calibration
    if recal is not None:
        described = f"{described or 'uncalibrated'}; then {recal.describe()}"
    return AnswerDraft(question=question, answered_by="engine", engine=engine.engine, insufficient=engine.insufficient,
                       calibration=described,
                       hypotheses=[AnswerHypothesis(service=h.service, cause=h.cause, cause_kind=h.cause_kind,
                                                    confidence=h.confidence,
                                                    calibrated=round(recal.apply(h.confidence), 2) if recal else None)
                                   for h in engine.hypotheses])


async def for_feedback(deps: Deps, explained: Explained, *, question: str) -> Explained:
    """`explained` with the team's calibration applied when it is the one in use, and `reply.answer` set."""
    calibration = library_calibration()
    if explained.llm is None and deps.store is not None:
        try:
            chosen, team = await calibration_in_use(deps.store, now=deps.clock())
        except StoreError:  # the answer matters more than its calibration: show the library's
            chosen, team = calibration, None
        if team is not None and chosen is team:
            explained = replace(explained, reply=investigation_reply(explained.engine, why_engine=explained.why_engine,
                                                                     team=team))
        calibration = chosen
    redact = deps.llm.redactor.redact if deps.llm is not None else (lambda s: s)
    draft = answer_draft(explained, calibration, question=redact(question))
    return replace(explained, reply=explained.reply.model_copy(update={"answer": draft}))
