"""The escalation rule end to end, on the real Bolt app over signed HTTP with the fake Slack API and a PagerDuty
Events API v2 receiver on a real port: a storm nobody can explain → "Page the payments on-call?" in the incident
thread → Approve → one page → the alerts resolve → the page resolves. Also: Acknowledge, the per-team rate limit,
`auto`, and the kill switch."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from sre_bot.incidents.config import IncidentsConfig
from sre_bot.slack.incident_blocks import ACKNOWLEDGE
from sre_bot.store import ActionRequest
from sre_bot.store.pages import PageStore, dedup_key
from tests.actions._support import APPROVE, ask, audit_kinds, click, request_message
from tests.escalation._support import blocks_text, env_for, escalation_config, pagerduty_receiver
from tests.fakes.slack_api import FakeSlack
from tests.harness import BotUnderTest, running_bot
from tests.incidents._storm import CHANNEL, eventually, post_all, storm, thread, top_level


def _split() -> tuple[list[tuple[float, dict[str, Any]]], list[tuple[float, dict[str, Any]]]]:
    world, bodies = storm()
    resolve_at = world.anchor - 180
    return [b for b in bodies if b[0] < resolve_at], [b for b in bodies if b[0] >= resolve_at]


def _thread_text(fake: FakeSlack, ts: str) -> str:
    return "\n".join(blocks_text(m) for m in thread(fake.messages(CHANNEL), ts))


async def _incident_one(bot: BotUnderTest) -> Any:
    await eventually(lambda: _has_one(bot), what="incident #1 posted")
    return await bot.deps.store.incidents.get(1)


async def _has_one(bot: BotUnderTest) -> bool:
    s = await bot.deps.store.incidents.get(1)
    return s is not None and s.message_ts is not None


def _requests(fake: FakeSlack) -> list[dict[str, Any]]:
    return [m for m in fake.messages(CHANNEL) if "🔧" in blocks_text(m)]


async def test_unexplained_storm_is_offered_approved_paged_and_resolved(fake_slack: FakeSlack,
                                                                       store_url: str) -> None:
    """The whole path, on SQLite and PostgreSQL: the request in the thread, Approve, exactly one trigger at PagerDuty
    carrying the incident, then the storm resolves and the page is resolved; every step audited, the timeline says
    why."""
    firing, resolutions = _split()
    async with pagerduty_receiver() as (pd, url), \
            running_bot(fake_slack, config=escalation_config(), **env_for(url, SRE_BOT_DB_URL=store_url)) as bot:
        await post_all(bot.http, firing)
        s = await _incident_one(bot)
        await eventually(lambda: len(_requests(fake_slack)) == 1, what="the page request")
        req_msg = request_message(fake_slack, CHANNEL)
        assert req_msg.get("thread_ts") == s.message_ts and "the escalation rule" in blocks_text(req_msg)
        await eventually(lambda: "Page the payments on-call?" in _thread_text(fake_slack, s.message_ts),
                         what="the question in the thread")
        assert not pd.pages  # nothing sent before a person approves

        await bot.post(click(APPROVE, req_msg, user="W222", channel=CHANNEL))
        await eventually(lambda: len(pd.pages) == 1, what="the page at PagerDuty")
        page = pd.pages[0]
        assert page.team == "payments" and page.dedup_key == dedup_key(s.key) and page.status == "triggered"
        assert page.severity == "critical" and f"#{s.number}" in page.summary
        pages = PageStore(bot.deps.store)
        await eventually(lambda: _state(pages, s.key, "triggered"), what="the page recorded as triggered")

        await post_all(bot.http, resolutions)
        await eventually(lambda: pd.pages[0].status == "resolved", what="the page resolved at PagerDuty")
        await eventually(lambda: _state(pages, s.key, "resolved"), what="the page recorded as resolved")
        assert len(pd.pages) == 1 and [e["event_action"] for e in pd.pages[0].events] == ["trigger", "resolve"]
        await eventually(lambda: "is resolved (the incident resolved)" in _thread_text(fake_slack, s.message_ts),
                         what="the thread told")
        [row] = await pages.for_incident(s.key)
        kinds = await audit_kinds(bot, row.request_id)
        assert kinds[:4] == ["suggested", "approved", "started", "succeeded"] and "page_resolved" in kinds
        suggested = [r for r in await bot.deps.store.latest(200) if r.kind == "suggested"][0]
        assert suggested.data["source"]["kind"] == "escalation" and suggested.data["args"]["incident_id"] == s.key
        timeline = [e.text for e in await bot.deps.store.incidents.timeline(s.key)]
        assert any("escalation: page to payments (pagerduty.page) offered for approval" in t for t in timeline)
        # the second incident (a warning on search) is not offered, and says why
        two = await bot.deps.store.incidents.get(2)
        assert two is not None
        why = [e.text for e in await bot.deps.store.incidents.timeline(two.key) if e.kind == "escalation"]
        assert why and "severity warning is below critical" in why[-1]


async def _state(pages: PageStore, key: str, state: str) -> bool:
    rows = await pages.for_incident(key)
    return bool(rows) and rows[0].state == state


async def test_acknowledge_stops_the_rule_and_acknowledges_the_page(fake_slack: FakeSlack) -> None:
    """Approve a page, then a person clicks Acknowledge on the incident message: the message shows who, the page is
    acknowledged at PagerDuty, a second click is told who was first."""
    firing, _ = _split()
    async with pagerduty_receiver() as (pd, url), \
            running_bot(fake_slack, config=escalation_config(), **env_for(url)) as bot:
        await post_all(bot.http, firing)
        await _incident_one(bot)
        await eventually(lambda: len(_requests(fake_slack)) == 1, what="the page request")
        await bot.post(click(APPROVE, request_message(fake_slack, CHANNEL), user="W222", channel=CHANNEL))
        await eventually(lambda: len(pd.pages) == 1, what="the page")
        msg = top_level(fake_slack.messages(CHANNEL))[0]
        assert "Acknowledge" in blocks_text(msg)
        await bot.post(click(ACKNOWLEDGE, msg, user="W111", channel=CHANNEL))
        await eventually(lambda: pd.pages[0].status == "acknowledged", what="the page acknowledged at PagerDuty")
        await eventually(lambda: "Acknowledged by <@W111>" in blocks_text(top_level(fake_slack.messages(CHANNEL))[0]),
                         what="the message redrawn with who acknowledged")
        assert ACKNOWLEDGE not in blocks_text(top_level(fake_slack.messages(CHANNEL))[0])
        await bot.post(click(ACKNOWLEDGE, msg, user="W333", channel=CHANNEL))
        told = await fake_slack.wait_for("chat.postEphemeral", 2)
        assert "You acknowledged incident #1" in told[0].args["text"]
        assert "already acknowledged by <@W111>" in told[1].args["text"]
        assert "incident_acknowledged" in await audit_kinds(bot)


async def test_acknowledged_before_the_offer_is_not_offered_and_bad_clicks_are_refused(fake_slack: FakeSlack) -> None:
    """An incident acknowledged while the rule still waits (after: 30m) is never offered; a click naming no incident
    is told so, and nothing is written."""
    firing, _ = _split()
    async with pagerduty_receiver() as (pd, url), \
            running_bot(fake_slack, config=escalation_config(after="30m"), **env_for(url)) as bot:
        await post_all(bot.http, firing)
        s = await _incident_one(bot)
        msg = top_level(fake_slack.messages(CHANNEL))[0]
        await bot.post(click(ACKNOWLEDGE, msg, user="W111", channel=CHANNEL, value="no-such-incident"))
        [told] = await fake_slack.wait_for("chat.postEphemeral", 1)
        assert "No incident no-such-incident" in told.args["text"]
        await bot.post(click(ACKNOWLEDGE, msg, user="W111", channel=CHANNEL))
        pages = PageStore(bot.deps.store)
        await eventually(lambda: _decided(pages, s.key, "acknowledged by <@W111>"), what="the rule's reason")
        assert not _requests(fake_slack) and not pd.pages and await pages.for_incident(s.key) == []


async def _decided(pages: PageStore, key: str, needle: str) -> bool:
    return needle in (await pages.decision_of(key) or "")


async def test_team_rate_limit_counts_pages_whoever_asked(fake_slack: FakeSlack) -> None:
    """payments was paged once this hour by a person's own request: with max_per_hour 1 the rule does not offer, and
    the timeline says why."""
    firing, _ = _split()
    async with pagerduty_receiver() as (pd, url), \
            running_bot(fake_slack, config=escalation_config(max_per_hour=1), **env_for(url)) as bot:
        store, now = bot.deps.store, bot.deps.clock()
        await store.create_request(ActionRequest(
            id="person-page-0000000001", action="pagerduty.page",
            args={"service": "checkout", "team": "payments", "severity": "critical"}, preview="page", risk="medium",
            reversible=True, reason="by hand", evidence_ids=[], source={"kind": "person"}, requested_by="W111",
            channel=CHANNEL, created_at=now, expires_at=now + timedelta(minutes=15)))
        await store.claim("person-page-0000000001", user="W111", user_name=None, now=now)
        await store.finish("person-page-0000000001", ok=True, detail="sent", response={}, now=now)
        await post_all(bot.http, firing)
        s = await _incident_one(bot)
        pages = PageStore(bot.deps.store)
        await eventually(lambda: _decided(pages, s.key, "payments was paged 1 time(s) in the last hour"),
                         what="the rate limit's reason")
        assert not _requests(fake_slack) and not pd.pages


async def test_auto_pages_a_critical_incident_without_a_click(fake_slack: FakeSlack) -> None:
    """`pagerduty.page` at `auto` and critical alerts: the page goes out at once, announced in the thread, its
    request message showing it ran."""
    firing, _ = _split()
    async with pagerduty_receiver() as (pd, url), \
            running_bot(fake_slack, config=escalation_config(autonomy="auto"), **env_for(url)) as bot:
        await post_all(bot.http, firing)
        s = await _incident_one(bot)
        await eventually(lambda: len(pd.pages) == 1, what="the automatic page")
        await eventually(lambda: "Paging the payments on-call* automatically" in _thread_text(
            fake_slack, s.message_ts), what="the announcement")
        [row] = await PageStore(bot.deps.store).for_incident(s.key)
        req = await bot.deps.store.get_request(row.request_id or "")
        assert req is not None and req.decided_by == "auto" and req.status == "succeeded"


async def test_kill_switch_holds_the_automatic_page_for_a_person(fake_slack: FakeSlack) -> None:
    """With the kill switch on, the `auto` page is not sent: it waits as a request, the thread says why, and
    approving it is refused while the switch is on."""
    firing, _ = _split()
    async with pagerduty_receiver() as (pd, url), \
            running_bot(fake_slack, config=escalation_config(autonomy="auto"),
                        **env_for(url, SRE_BOT_KILL_SWITCH="true")) as bot:
        await post_all(bot.http, firing)
        s = await _incident_one(bot)
        await eventually(lambda: len(_requests(fake_slack)) == 1, what="the held request")
        await eventually(lambda: "kill switch" in _thread_text(fake_slack, s.message_ts), what="why it waits")
        await bot.post(click(APPROVE, request_message(fake_slack, CHANNEL), user="W222", channel=CHANNEL))
        await fake_slack.wait_for("chat.postEphemeral", 1)
        assert not pd.pages
        assert "auto_held" in await audit_kinds(bot)


def test_incidents_config_is_the_storms() -> None:
    """The storm config these tests change only in its escalation and actions sections."""
    cfg = escalation_config()
    assert isinstance(cfg.incidents, IncidentsConfig) and cfg.incidents.channel == CHANNEL


async def test_a_page_nobody_approved_is_withdrawn_when_the_incident_resolves(fake_slack: FakeSlack) -> None:
    """The request waits; the storm resolves first: the rule rejects its own request, nothing is sent, the thread
    says so, and `/sre incident 1` shows the escalation on the timeline."""
    firing, resolutions = _split()
    async with pagerduty_receiver() as (pd, url), \
            running_bot(fake_slack, config=escalation_config(), **env_for(url)) as bot:
        await post_all(bot.http, firing)
        s = await _incident_one(bot)
        await eventually(lambda: len(_requests(fake_slack)) == 1, what="the page request")
        await post_all(bot.http, resolutions)
        pages = PageStore(bot.deps.store)
        await eventually(lambda: _state(pages, s.key, "cancelled"), what="the offer withdrawn")
        [row] = await pages.for_incident(s.key)
        req = await bot.deps.store.get_request(row.request_id or "")
        assert req is not None and req.status == "rejected" and "resolved" in (req.reason_rejected or "")
        await eventually(lambda: "was not sent: the incident resolved first" in _thread_text(
            fake_slack, s.message_ts), what="the thread told")
        await bot.post(click(APPROVE, request_message(fake_slack, CHANNEL), user="W222", channel=CHANNEL))
        await fake_slack.wait_for("chat.postEphemeral", 1)
        assert not pd.pages
        shown = json.dumps(await ask(bot, fake_slack, "incident 1"), ensure_ascii=False)
        assert "escalation: page to payments (pagerduty.page) offered for approval" in shown


async def test_a_page_is_followed_after_a_restart(fake_slack: FakeSlack, tmp_path: Path) -> None:
    """Paged by one process; the storm resolves while a new process runs on the same database: the page is
    resolved once, and the incident is not offered again."""
    firing, resolutions = _split()
    env = {"SRE_BOT_DB_URL": f"sqlite+aiosqlite:///{tmp_path}/bot.db"}
    async with pagerduty_receiver() as (pd, url):
        async with running_bot(fake_slack, config=escalation_config(), **env_for(url, **env)) as bot:
            await post_all(bot.http, firing)
            s = await _incident_one(bot)
            await eventually(lambda: len(_requests(fake_slack)) == 1, what="the page request")
            await bot.post(click(APPROVE, request_message(fake_slack, CHANNEL), user="W222", channel=CHANNEL))
            await eventually(lambda: len(pd.pages) == 1, what="the page")
        async with running_bot(fake_slack, config=escalation_config(), **env_for(url, **env)) as bot:
            await post_all(bot.http, resolutions)
            await eventually(lambda: pd.pages[0].status == "resolved", what="resolved by the new process")
            await eventually(lambda: _state(PageStore(bot.deps.store), s.key, "resolved"), what="recorded")
        assert len(pd.pages) == 1 and len(_requests(fake_slack)) == 1
        assert [e["event_action"] for e in pd.pages[0].events] == ["trigger", "resolve"]


async def test_two_replicas_offer_once(fake_slack: FakeSlack, store_url: str) -> None:
    """Two escalators on one database (two replicas, or a replica and its restart) considering the same incidents at
    once make one request per incident, on SQLite and PostgreSQL."""
    firing, _ = _split()
    async with pagerduty_receiver() as (pd, url), \
            running_bot(fake_slack, config=escalation_config(), incidents=False,
                        **env_for(url, SRE_BOT_DB_URL=store_url)) as bot:
        from sre_bot.escalation.service import Escalator
        from sre_bot.incidents.processor import IncidentProcessor

        await post_all(bot.http, firing)
        processor = IncidentProcessor(bot.deps)
        while (await processor.step()).bodies:
            pass
        store = bot.deps.store
        for s in await store.incidents.listing(open_only=True):
            await store.incidents.set_message(s.key, ts=f"1700000000.{s.number:06d}")
        posted: list[str] = []

        async def send(s: Any, text: str) -> None:
            posted.append(text)

        async def post(req: Any) -> None:
            posted.append(req.id)

        await asyncio.gather(Escalator(bot.deps).run(send, post), Escalator(bot.deps).run(send, post))
        one = await store.incidents.get(1)
        rows = await PageStore(store).for_incident(one.key)
        assert len(rows) == 1 and rows[0].state == "requested"
        assert len([r for r in await store.recent(50) if r.action == "pagerduty.page"]) == 1
        assert sum(1 for p in posted if "Page the payments on-call?" in p) == 1 and not pd.pages
