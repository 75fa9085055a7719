"""The engine's confidence is shown through a calibration, which says where it came from (services/answer.py)."""

from __future__ import annotations

from sre_bot.analysis.calibration import Calibration
from sre_bot.services.answer import investigation_reply, library_calibration
from sre_bot.services.explain import explain
from tests.evaluation._support import bot_on

CAL = Calibration(method="platt", a=2.0, b=1.0, source="scenario library", points=23, correct=20)


async def test_calibrated_confidence_in_titles_summary_and_footer() -> None:
    """The top title shows the calibrated number next to the engine's, the summary ends with it, the footer names the
    fit; lower hypotheses keep the engine's own number."""
    async with bot_on("checkout-bad-deploy") as (_, deps):
        done = await explain(deps, "why is frontend returning errors?")
    inv = done.engine
    stated = inv.hypotheses[0].confidence
    reply = investigation_reply(inv, calibration=CAL)
    shown = f"{CAL.apply(stated):.2f}"
    assert f"confidence {shown} (calibrated from the engine's {stated:.2f})" in reply.sections[0].title
    second = inv.hypotheses[1].confidence
    assert reply.sections[1].title.endswith(f"— engine confidence {second:.2f}")  # fitted on top answers only
    assert reply.summary is not None and reply.summary.endswith(f"confidence {shown}")
    assert reply.footer is not None and "calibrated on the scenario library (23 answers, 20 right)" in reply.footer
    raw = investigation_reply(inv, calibration=None)
    assert raw.sections[0].title.endswith(f"confidence {stated:.2f}") and raw.summary == inv.summary
    identity = investigation_reply(inv, calibration=Calibration.identity("team feedback", 3))
    assert identity.summary == inv.summary


def test_the_shipped_library_calibration_loads_and_is_fitted() -> None:
    """`sre_bot/evaluation/calibration.json` is shipped, fitted on the scenario library, and monotone."""
    cal = library_calibration()
    assert cal is not None and cal.source == "scenario library" and cal.points >= 20
    assert cal.method == "platt" and cal.apply(0.4) < cal.apply(0.6) < cal.apply(0.8)
