"""Issue 14, item 2: alerts dated far from the clock (hours ahead, year 9999, before 1970) must not switch off
grouping, before or after a restart, nor reach an investigation as an impossible window.

The bot runs for real (`running_bot`: aiohttp server, Bolt app, incident loop, fake Slack) on SQLite and
PostgreSQL; the storm is posted to `POST /alertmanager`. Its clock is a test clock that follows the storm's own
timeline, so each notification is received when Alertmanager would have sent it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from sre_bot.alert_payloads import fingerprint
from sre_bot.analysis.correlation import AlertEvent, CorrelationRules, Correlator, correlate
from sre_bot.store.incidents import IncidentChange, Lease
from tests.actions._support import ask
from tests.fakes.slack_api import FakeSlack
from tests.harness import BotUnderTest, running_bot
from tests.incidents._storm import CHANNEL, TOKEN, eventually, storm, storm_config, thread, top_level
from tests.store.conftest import pg_url, postgres_available, sqlite_url  # noqa: F401  (fixtures)

ROOT = Path(__file__).resolve().parents[2]
YEAR_9999 = "9999-12-31T23:59:59Z"
MOON_LANDING = "1969-07-20T20:17:40Z"  # before the epoch: no real alert started then
CLI_CONFIG = """
services:
  frontend: {depends_on: [checkout]}
  checkout: {depends_on: [payments-api]}
  payments-api: {depends_on: [payments-db]}
  payments-db: {}
  search: {}
"""


class StormClock:
    """The bot's clock, moved by the test along the storm's timeline (received times, leases, timeline)."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def follow(self, t: datetime) -> None:
        self.at = max(self.at, t)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> str:
    """A fresh database, once per backend."""
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")


def _text(message: dict[str, Any]) -> str:
    return json.dumps(message.get("blocks", []), ensure_ascii=False) + message.get("text", "")


def _ts(t: float) -> datetime:
    return datetime.fromtimestamp(t, timezone.utc)


async def _post(bot: BotUnderTest, clock: StormClock, bodies: list[tuple[datetime, dict[str, Any]]]) -> None:
    """Post each body when Alertmanager would send it: a couple of seconds after its latest change."""
    for at, body in bodies:
        clock.follow(at + timedelta(seconds=2))
        resp = await bot.http.post("/alertmanager", json=body, headers={"Authorization": f"Bearer {TOKEN}"})
        assert resp.status_code == 200, resp.text


async def _settled(bot: BotUnderTest, *, most: int) -> bool:
    """Inbox processed and Slack caught up; fails at once when the storm has already split into too many."""
    store = bot.deps.store
    assert store is not None
    if await store.incidents.get(most + 1) is not None:  # numbers are handed out 1, 2, 3, …
        found = await store.incidents.listing(open_only=False, limit=most + 1)
        raise AssertionError(f"more than {most} incidents: {[s.incident.title for s in found]}")
    return not await store.inbox_pending(limit=1) and not await store.incidents.to_publish(limit=1)


def _skewed_storm(now: datetime) -> tuple[datetime, list[tuple[datetime, dict[str, Any]]]]:
    """The storm scenario (two incidents: 12 payments alerts, 2 on node n7) with payments-api's HighLatency
    dated 3 h ahead and one crash-looping pod dated before 1970, in every notification that carries them."""
    world, bodies = storm(now)
    out = []
    for t, body in bodies:
        body = json.loads(json.dumps(body))
        for a in body["alerts"]:
            labels = a["labels"]
            if labels["alertname"] == "HighLatency" and labels.get("service") == "payments-api":
                a["startsAt"] = (datetime.fromisoformat(a["startsAt"].replace("Z", "+00:00"))
                                 + timedelta(hours=3)).isoformat().replace("+00:00", "Z")
            if labels.get("pod", "").endswith("-b8w5z"):
                a["startsAt"] = MOON_LANDING
        out.append((_ts(t), body))
    return _ts(world.anchor - 180), out


