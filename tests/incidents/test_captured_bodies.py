"""Alertmanager's own captured notifications, in the order it sent them (firing, partly resolved, resolved),
through `POST /alertmanager`: one incident, its one message counting down as alerts resolve, then resolved."""

from __future__ import annotations

import json
from pathlib import Path

from sre_bot.config import parse_config
from tests.fakes.slack_api import FakeSlack
from tests.harness import running_bot
from tests.incidents._storm import CHANNEL, TOKEN, eventually, post_all, thread, top_level

FIXTURES = Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures" / "alertmanager"
CAPTURED = sorted(FIXTURES.glob("webhook_v4_*.json"))
CONFIG = parse_config({"services": [{"name": "checkout", "depends_on": ["payment"]}, {"name": "payment"}],
                       "incidents": {"channel": CHANNEL, "every": "1s", "investigate": False}})


async def test_captured_notifications_make_one_incident_that_resolves(fake_slack: FakeSlack) -> None:
    """The crash-looping payment pod opens it, both HighErrorRate alerts join (same service, one hop), and the
    message goes 3 → 2 → 1 firing → resolved; the thread says what joined and what resolved."""
    assert [p.name[11:13] for p in CAPTURED] == ["01", "02", "03", "04", "05"]
    shown = []
    async with running_bot(fake_slack, config=CONFIG, SRE_BOT_ALERTMANAGER_TOKEN=TOKEN) as bot:
        for path in CAPTURED:
            await post_all(bot.http, [(0.0, json.loads(path.read_text()))])

            async def settled() -> bool:
                return not await bot.deps.store.inbox_pending() and not await bot.deps.store.incidents.to_publish()

            await eventually(settled, what=f"{path.name} published")
            [msg] = top_level(fake_slack.messages(CHANNEL))
            text = json.dumps(msg["blocks"], ensure_ascii=False)
            shown.append(next((w for w in ("1 of 1", "3 of 3", "2 of 3", "1 of 3", "Resolved") if w in text), text))
        assert shown == ["1 of 1", "3 of 3", "2 of 3", "1 of 3", "Resolved"]
        assert "HighErrorRate on checkout (+2 more alerts, 2 services)" in text  # the most severe alert leads
        notes = json.dumps(thread(fake_slack.messages(CHANNEL), msg["ts"]), ensure_ascii=False)
        assert "Joined (2)" in notes and "[graph]" in notes and "Every alert has resolved" in notes
        [one] = await bot.deps.store.incidents.listing(open_only=False)
        assert one.incident.resolved and sorted(one.incident.services) == ["checkout", "payment"]
