"""One confidence everywhere: every engine hypothesis shows the calibrated probability that it is the root cause,
the same number in the reply, the JSON and the feedback draft; the footer says what it is calibrated on; a team's
recalibration maps it once more and says so (services/answer.py, services/investigate.py)."""

from __future__ import annotations

from sre_bot.analysis.calibration import Calibration
from sre_bot.feedback.answers import TEAM_SOURCE, answer_draft
from sre_bot.services.answer import investigation_reply
from sre_bot.services.confidence import shipped_calibration
from sre_bot.services.explain import explain
from tests.evaluation._support import bot_on

TEAM = Calibration(method="platt", a=2.0, b=-0.5, source=TEAM_SOURCE, points=40, correct=25)


async def test_every_hypothesis_shows_one_calibrated_probability_everywhere() -> None:
    async with bot_on("checkout-bad-deploy") as (_, deps):
        done = await explain(deps, "why is frontend returning errors?")
    inv = done.engine
    cal = shipped_calibration()
    assert cal is not None and inv.calibration == cal.describe()
    ranking = inv.ranking
    want = cal.rank_probabilities([r.score for r in ranking], [r.engine_confidence or 0 for r in ranking])
    assert [r.confidence for r in ranking] == want
    assert [h.confidence for h in inv.hypotheses] == want[: len(inv.hypotheses)]
    assert all(h.engine_confidence is not None for h in inv.hypotheses)
    reply = investigation_reply(inv)
    for i, h in enumerate(inv.hypotheses):
        assert reply.sections[i].title.endswith(f"— confidence {h.confidence:.2f}")
    assert reply.summary == inv.summary and inv.summary.endswith(f"confidence {inv.hypotheses[0].confidence:.2f}")
    assert reply.footer is not None and "probability the hypothesis is the root cause" in reply.footer
    assert cal.describe() in reply.footer
    doc = inv.to_json()
    assert doc["hypotheses"][0]["confidence"] == inv.hypotheses[0].confidence
    assert doc["hypotheses"][0]["engine_confidence"] == inv.hypotheses[0].engine_confidence
    assert doc["calibration"] == cal.describe() and doc["abstain_below"] == inv.abstain_below
    assert "probability" in doc["confidence_means"]
    draft = answer_draft(done, None, question="q")
    assert [h.confidence for h in draft.hypotheses] == [h.confidence for h in inv.hypotheses]
    assert draft.calibration == cal.describe() and all(h.calibrated is None for h in draft.hypotheses)


async def test_a_teams_recalibration_maps_every_probability_and_says_so() -> None:
    async with bot_on("checkout-bad-deploy") as (_, deps):
        done = await explain(deps, "why is frontend returning errors?")
    inv = done.engine
    reply = investigation_reply(inv, team=TEAM)
    for i, h in enumerate(inv.hypotheses):
        assert reply.sections[i].title.endswith(f"— confidence {TEAM.apply(h.confidence):.2f}")
    top = inv.hypotheses[0].confidence
    assert reply.summary is not None and reply.summary.endswith(f"confidence {TEAM.apply(top):.2f}")
    assert reply.footer is not None and "recalibrated on the team's feedback (40 votes, 25 right)" in reply.footer
    draft = answer_draft(done, TEAM, question="q")
    assert draft.hypotheses[0].calibrated == round(TEAM.apply(inv.hypotheses[0].confidence), 2)
    assert draft.hypotheses[0].confidence == inv.hypotheses[0].confidence  # what the team's fit is fitted on
    # an identity (too few votes) or the shipped calibration itself changes nothing
    for not_team in (Calibration.identity(TEAM_SOURCE, 3), shipped_calibration()):
        same = investigation_reply(inv, team=not_team)
        assert same.summary == inv.summary and "recalibrated" not in (same.footer or "")


async def test_below_the_threshold_the_answer_abstains_and_says_why() -> None:
    """SRE_BOT_ABSTAIN_BELOW above the top probability: "insufficient evidence", the probability and the threshold
    named, what was checked still listed, no hypothesis shown."""
    async with bot_on("checkout-bad-deploy", SRE_BOT_ABSTAIN_BELOW="0.99") as (_, deps):
        done = await explain(deps, "why is frontend returning errors?")
    inv = done.engine
    assert inv.insufficient and inv.abstain_reason == "below threshold" and not inv.hypotheses
    assert inv.summary.startswith("Insufficient evidence") and "below the 0.99 needed" in inv.summary
    assert inv.ranking and inv.checked


async def test_an_abstention_below_the_threshold_still_lists_its_leads() -> None:
    """The answer names no cause, but says where it would look first, each lead with its probability."""
    async with bot_on("checkout-bad-deploy", SRE_BOT_ABSTAIN_BELOW="0.99") as (_, deps):
        done = await explain(deps, "why is frontend returning errors?")
    inv = done.engine
    reply = investigation_reply(inv)
    [leads] = [s for s in reply.sections if s.title.startswith("Leads")]
    assert "0.99 needed to name a cause" in leads.title
    assert leads.note is not None and leads.note.count("•") == min(3, len(inv.ranking))
    assert f"confidence {inv.ranking[0].confidence:.2f}" in leads.note
    assert inv.to_json()["leads"] == [r.service for r in inv.ranking[:3]] and not inv.to_json()["hypotheses"]
    assert not [s for s in reply.sections if s.title.startswith("Suggested actions")]