async def test_an_alert_3h_ahead_and_one_before_1970_keep_the_storm_grouped_across_a_restart(
        fake_slack: FakeSlack, db_url: str) -> None:
    """Half the storm (with both skewed alerts), a restart on the same store, the rest and the resolutions: still
    the two incidents of the storm, each posted once, with the skewed times and what was used said everywhere."""
    now = datetime.now(timezone.utc).replace(microsecond=0)
    resolve_at, bodies = _skewed_storm(now)
    firing = [b for b in bodies if b[0] < resolve_at]
    resolutions = [b for b in bodies if b[0] >= resolve_at]
    skewed = next(i for i, (t, _) in enumerate(firing) if t >= now - timedelta(minutes=18))  # both skews before
    half = next(i for i, (t, _) in enumerate(firing) if t >= now - timedelta(minutes=17))
    clock = StormClock(firing[0][0])
    env = {"SRE_BOT_ALERTMANAGER_TOKEN": TOKEN, "SRE_BOT_DB_URL": db_url}
    async with running_bot(fake_slack, config=storm_config(), clock=clock, **env) as bot:
        await _post(bot, clock, firing[:skewed])  # the skewed alerts are processed before what follows them
        await eventually(lambda: _settled(bot, most=2), what="the skewed alerts processed")
        await _post(bot, clock, firing[skewed:half])
        await eventually(lambda: _settled(bot, most=2), what="the first half processed")
    async with running_bot(fake_slack, config=storm_config(), clock=clock, **env) as bot:
        await _post(bot, clock, firing[half:])  # every HighLatency notification repeats the one 3 h ahead
        await eventually(lambda: _settled(bot, most=2), what="the rest processed after the restart")
        await _post(bot, clock, resolutions)
        await eventually(lambda: _settled(bot, most=2), what="the resolutions published")
        store = bot.deps.store
        assert store is not None
        db, disk = sorted(await store.incidents.listing(open_only=False), key=lambda s: s.number)
        assert len(db.incident.alerts) == 12 and len(disk.incident.alerts) == 2
        assert db.incident.resolved and not disk.incident.resolved
        assert db.incident.started_at == now - timedelta(minutes=20)  # the real onset, not 3 h ahead
        assert db.incident.resolved_at is not None and db.incident.resolved_at - db.incident.started_at < timedelta(
            minutes=20)
        assert len(db.incident.skewed) == 2 and all("used instead" in n for n in db.incident.skewed)
        alerts = {(a.event.name, a.event.instance or a.service): a for a in await store.incidents.alerts(db.key)}
        latency = alerts[("HighLatency", "payments-api")]
        [fix] = latency.event.skewed
        assert fix.which == "startsAt" and fix.reported == now - timedelta(minutes=19, seconds=30) + timedelta(hours=3)
        assert latency.event.starts_at == now - timedelta(minutes=19, seconds=30) + timedelta(seconds=2)
        assert latency.rule == "graph"  # it joined like its neighbours, at the time it arrived
        pod = alerts[("KubePodCrashLooping", "payments-api-7d9f8b6c5-b8w5z")]
        assert pod.event.skewed[0].reported.year == 1969 and pod.event.starts_at.year == now.year
        timeline = [t.text for t in await store.incidents.timeline(db.key)]
        assert sum("startsAt" in t and "used instead" in t for t in timeline) == 2, timeline

        msgs = top_level(fake_slack.messages(CHANNEL))
        assert len(msgs) == 2 and len([c for c in fake_slack.calls("chat.postMessage")
                                       if not c.args.get("thread_ts")]) == 2
        message = next(m for m in msgs if "PostgresTooManyConnections" in _text(m))
        assert "2 alerts carried a time far from the clock" in _text(message)
        assert "9999" not in _text(message) and "lasted 1" in _text(message)
        notes = "".join(_text(n) for n in thread(fake_slack.messages(CHANNEL), message["ts"]))
        assert "1969-07-20 20:17:40 UTC" in notes and "used instead" in notes
        shown = json.dumps(await ask(bot, fake_slack, f"incident {db.number}"), ensure_ascii=False)
        line = next(x for x in shown.split("\\n") if "HighLatency on `payments-api`" in x)
        assert "⏱ startsAt" in line and "after its notification arrived" in line, line


