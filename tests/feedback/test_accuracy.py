"""Accuracy and calibration from feedback: partly counts half, Brier/ECE with their point counts, which calibration
is in use (the scenario library's until the team's own history has enough points), and the report's lines."""

from __future__ import annotations

from datetime import timedelta

import pytest

from sre_bot.analysis.calibration import MIN_FEEDBACK_POINTS
from sre_bot.errors import UsageError
from sre_bot.feedback.accuracy import calibration_scores, tally
from sre_bot.feedback.answers import TEAM_SOURCE, for_feedback
from sre_bot.feedback.report import accuracy_report, parse_days, report_lines
from sre_bot.investigation import ENGINE_VERSION, Hypothesis, Investigation
from sre_bot.models import TimeRange
from sre_bot.services.answer import investigation_reply
from sre_bot.services.explain import Explained
from sre_bot.store import Store
from sre_bot.store.feedback import FeedbackPoint
from tests.feedback._support import T0, MutableClock, add_answers, deps_on


def _point(verdict: str, confidence: float | None, calibrated: float | None = None, answer: str = "a1",
           voter: str = "W1", answered_by: str = "engine") -> FeedbackPoint:
    return FeedbackPoint(answer_id=answer, answer_at=T0, answered_by=answered_by, engine=ENGINE_VERSION, model=None,
                         top_confidence=confidence, top_calibrated=calibrated, voter=voter, verdict=verdict,
                         real_cause=None)


def test_partly_counts_half_and_strict_counts_only_yes() -> None:
    """2 yes, 1 partly, 1 no on 3 answers: accuracy 0.625, strict top-1 0.5, with the counts."""
    t = tally([_point("yes", 0.8, answer="a"), _point("yes", 0.8, answer="b"), _point("partly", 0.5, answer="c"),
               _point("no", 0.6, answer="c", voter="W2")])
    assert (t.votes, t.answers, t.yes, t.partly, t.no) == (4, 3, 2, 1, 1)
    assert (t.accuracy, t.strict) == (0.625, 0.5)
    assert "accuracy 0.62 (top-1 strict 0.50) from 4 vote(s) on 3 answer(s)" in t.describe()
    assert tally([]).accuracy is None and tally([]).describe() == "no votes"


def test_brier_and_ece_score_the_stated_and_the_shown_confidence() -> None:
    """Brier is the mean squared gap to "was it yes"; the shown (calibrated) confidences are scored apart."""
    s = calibration_scores([_point("yes", 0.8, 0.7), _point("no", 0.8, 0.5), _point("partly", 0.6)])
    assert (s.points, s.right) == (3, 1)
    assert s.brier == pytest.approx((0.2 ** 2 + 0.8 ** 2 + 0.6 ** 2) / 3)
    assert s.ece == pytest.approx(2 / 3 * abs(0.5 - 0.8) + 1 / 3 * abs(0.0 - 0.6))
    assert s.brier_shown == pytest.approx((0.3 ** 2 + 0.5 ** 2) / 2)
    assert calibration_scores([_point("yes", None)]).points == 0


@pytest.mark.parametrize("text,days", [("", 30), ("7", 7), ("14d", 14), (" 365 ", 365)])
def test_days_are_whole_numbers(text: str, days: int) -> None:
    """`/sre accuracy` takes nothing (30 days), a number, or a number of days."""
    assert parse_days(text, usage="x") == days


@pytest.mark.parametrize("text", ["abc", "0", "366", "-3", "1.5", "2w"])
def test_bad_days_are_a_clear_error(text: str) -> None:
    """Anything else says what is expected."""
    with pytest.raises(UsageError, match="whole number from 1 to 365"):
        parse_days(text, usage="`/sre accuracy [days]`")


async def test_few_points_keep_the_library_calibration_and_say_so(store: Store) -> None:
    """With 3 votes the report gives the numbers and says the team's history is too small to calibrate on."""
    await add_answers(store, ["yes", "no", "partly"], at=T0 - timedelta(days=2), actions=["argocd.rollback"])
    report = await accuracy_report(store, now=T0, days=7)
    assert report.overall.votes == 3 and report.engine.points == 3 and report.posted == 3
    assert report.team is not None and report.team.points == 3 and report.team.method == "identity"
    assert report.in_use is not report.team
    text = "\n".join(report_lines(report))
    assert f"too few points to fit one on the team's history: 3 of {MIN_FEEDBACK_POINTS}" in text
    assert "Calibration in use:" in text and "Brier" in text and "3 point(s)" in text
    assert "`argocd.rollback`: accuracy 0.50" in text


async def test_enough_team_points_replace_the_library_calibration(store: Store) -> None:
    """From 30 votes with both outcomes the team's own fit is in use, and the report names it and its count."""
    verdicts = ["yes", "no"] * 20
    await add_answers(store, verdicts[:20], at=T0 - timedelta(days=3), confidence=0.9)
    await add_answers(store, verdicts[20:], at=T0 - timedelta(days=2), confidence=0.3)
    report = await accuracy_report(store, now=T0, days=30)
    assert report.team is not None and report.team.points == 40 and report.team.method == "platt"
    assert report.in_use is report.team
    line = report.calibration_line()
    assert f"calibrated on the {TEAM_SOURCE} (40 answers, 20 right)" in line


async def test_an_engine_answer_is_shown_through_the_teams_calibration_once_it_applies(store: Store) -> None:
    """With enough team points, the engine's probability is shown through the team's recalibration and the draft
    records both."""
    await add_answers(store, ["no"] * 30 + ["yes"] * 10, at=T0 - timedelta(days=1), confidence=0.8)
    window = TimeRange(start=T0 - timedelta(hours=1), end=T0)
    inv = Investigation(question="why is checkout slow?", summary="checkout: bad deploy, confidence 0.80",
                        window=window, baseline=window, services=["checkout"],
                        hypotheses=[Hypothesis(service="checkout", cause="bad deploy of checkout",
                                               cause_kind="bad_deploy", confidence=0.8)])
    explained = Explained(investigation_reply(inv), inv)
    done = await for_feedback(deps_on(store, MutableClock(T0)), explained, question="why is checkout slow?")
    draft = done.reply.answer
    assert draft is not None and draft.answered_by == "engine" and draft.rateable
    assert TEAM_SOURCE in (draft.calibration or "") and TEAM_SOURCE in (done.reply.footer or "")
    top = draft.top
    assert top is not None and top.confidence == 0.8 and top.calibrated is not None and top.calibrated < 0.5
    assert done.reply.sections[0].title.endswith(f"confidence {top.calibrated:.2f}")
    assert "recalibrated on the team's feedback (40 votes, 10 right)" in (done.reply.footer or "")
