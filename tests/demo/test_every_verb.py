"""Every `/sre` verb can be tried in the demo: none of them answers "needs the bot's store" or any other refusal."""

from __future__ import annotations

import io

from sre_bot.cli.console import Step
from sre_bot.cli.demo import run_demo
from sre_bot.services.commands import REGISTRY

LINES = {
    "help": "/sre help",
    "status": "/sre status payments-api 30m",
    "query": "/sre query sum(rate(http_requests_total[5m])) 1h",
    "logs": "/sre logs checkout timeout 30m",
    "traces": "/sre traces checkout 30m",
    "deploys": "/sre deploys checkout",
    "incidents": "/sre incidents",
    "incident": "/sre incident 3",
    "runbook": "/sre runbook list",
    "run": "/sre run alertmanager.silence alertname=HighErrorRate service=checkout duration=1h comment=\"rollback on its way\"",
    "actions": "/sre actions",
    "audit": "/sre audit",
    "killswitch": "/sre killswitch status",
    "accuracy": "/sre accuracy",
    "autonomy": "/sre autonomy",
    "history": "/sre history",
    "deploy-check": "/sre deploy-check checkout",
}


async def test_every_verb_answers_in_the_demo():
    assert set(LINES) == {v.name for v in REGISTRY}, "a new verb needs a line here"
    out = io.StringIO()
    steps = [Step(line, decision="approve" if verb == "run" else "skip") for verb, line in LINES.items()]
    assert await run_demo(interactive=False, out=out, script=steps) == 0
    text = out.getvalue()
    chunks = text.split("\nsre> ")[1:]
    assert len(chunks) == len(LINES)
    for chunk in chunks:
        assert "Sorry, I can't do that" not in chunk, chunk[:600]
        assert "this surface has none" not in chunk and "use it from Slack" not in chunk, chunk[:600]
    silence = next(c for c in chunks if c.startswith("/sre run alertmanager.silence"))
    assert "✅ `alertmanager.silence` approved by you; ran once" in silence
