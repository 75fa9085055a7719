"""Issue 14 item 11: a supplied `fingerprint` is not trusted. The bot computes Alertmanager's own fingerprint of the
labels (prometheus/common `labelSetToFingerprint`: FNV-1a 64 over sorted name 0xff value 0xff), which every genuine
captured body matches; an alert whose supplied fingerprint is another alert's is kept under its computed one, with
a warning, and reaches an incident through the processor like any other — and resolves there."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

from sre_bot.alert_payloads import _keep_apart, fingerprint, parse_alerts, parse_api_alerts, parse_webhook
from sre_bot.analysis.correlation import AlertEvent
from sre_bot.config import parse_config
from tests.fakes.slack_api import FakeSlack
from tests.hardening._alert_wire import capture_logs
from tests.harness import running_bot
from tests.incidents._storm import CHANNEL, eventually, post_all
from tests.real_alertmanager import alertmanager
from tests.store.conftest import pg_url, postgres_available, sqlite_url  # noqa: F401  (fixtures)

FIXTURES = Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures" / "alertmanager"
TOKEN = "am-webhook-token"
CONFIG = parse_config({"services": [{"name": "checkout", "depends_on": ["payment"]}, {"name": "payment"}],
                       "incidents": {"channel": CHANNEL, "every": "1s", "investigate": False}})


@pytest.fixture(params=["sqlite", "postgresql"])
def store_db(request: pytest.FixtureRequest) -> str:
    """A fresh database URL: a SQLite file, then a PostgreSQL schema (the store tests' fixtures)."""
    return str(request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url"))


def _load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def test_every_genuine_alertmanager_fingerprint_is_the_computed_one() -> None:
    """Each fingerprint Alertmanager really sent (five webhook bodies, the v2 API's alerts and alert groups) equals
    the bot's computation from the labels, so a genuine body is kept exactly as sent, with no note."""
    seen = 0
    for path in sorted(FIXTURES.glob("webhook_v4_*.json")):
        body = json.loads(path.read_text())
        message = parse_webhook(body)
        assert message.notes == ()
        for raw, event in zip(body["alerts"], message.alerts, strict=True):
            assert fingerprint(raw["labels"]) == raw["fingerprint"] == event.fingerprint
            seen += 1
    for raw in _load("api_v2_alerts_GET.json"):
        assert fingerprint(raw["labels"]) == raw["fingerprint"]
        seen += 1
    for group in _load("api_v2_alert_groups_GET.json"):
        for raw in group["alerts"]:
            assert fingerprint(raw["labels"]) == raw["fingerprint"]
            seen += 1
    assert seen >= 10
    assert [a.fingerprint for a in parse_api_alerts(_load("api_v2_alerts_GET.json"))] == \
           [a["fingerprint"] for a in _load("api_v2_alerts_GET.json")]


def _clashing() -> tuple[dict[str, Any], dict[str, Any], str]:
    """The two-alert HighErrorRate notification with the payment alert carrying the checkout alert's fingerprint,
    and its later resolved notification with the same lie; and the payment alert's real fingerprint."""
    firing = _load("webhook_v4_02_firing_higherrorrate_2alerts.json")
    resolved = _load("webhook_v4_04_resolved_higherrorrate.json")
    real = firing["alerts"][1]["fingerprint"]
    for body in (firing, resolved):
        assert body["alerts"][1]["labels"]["service"] == "payment"
        body["alerts"][1]["fingerprint"] = body["alerts"][0]["fingerprint"]
    return firing, resolved, real


async def test_two_alerts_sharing_a_supplied_fingerprint_both_reach_an_incident_and_resolve(
        fake_slack: FakeSlack, store_db: str) -> None:
    """Both alerts of a body in which two label sets carry one fingerprint are accepted, logged as a clash, kept as
    two alerts of the incident (the second under its computed fingerprint), and both resolve when the group does."""
    firing, resolved, real = _clashing()
    async with running_bot(fake_slack, config=CONFIG, SRE_BOT_ALERTMANAGER_TOKEN=TOKEN,
                           SRE_BOT_DB_URL=store_db) as bot:
        store = bot.deps.store

        async def settled() -> bool:
            return not await store.inbox_pending() and not await store.incidents.to_publish()

        with capture_logs() as logs:
            await post_all(bot.http, [(0.0, firing)])
        [warning] = [e for e in logs.entries if e["event"] == "alert notification stored with changes"]
        [note] = warning["changes"]
        assert "alerts[1].fingerprint" in note and "does not match its labels" in note and real in note
        await eventually(settled, what="the notification correlated")
        [one] = await store.incidents.listing(open_only=False)
        alerts = {a.event.fingerprint: a.event.labels["service"] for a in await store.incidents.alerts(one.key)}
        assert alerts == {firing["alerts"][0]["fingerprint"]: "checkout", real: "payment"}

        await post_all(bot.http, [(0.0, resolved)])
        await eventually(settled, what="the resolution correlated")
        [one] = await store.incidents.listing(open_only=False)
        assert one.incident.resolved
        assert {a.event.status for a in await store.incidents.alerts(one.key)} == {"resolved"}


async def test_an_alert_reusing_another_alerts_fingerprint_later_still_reaches_an_incident(
        fake_slack: FakeSlack) -> None:
    """The crash-loop alert first; then, in a later notification, a HighErrorRate alert that carries the crash-loop
    alert's fingerprint: it is not mistaken for a repeat of the first but joins the incident as a second alert."""
    crash = _load("webhook_v4_01_firing_crashloop.json")
    rate = _load("webhook_v4_02_firing_higherrorrate_2alerts.json")
    rate["alerts"] = rate["alerts"][1:]
    rate["alerts"][0]["fingerprint"] = crash["alerts"][0]["fingerprint"]
    async with running_bot(fake_slack, config=CONFIG, SRE_BOT_ALERTMANAGER_TOKEN=TOKEN) as bot:
        store = bot.deps.store

        async def settled() -> bool:
            return not await store.inbox_pending() and not await store.incidents.to_publish()

        await post_all(bot.http, [(0.0, crash)])
        await eventually(settled, what="the crash loop correlated")
        await post_all(bot.http, [(0.0, rate)])
        await eventually(settled, what="the error rate correlated")
        alerts = [a.event for s in await store.incidents.listing(open_only=False)
                  for a in await store.incidents.alerts(s.key)]
        assert sorted(a.name for a in alerts) == ["HighErrorRate", "KubePodCrashLooping"]
        assert {a.fingerprint for a in alerts} == {crash["alerts"][0]["fingerprint"],
                                                   fingerprint(rate["alerts"][0]["labels"])}


@pytest.mark.parametrize("supplied", ["", None, "not-a-fingerprint", "2EB2DDD1492C29C3"])
def test_missing_odd_or_upper_case_fingerprints_become_the_computed_one(supplied: str | None) -> None:
    """No fingerprint, an empty one or a sender's own id: the computed one, with a note only for the odd id; the
    right one in upper case is the same fingerprint."""
    body = _load("webhook_v4_01_firing_crashloop.json")
    if supplied is None:
        del body["alerts"][0]["fingerprint"]
    else:
        body["alerts"][0]["fingerprint"] = supplied
    message = parse_webhook(body)
    assert message.alerts[0].fingerprint == "2eb2ddd1492c29c3"
    assert len(message.notes) == (1 if supplied == "not-a-fingerprint" else 0)


def test_a_true_fingerprint_collision_keeps_the_second_label_set_apart() -> None:
    """Two label sets with one FNV fingerprint in one payload (a real collision, built here directly): the first
    keeps it, the second gets a stable id from a stronger hash, the note says so, and a repeat is not split."""
    t = datetime(2026, 11, 21, tzinfo=timezone.utc)
    a = AlertEvent(fingerprint="00000000000000aa", labels={"alertname": "A"}, starts_at=t)
    b = AlertEvent(fingerprint="00000000000000aa", labels={"alertname": "B"}, starts_at=t)
    notes: list[str] = []
    out = _keep_apart([a, b, a, b], "body.alerts", notes)
    assert [e.fingerprint for e in out][::2] == ["00000000000000aa", "00000000000000aa"]
    assert out[1].fingerprint == out[3].fingerprint != "00000000000000aa" and len(out[1].fingerprint) == 16
    assert len(notes) == 2 and "body.alerts[1]" in notes[0] and out[1].fingerprint in notes[0]
    assert _keep_apart([b], "x", []) == [b]  # alone, a label set keeps its own fingerprint


def test_api_alerts_and_lists_of_bodies_are_checked_too() -> None:
    """`GET /api/v2/alerts` alerts and a capture of several bodies get the same check (the CLI's inputs)."""
    alerts = _load("api_v2_alerts_GET.json")
    alerts[1]["fingerprint"] = alerts[0]["fingerprint"]
    assert len({a.fingerprint for a in parse_api_alerts(alerts)}) == 3
    bodies = [_load("webhook_v4_01_firing_crashloop.json"), _clashing()[0]]
    assert len({a.fingerprint for a in parse_alerts(bodies)}) == 3


async def test_the_real_alertmanager_fingerprints_match_even_for_unicode_labels(fake_slack: FakeSlack,
                                                                                 tmp_path: Path) -> None:
    """Alerts posted to a real Alertmanager, with non-ASCII names sorted by bytes and values (accents, CJK, an emoji,
    U+00FF), come back in its webhook with fingerprints equal to the bot's: no change logged, stored as sent."""
    config = f"""route:
  receiver: sre-bot
  group_by: ['...']
  group_wait: 1s
  group_interval: 1s
receivers:
  - name: sre-bot
    webhook_configs:
      - url: URL/alertmanager
        http_config:
          authorization:
            type: Bearer
            credentials: {TOKEN}
"""
    values = ["zürich", "東京-1", "fire 🔥", "ÿþ", "a=b,c\"d", "x" * 300, "with space", "Ω"]
    posted = [{"labels": {"alertname": "UnicodeCheck", "site": v, "zone": f"z{i}", "b": "β" * i},
               "startsAt": datetime.now(timezone.utc).isoformat()} for i, v in enumerate(values)]
    async with running_bot(fake_slack, incidents=False, SRE_BOT_ALERTMANAGER_TOKEN=TOKEN) as bot:
        with capture_logs() as logs, alertmanager(tmp_path, config.replace("URL", bot.url)) as am:
            async with httpx.AsyncClient(timeout=5) as client:
                (await client.post(f"{am}/api/v2/alerts", json=posted)).raise_for_status()

            async def delivered() -> bool:
                rows = await bot.deps.store.inbox_pending(limit=100)
                return sum(len(b["alerts"]) for _, _, b in rows) >= len(values)

            await eventually(delivered, timeout=30, what="Alertmanager's notifications")
            await asyncio.sleep(0.2)
        rows = [b for _, _, b in await bot.deps.store.inbox_pending(limit=100)]
        sent = [a for b in rows for a in b["alerts"]]
        assert sorted(a["labels"]["site"] for a in sent) == sorted(values)
        for a in sent:
            assert a["fingerprint"] == fingerprint(a["labels"]), a["labels"]
        assert "alert notification stored with changes" not in logs.events()
        assert not logs.tracebacks()
