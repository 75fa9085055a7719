"""Asked about the present, an episode that is already over is not the answer: the sandbox's three-minute blip
(over six minutes ago) gives "insufficient evidence for now", naming the past episode and when it ended."""

from __future__ import annotations

from sre_bot.services.investigate import investigate
from tests.evaluation._support import bot_on


async def test_a_recovered_blip_is_named_as_past_not_blamed_for_now():
    async with bot_on("no-cause-transient-blip") as (_sb, deps):
        inv = await investigate(deps, "why is reports-api slow?")
    assert inv.insufficient and not inv.hypotheses
    assert "nothing is off at the moment" in inv.summary and "was over by" in inv.summary
    assert inv.ranking and any("past episode" in r for r in inv.ranking[0].reasons)
    assert any("back to baseline at" in e.quote for e in inv.evidence if e.kind == "anomaly")