def _big_storm(t0: datetime, n: int, per_body: int, skewed_at: int) -> list[tuple[datetime, dict[str, Any]]]:
    """`n` alerts over 20 minutes: crash-looping pods up the payments chain, and a slow search (one alert in 20)
    on node n7; alert number `skewed_at` (on payments-api) says it starts on 9999-12-31."""
    chain = ["payments-db", "payments-api", "checkout", "frontend"]
    alerts: list[tuple[datetime, dict[str, Any]]] = []
    for i in range(n):
        at = t0 + timedelta(seconds=1200 * i / n)
        if i % 20 == 19 or i == 1:
            labels = {"alertname": "HighLatency", "service": "search", "node": "n7", "pod": f"search-{i}"}
        else:
            svc = chain[min(3, i * 4 // n)] if i != skewed_at else "payments-api"
            labels = {"alertname": "KubePodCrashLooping", "service": svc, "pod": f"{svc}-{i}"}
        labels |= {"namespace": "shop", "severity": "warning"}
        start = YEAR_9999 if i == skewed_at else at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        alerts.append((at, {"status": "firing", "labels": labels, "annotations": {"summary": f"alert {i}"},
                            "startsAt": start, "endsAt": "0001-01-01T00:00:00Z", "fingerprint": fingerprint(labels)}))
    bodies = []
    for k in range(0, n, per_body):
        part = alerts[k:k + per_body]
        bodies.append((part[-1][0], {
            "version": "4", "groupKey": f'{{}}:{{batch="{k}"}}', "status": "firing", "receiver": "sre-bot",
            "groupLabels": {"batch": str(k)}, "commonLabels": {"namespace": "shop"}, "commonAnnotations": {},
            "externalURL": "http://alertmanager:9093", "truncatedAlerts": 0, "alerts": [a for _, a in part]}))
    return bodies


async def test_a_10000_alert_storm_with_one_year_9999_alert_makes_two_incidents_across_a_restart(
        fake_slack: FakeSlack, db_url: str) -> None:
    """10,000 alerts in notifications of 250, one dated 9999-12-31 in the third; half, a restart on the same
    store, the other half: two incidents (the payments chain and node n7), two messages, the 9999 time set aside."""
    t0 = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=25)
    bodies = _big_storm(t0, 10_000, per_body=250, skewed_at=600)
    clock = StormClock(t0)
    env = {"SRE_BOT_ALERTMANAGER_TOKEN": TOKEN, "SRE_BOT_DB_URL": db_url}
    half = len(bodies) // 2
    async with running_bot(fake_slack, config=storm_config(every="5s"), clock=clock, **env) as bot:
        await _post(bot, clock, bodies[:3])
        await eventually(lambda: _settled(bot, most=3), what="the first notifications", timeout=30)
        await _post(bot, clock, bodies[3:half])
        await eventually(lambda: _settled(bot, most=3), what="the first half", timeout=120)
    async with running_bot(fake_slack, config=storm_config(every="5s"), clock=clock, **env) as bot:
        await _post(bot, clock, bodies[half:])
        await eventually(lambda: _settled(bot, most=3), what="the second half", timeout=120)
        store = bot.deps.store
        assert store is not None
        found = sorted(await store.incidents.listing(open_only=False), key=lambda s: s.number)
        assert [len(s.incident.alerts) for s in found] == [9499, 501], [s.incident.title for s in found]
        chain, node = found
        assert chain.incident.services == ["payments-db", "payments-api", "checkout", "frontend"]
        assert node.incident.services == ["search"] and node.incident.root_service == "search"
        assert chain.incident.last_alert_at < datetime(2100, 1, 1, tzinfo=timezone.utc)
        [note] = chain.incident.skewed
        assert "9999-12-31 23:59:59 UTC" in note and "used instead" in note
        posts = [c for c in fake_slack.calls("chat.postMessage") if not c.args.get("thread_ts")]
        assert len(posts) == 2
        chain_msg = next(m for m in top_level(fake_slack.messages(CHANNEL)) if "payments-db" in _text(m))
        assert "1 alert carried a time far from the clock" in _text(chain_msg)


async def test_a_store_written_before_the_fix_neither_poisons_the_restore_nor_the_investigation(
        fake_slack: FakeSlack, db_url: str) -> None:
    """An incident stored with a year-9999 start (as the bot used to store it): the restarted bot still groups
    the storm, and its investigation asks about a window that ends by now instead of raising OverflowError."""
    now = datetime.now(timezone.utc).replace(microsecond=0)
    world, plain = storm(now)
    clock = StormClock(_ts(plain[0][0]) - timedelta(minutes=1))
    env = {"SRE_BOT_ALERTMANAGER_TOKEN": TOKEN, "SRE_BOT_DB_URL": db_url}
    received = now - timedelta(hours=3)
    raw = AlertEvent(fingerprint="legacy0000000001", labels={"alertname": "SLOBurnRateSlow", "service": "search",
                                                              "namespace": "shop", "severity": "warning"},
                     starts_at=datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone.utc))
    [legacy] = correlate([raw])  # no receive time: taken at face value, as the bot used to
    assert legacy.started_at.year == 9999
    async with running_bot(fake_slack, config=storm_config(), clock=clock, incidents=False, **env) as bot:
        store = bot.deps.store
        assert store is not None
        epoch = await store.leases.acquire("incidents", "old-bot", ttl=timedelta(minutes=1), now=clock())
        assert epoch is not None
        await store.incidents.apply([IncidentChange(
            incident=legacy, alerts=[(raw.model_copy(update={"received_at": received}), None)],
            services={raw.fingerprint: "search"}, channel=CHANNEL)], inbox_ids=[],
            lease=Lease("incidents", "old-bot", epoch), now=clock(), ttl=timedelta(minutes=1))
        await store.leases.release(Lease("incidents", "old-bot", epoch), now=clock())
    config = storm_config(investigate=True)
    async with running_bot(fake_slack, config=config, clock=clock, **env) as bot:
        await eventually(lambda: _settled(bot, most=1), what="the legacy incident published")
        first = top_level(fake_slack.messages(CHANNEL))[0]
        await eventually(lambda: any("why is search unhealthy" in _text(m) or "search" in m.get("text", "")
                                     for m in thread(fake_slack.messages(CHANNEL), first["ts"])),
                         what="the legacy incident's investigation answered", timeout=30)
        await _post(bot, clock, [(_ts(t), b) for t, b in plain if t < world.anchor - 180])
        await eventually(lambda: _settled(bot, most=3), what="the storm published")
        store = bot.deps.store
        assert store is not None
        found = sorted(await store.incidents.listing(open_only=False), key=lambda s: s.number)
        assert [len(s.incident.alerts) for s in found] == [1, 12, 2]


