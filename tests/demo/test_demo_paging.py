"""`sre-bot demo` pages the on-call through the sandbox's PagerDuty receiver: the request shows team, provider and
summary, and the approved page arrives once."""

from __future__ import annotations

import io

from sre_bot.cli.console import Step
from sre_bot.cli.demo import run_demo, tour


async def test_the_demo_pages_the_sandboxs_pagerduty() -> None:
    """The tour's last step asks for a page about the storm's incident; approved, PagerDuty accepts it once."""
    assert tour(2)[-1].line == "/sre run pagerduty.page payments-db incident_id=2" and tour(None)[-1].line != \
        tour(2)[-1].line
    out = io.StringIO()
    code = await run_demo(interactive=False, out=out, script=[
        Step("/sre run pagerduty.page payments-db incident_id=3", decision="approve"),
        Step("/sre audit 5")])
    text = out.getvalue()
    assert code == 0, text[-3000:]
    assert "Page team `shop-oncall` through PagerDuty" in text and "incident #3 CRITICAL" in text
    assert "PagerDuty accepted the page for team shop-oncall" in text and "Event processed" in text
    assert "PAGERDUTY_EVENTS_URL=http://127.0.0.1:" in text
