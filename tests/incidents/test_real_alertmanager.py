"""The real Alertmanager as the sender: the storm's alerts posted to it, its own grouping and webhook (bearer
credential from `http_config`) deliver them to the bot, and the bot makes the same two incidents, one message each,
and marks the database one resolved when Alertmanager reports its alerts resolved."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx

from tests.fakes.slack_api import FakeSlack
from tests.harness import running_bot
from tests.incidents._storm import CHANNEL, TOKEN, alertmanager_config, eventually, storm, storm_config, top_level
from tests.real_alertmanager import alertmanager


def _alerts(world: Any, *, resolve: set[str] | None = None) -> list[dict[str, Any]]:
    now = datetime.now(timezone.utc)
    out = []
    for spec in world.scenario.alerts:
        labels = world.alert_labels(spec)
        alert = {"labels": labels, "annotations": spec.annotations,
                 "startsAt": (world.anchor_dt + spec.starts).isoformat()}
        if resolve is not None:
            if spec.service not in resolve:
                continue
            alert["endsAt"] = (now - timedelta(seconds=1)).isoformat()
        out.append(alert)
    return out


def _db(fake: FakeSlack) -> dict[str, Any]:
    return next((m for m in top_level(fake.messages(CHANNEL)) if "on payments-db" in json.dumps(m)), {})


async def test_alertmanager_itself_delivers_the_storm(fake_slack: FakeSlack, tmp_path: Path) -> None:
    """Alertmanager groups and posts; the bot answers each notification 200 and ends with two incidents."""
    world, _ = storm()
    async with running_bot(fake_slack, config=storm_config(), SRE_BOT_ALERTMANAGER_TOKEN=TOKEN) as bot:
        with alertmanager(tmp_path, alertmanager_config(bot.url)) as am:
            async with httpx.AsyncClient(timeout=5) as client:
                (await client.post(f"{am}/api/v2/alerts", json=_alerts(world))).raise_for_status()
                await eventually(lambda: len(top_level(fake_slack.messages(CHANNEL))) == 2, timeout=30,
                                 what="two incident messages")
                await eventually(lambda: all("of 12" in json.dumps(m) or "of 2" in json.dumps(m)
                                             for m in top_level(fake_slack.messages(CHANNEL))),
                                 timeout=30, what="every alert counted")
                payments = {"payments-db", "payments-api", "checkout", "frontend"}
                (await client.post(f"{am}/api/v2/alerts", json=_alerts(world, resolve=payments))).raise_for_status()
                await eventually(lambda: "Resolved" in json.dumps(_db(fake_slack)), timeout=30,
                                 what="the database incident resolved by Alertmanager")
        # Alertmanager flushes its groups in no set order: which incident is #1 varies
        db = _db(fake_slack)
        [disk] = [m for m in top_level(fake_slack.messages(CHANNEL)) if m is not db and m["ts"] != db["ts"]]
        assert "PostgresTooManyConnections on payments-db" in json.dumps(db)
        assert "NodeFilesystemAlmostFull" in json.dumps(disk) and "Firing:* 2 of 2" in json.dumps(disk)
        assert len([c for c in fake_slack.calls("chat.postMessage") if not c.args.get("thread_ts")]) == 2
        stored = await bot.deps.store.inbox_pending()
        assert stored == []  # everything Alertmanager sent was processed