def test_the_correlator_never_overflows_and_keeps_grouping_without_receive_times() -> None:
    """Times at both ends of what Python can hold, with and without a receive time, in any order: no
    OverflowError, and an alert that arrived with a receive time joins its neighbours."""
    t0 = datetime(2026, 11, 21, 14, 0, tzinfo=timezone.utc)
    graph = {"checkout": ["payments"], "payments": []}
    extremes = [datetime.min.replace(tzinfo=timezone.utc), datetime.max.replace(tzinfo=timezone.utc),
                datetime(1969, 7, 20, tzinfo=timezone.utc)]
    c = Correlator(CorrelationRules(), graph)
    first = c.add(AlertEvent(fingerprint="a", labels={"alertname": "Down", "service": "payments"}, starts_at=t0,
                             received_at=t0))
    for i, t in enumerate(extremes):
        got = c.add(AlertEvent(fingerprint=f"x{i}", labels={"alertname": "Err", "service": "checkout"}, starts_at=t,
                               received_at=t0 + timedelta(seconds=30)))
        assert got.incident_key == first.incident_key, t
    after = c.add(AlertEvent(fingerprint="b", labels={"alertname": "Err", "service": "payments"},
                             starts_at=t0 + timedelta(minutes=1), received_at=t0 + timedelta(minutes=1)))
    assert after.incident_key == first.incident_key
    inc = c.incident(first.incident_key)
    assert len(inc.skewed) == 3 and inc.last_alert_at == t0 + timedelta(minutes=1)
    bare = Correlator(CorrelationRules(), graph)
    for i, t in enumerate([*extremes, t0]):  # no receive time: taken at face value, but nothing overflows
        bare.add(AlertEvent(fingerprint=f"y{i}", labels={"alertname": "Err", "service": "checkout"}, starts_at=t))
    assert len(bare.incidents()) == 4


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SRE_BOT_", "ANTHROPIC_"))}
    return subprocess.run([sys.executable, "-m", "sre_bot", "correlate", *args], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, env=base, timeout=120, cwd=cwd)


def test_sre_bot_correlate_replays_a_capture_with_skewed_times(tmp_path: Path) -> None:
    """`sre-bot correlate` on the storm's notifications with a 3 h-ahead, a pre-1970 and a year-9999 start:
    the storm's two incidents, and the output says which times were set aside and what was used."""
    now = datetime(2026, 11, 21, 14, 0, tzinfo=timezone.utc)
    _, bodies = _skewed_storm(now)
    for _, body in bodies:
        for a in body["alerts"]:
            if a["labels"]["alertname"] == "HighErrorRate" and a["labels"].get("service") == "frontend":
                a["startsAt"] = YEAR_9999
    capture = tmp_path / "capture.json"
    capture.write_text(json.dumps([b for _, b in bodies]))
    config = tmp_path / "sre-bot.yaml"
    config.write_text(CLI_CONFIG)
    r = _cli(str(capture), "--json", "--config", str(config), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert sorted(len(i["alerts"]) for i in doc["incidents"]) == [2, 12], [i["title"] for i in doc["incidents"]]
    db = next(i for i in doc["incidents"] if len(i["alerts"]) == 12)
    assert len(db["skewed"]) == 3 and db["started_at"] == (now - timedelta(minutes=20)).isoformat()
    assert any("9999-12-31" in n for n in db["skewed"]) and db["last_alert_at"] < "2027"
    text = _cli(str(capture), "--config", str(config), cwd=tmp_path)
    assert text.returncode == 0 and "9999-12-31 23:59:59 UTC" in text.stdout and "used instead" in text.stdout
