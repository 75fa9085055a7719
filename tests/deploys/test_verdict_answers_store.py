"""Verdict answers in the store (SQLite and PostgreSQL): the `deploy_check` answerer round-trips; the engine's team
calibration and the report's engine calibration never include verdicts; the accuracy report tallies them apart;
the step-down counts them for the rollback they proposed."""

from __future__ import annotations

from datetime import timedelta

from sre_bot.feedback.accuracy import build_report
from sre_bot.feedback.answers import team_calibration
from sre_bot.feedback.model import AnswerDraft, AnswerHypothesis
from sre_bot.feedback.report import report_lines
from sre_bot.feedback.stepdown import check_step_down
from sre_bot.services.deploy_check import ENGINE_VERSION as CHECK_VERSION
from sre_bot.services.deploy_check import verdict_confidence
from sre_bot.store import Store, new_request_id
from sre_bot.store.feedback import StoredAnswer
from tests.feedback._support import T0, MutableClock, add_answers, config, deps_on

ROLLBACK = "argocd.rollback"


def _verdict(at, *, confidence: float | None = None) -> StoredAnswer:
    draft = AnswerDraft(question="deploy check of checkout 4f1c2e9", answered_by="deploy_check", engine=CHECK_VERSION,
                        hypotheses=[AnswerHypothesis(service="checkout", cause="bad deploy of checkout (4f1c2e9)",
                                                     cause_kind="bad_deploy",
                                                     confidence=confidence or verdict_confidence("bad") or 0)])
    return StoredAnswer(id=new_request_id(), at=at, channel="C0DEPLOYS", message_ts=f"{at.timestamp():.6f}",
                        draft=draft, requests=[(new_request_id(), ROLLBACK)])


async def _add_verdicts(store: Store, verdicts: list[str]) -> None:
    for i, v in enumerate(verdicts):
        a = await store.feedback.add_answer(_verdict(T0 + timedelta(minutes=i)))
        await store.feedback.vote(a.id, "W111", v, now=T0 + timedelta(minutes=i, seconds=30))  # type: ignore[arg-type]


async def test_verdict_answers_round_trip_and_stay_out_of_the_engines_calibration(store: Store) -> None:
    """3 engine answers and 5 verdicts, all voted: the team calibration rests on the 3 engine points only; the
    report's engine scores too; the verdicts have their own tally; the overall is the investigation answers'."""
    await add_answers(store, ["yes", "no", "yes"], at=T0 + timedelta(hours=1), confidence=0.7)
    await _add_verdicts(store, ["no", "no", "yes", "partly", "no"])
    now = T0 + timedelta(hours=2)
    [one] = [p for p in await store.feedback.points(since=T0, until=now, answered_by="deploy_check")
             if p.verdict == "yes"]
    assert (one.engine, one.top_confidence, one.actions) == (CHECK_VERSION, verdict_confidence("bad"), (ROLLBACK,))
    team = await team_calibration(store, now=now)
    assert team is not None and team.points == 3
    points = await store.feedback.points(since=T0, until=now)
    report = build_report(points, since=T0, until=now, days=1, posted=8, in_use=None, team=team)
    assert report.engine.points == 3 and report.model.points == 0
    assert (report.overall.votes, report.overall.yes) == (3, 2)
    assert set(report.by_answerer) == {"engine"}
    v = report.verdicts
    assert (v.votes, v.yes, v.partly, v.no, v.accuracy) == (5, 1, 1, 3, 0.3)
    assert report.by_action[ROLLBACK].votes == 5  # the engine answers proposed nothing
    assert report.as_dict()["deploy_verdicts"]["votes"] == 5
    lines = "\n".join(report_lines(report))
    assert "Answers rated: 8 of 8 that named a cause (deploy verdicts included)" in lines
    assert "Overall (investigation answers): accuracy 0.67" in lines
    assert "Deploy verdicts (scored apart, never in the engine's calibration): accuracy 0.30" in lines
    assert "Engine: Brier" in lines and "3 point(s)" in lines


async def test_no_votes_on_verdicts_step_the_rollback_down(store: Store) -> None:
    """Four No votes on verdicts that proposed the rollback (min_feedback 4, below 0.6): approve → suggest."""
    cfg = config(policies={ROLLBACK: {"autonomy": "approve"}},
                 step_down={"below": 0.6, "window": "14d", "min_feedback": 4})
    deps = deps_on(store, MutableClock(T0 + timedelta(hours=1)), cfg)
    await _add_verdicts(store, ["no", "no", "no"])
    assert await check_step_down(deps, [ROLLBACK], channel="C0DEPLOYS") == []
    await _add_verdicts(store, ["no"])
    [step] = await check_step_down(deps, [ROLLBACK], channel="C0DEPLOYS")
    assert (step.before, step.after, step.tally.votes, step.tally.accuracy) == ("approve", "suggest", 4, 0.0)
