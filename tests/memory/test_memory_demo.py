"""The demo's console, scripted as the lead's tour would run it: ask, approve the rollback, confirm the cause with
`/sre history confirm`, ask again: the second answer says "Seen before" with the fix and who approved it."""

from __future__ import annotations

import io

from sre_bot.cli.console import Step
from sre_bot.cli.demo import run_demo

STEPS = [
    Step("@sre-bot why is payments-api slow?"),
    Step("/sre run argocd.rollback checkout", decision="approve"),
    Step("/sre history confirm"),
    Step("@sre-bot why is payments-api slow?"),
    Step("/sre history"),
]


async def test_the_second_occurrence_is_seen_before_in_the_demo() -> None:
    """Every step answers; the confirmation records a case with the approved rollback; the second answer names
    it under "Seen before" (with the fix and its approver) and the history lists it."""
    out = io.StringIO()
    assert await run_demo(interactive=False, out=out, script=STEPS) == 0
    chunks = out.getvalue().split("\nsre> ")[1:]
    assert len(chunks) == len(STEPS)
    for chunk in chunks:
        assert "Sorry, I can't do that" not in chunk, chunk[:600]
    first, _, confirmed, second, history = chunks
    assert "Seen before" not in first
    assert "recorded" in confirmed and "fixed by `argocd.rollback checkout`" in confirmed, confirmed[:800]
    assert "Seen before" in second and "fixed by `argocd.rollback checkout` (approved by @" in second, second[-2500:]
    assert "similar because" in second
    assert "bad deploy of checkout" in history
