"""A storm delivered by the real Alertmanager into the bot, grouped by a topology the bot discovered itself: the
config names the services but no depends_on; a real Prometheus holds Tempo service-graph series; the alerts of
two services one call apart become one incident, an unrelated one stays apart, and `/sre incident` says the link
was a discovered edge."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

from sre_bot.config import Config
from tests.actions._support import ask
from tests.fakes.slack_api import FakeSlack
from tests.harness import running_bot
from tests.incidents._storm import CHANNEL, TOKEN, alertmanager_config, eventually, storm_config, top_level
from tests.incidents.test_topology_discover import tempo_history
from tests.real_alertmanager import alertmanager

pytestmark = pytest.mark.prometheus


def _no_depends_on() -> Config:
    cfg = storm_config()
    return cfg.model_copy(update={"services": [s.model_copy(update={"depends_on": []}) for s in cfg.services]})


def _alerts() -> list[dict[str, Any]]:
    """payments-db runs out of connections, payments-api (its caller) errors a minute later under another alert
    name; search slows down on its own in between."""
    now = datetime.now(timezone.utc)

    def a(name: str, service: str, ago: timedelta) -> dict[str, Any]:
        return {"labels": {"alertname": name, "namespace": "shop", "severity": "critical", "service": service},
                "annotations": {"summary": f"{name} on {service}"}, "startsAt": (now - ago).isoformat()}
    return [a("PostgresTooManyConnections", "payments-db", timedelta(minutes=10)),
            a("HighLatency", "search", timedelta(minutes=9, seconds=30)),
            a("HighErrorRate", "payments-api", timedelta(minutes=9))]


async def _settled(bot: Any) -> bool:
    store = bot.deps.store
    return not await store.inbox_pending() and not await store.incidents.to_publish()


async def test_alertmanager_storm_is_grouped_by_the_discovered_call_graph(real_prometheus, fake_slack: FakeSlack,
                                                                          tmp_path: Path) -> None:
    """Two incidents, not three: payments-api joined payments-db's incident by the edge Tempo's service graph
    showed; search is its own; the timeline and `/sre incident` name the source."""
    end = int(time.time()) // 60 * 60 - 60
    url = real_prometheus(tempo_history(end, [("user", "frontend"), ("frontend", "checkout"),
                                              ("checkout", "payments-api"), ("payments-api", "payments-db")]))
    cfg = _no_depends_on()
    assert cfg.dependencies() == {s.name: [] for s in cfg.services}
    async with running_bot(fake_slack, config=cfg, SRE_BOT_ALERTMANAGER_TOKEN=TOKEN, PROMETHEUS_URL=url) as bot:
        with alertmanager(tmp_path, alertmanager_config(bot.url)) as am:
            async with httpx.AsyncClient(timeout=5) as client:
                (await client.post(f"{am}/api/v2/alerts", json=_alerts())).raise_for_status()
                await eventually(lambda: len(top_level(fake_slack.messages(CHANNEL))) >= 2, timeout=30,
                                 what="incident messages")
                await eventually(lambda: _settled(bot), timeout=30, what="every notification processed")
                store = bot.deps.store
                assert store is not None
                incidents = await store.incidents.listing(open_only=False)
        assert len(top_level(fake_slack.messages(CHANNEL))) == 2, fake_slack.describe()
        assert len(incidents) == 2
        [payments] = [s for s in incidents if "payments-db" in s.incident.services]
        [search] = [s for s in incidents if s is not payments]
        assert payments.incident.services == ["payments-db", "payments-api"]
        assert search.incident.services == ["search"]
        [merge] = payments.incident.merges
        assert merge.rule == "graph" and merge.source == "discovered"
        timeline = [t.text for t in await store.incidents.timeline(payments.key)]
        assert any("joined [graph]" in t and "(source: discovered edge)" in t for t in timeline)
        shown = json.dumps(await ask(bot, fake_slack, f"incident {payments.number}"), ensure_ascii=False)
        assert "source: discovered edge" in shown and "linked by: discovered edge ×1" in shown
