"""A storm through `POST /alertmanager` on the real server: the expected incidents, one Slack message each, redrawn
in place as alerts join and resolve, new alerts summarised in the thread in batches; a restart mid-storm keeps
updating the same messages and posts no duplicates."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sre_bot.actions.config import ActionsConfig
from sre_bot.incidents.config import IncidentsConfig
from sre_bot.runbooks.config import RunbooksConfig
from sre_bot.sandbox.notifications import notifications
from tests.actions._support import ask, request_message
from tests.fakes.anthropic_api import FakeAnthropic, call, tool_use
from tests.fakes.slack_api import FakeSlack
from tests.harness import running_bot
from tests.incidents._storm import CHANNEL, TOKEN, eventually, post_all, storm, storm_config, thread, top_level


def _text(message: dict[str, Any]) -> str:
    return json.dumps(message.get("blocks", []), ensure_ascii=False)


async def _settled(bot: Any) -> bool:
    store = bot.deps.store
    return not await store.inbox_pending() and not await store.incidents.to_publish()


async def test_storm_becomes_two_incidents_each_one_message_updated_in_place(fake_slack: FakeSlack) -> None:
    """14 alerts from 4 services + an unrelated node problem → 2 messages; joins batched in the thread; the
    database incident's message turns resolved when its alerts resolve, and nothing new is posted at top level."""
    world, bodies = storm()
    resolve_at = world.anchor - 180
    first, rest = bodies[:2], [b for b in bodies[2:] if b[0] < resolve_at]
    resolutions = [b for b in bodies if b[0] >= resolve_at]
    assert resolutions and all(any(a["status"] == "resolved" for a in b["alerts"]) for _, b in resolutions)
    async with running_bot(fake_slack, config=storm_config(), SRE_BOT_ALERTMANAGER_TOKEN=TOKEN) as bot:
        await post_all(bot.http, first)
        await eventually(lambda: len(top_level(fake_slack.messages(CHANNEL))) == 1, what="the first message")
        await eventually(lambda: _settled(bot), what="the first batch published")
        await post_all(bot.http, rest)
        await eventually(lambda: len(top_level(fake_slack.messages(CHANNEL))) == 2, what="the second incident")
        await eventually(lambda: _settled(bot), what="the storm published")
        db, disk = top_level(fake_slack.messages(CHANNEL))
        assert "#1 CRITICAL · PostgresTooManyConnections on payments-db" in _text(db)
        assert "12 of 12 alerts" in _text(db) and "Likely root service:* `payments-db` by topology" in _text(db)
        assert "`frontend`" in _text(db) and "search" not in _text(db)  # the second problem is not hidden
        assert "#2 WARNING · NodeFilesystemAlmostFull" in _text(disk) and "`search`" in _text(disk)
        notes = thread(fake_slack.messages(CHANNEL), db["ts"])
        assert 1 <= len(notes) <= 2, [n["text"] for n in notes]  # 10 joins, batched
        joined = "".join(_text(n) for n in notes)
        assert "Joined" in joined and "[graph]" in joined and "depends on" in joined

        await post_all(bot.http, resolutions)
        await eventually(lambda: "Resolved" in _text(top_level(fake_slack.messages(CHANNEL))[0]),
                         what="the resolved redraw")
        await eventually(lambda: _settled(bot), what="the resolutions published")
        db, disk = top_level(fake_slack.messages(CHANNEL))
        assert "✅ #1" in _text(db) and "lasted" in _text(db)
        last = thread(fake_slack.messages(CHANNEL), db["ts"])[-1]
        assert "Every alert has resolved" in _text(last) and "Resolved (12)" in _text(last)
        assert "Firing:* 2 of 2" in _text(disk)
        posts = [c for c in fake_slack.calls("chat.postMessage") if not c.args.get("thread_ts")]
        assert len(posts) == 2  # one message per incident, ever
        updates = {c.args["ts"] for c in fake_slack.calls("chat.update")}
        assert updates <= {db["ts"], disk["ts"]}


async def test_restart_mid_storm_keeps_updating_the_same_messages(fake_slack: FakeSlack, tmp_path: Path) -> None:
    """Half the storm, a restart (and notifications stored by a bot that died before processing them), the rest:
    still two messages, the same ones, with every alert counted once."""
    world, bodies = storm()
    resolve_at = world.anchor - 180
    firing = [b for b in bodies if b[0] < resolve_at]
    half = len(firing) // 2
    db_url = f"sqlite+aiosqlite:///{tmp_path}/bot.db"
    env = {"SRE_BOT_ALERTMANAGER_TOKEN": TOKEN, "SRE_BOT_DB_URL": db_url}
    async with running_bot(fake_slack, config=storm_config(), **env) as bot:
        await post_all(bot.http, firing[:half])
        await eventually(lambda: _settled(bot), what="the first half published")
    before = {m["ts"] for m in top_level(fake_slack.messages(CHANNEL))}
    assert len(before) >= 1
    async with running_bot(fake_slack, config=storm_config(), incidents=False, **env) as bot:
        await post_all(bot.http, firing[half:])  # accepted, then the process "dies" before processing
        assert len(await bot.deps.store.inbox_pending()) == len(firing) - half
    async with running_bot(fake_slack, config=storm_config(), **env) as bot:
        await eventually(lambda: _settled(bot), what="the stored rest processed after the restart")
        await post_all(bot.http, firing[half:])  # Alertmanager repeats itself: nothing new
        await post_all(bot.http, [b for b in bodies if b[0] >= resolve_at])
        await eventually(lambda: _settled(bot), what="the resolutions published")
        msgs = top_level(fake_slack.messages(CHANNEL))
        assert before <= {m["ts"] for m in msgs} and len(msgs) == 2
        assert len([c for c in fake_slack.calls("chat.postMessage") if not c.args.get("thread_ts")]) == 2
        one = await bot.deps.store.incidents.get(1)
        assert one is not None and one.incident.resolved and len(one.incident.alerts) == 12
        assert len(await bot.deps.store.incidents.alerts(one.key)) == 12
        assert "Resolved" in _text(msgs[0])


async def test_sre_incidents_and_incident_show_the_storm(fake_slack: FakeSlack) -> None:
    """`/sre incidents` lists the open one; `/sre incident 1` shows every alert with why it joined and the timeline;
    bad input gets a clear answer."""
    world, bodies = storm()
    async with running_bot(fake_slack, config=storm_config(), SRE_BOT_ALERTMANAGER_TOKEN=TOKEN) as bot:
        none = json.dumps(await ask(bot, fake_slack, "incidents"))
        assert "No open incidents" in none
        await post_all(bot.http, bodies)
        await eventually(lambda: _settled(bot), what="the storm published")
        listing = json.dumps(await ask(bot, fake_slack, "incidents"), ensure_ascii=False)
        assert "#2" in listing and "NodeFilesystemAlmostFull" in listing and "#1" not in listing
        everything = json.dumps(await ask(bot, fake_slack, "incidents all"), ensure_ascii=False)
        assert "#1" in everything and "resolved" in everything
        one = json.dumps(await ask(bot, fake_slack, "incident 1"), ensure_ascii=False)
        assert "PostgresTooManyConnections on `payments-db`" in one and "opened the incident" in one
        assert "[graph] payments-api depends on payments-db (1 hop)" in one
        assert "payments-api-7d9f8b6c5-x2k4q" in one and "Timeline" in one and "every alert has resolved" in one
        assert "likely root service: payments-db" in one
        usage = "/sre incident &lt;number&gt;"  # escaped for Slack, which shows it as <number>
        for text, needle in (("incident", usage), ("incident 99", "no incident #99"),
                             ("incident abc", usage), ("incidents yesterday", "incidents all")):
            assert needle in json.dumps(await ask(bot, fake_slack, text)), text


async def test_the_root_service_investigation_lands_in_the_thread_with_its_suggestion(fake_slack: FakeSlack,
                                                                                        shop) -> None:
    """The sandbox's bad deploy as Alertmanager notifications: the incident's thread gets the engine's answer, the
    message gets its top hypothesis with a quote, and the rollback it suggests waits for approval in the thread."""
    config = shop.config.model_copy(update={
        "incidents": IncidentsConfig(channel=CHANNEL, every="1s"),
        "runbooks": RunbooksConfig(dir=Path(__file__).resolve().parents[2] / "runbooks"),
        "actions": ActionsConfig.model_validate({"approvers": {"users": ["W222"]}})})
    async with running_bot(fake_slack, config=config, SRE_BOT_ALERTMANAGER_TOKEN=TOKEN,
                           **shop.urls.as_env()) as bot:
        await post_all(bot.http, notifications(shop.world))
        def db() -> dict[str, Any]:
            return next((m for m in top_level(fake_slack.messages(CHANNEL))
                         if "DBConnectionPoolExhausted on payments-db" in _text(m)), {})

        await eventually(lambda: "statistics engine" in _text(db()), timeout=30, what="the investigation line")
        msg = db()
        root_line = next(b["text"]["text"] for b in msg["blocks"] if "Likely root" in b.get("text", {}).get("text", ""))
        assert "*Likely root service:* `checkout` — " in root_line and "> " in root_line, root_line
        assert "`payments-db` by topology" in _text(msg)  # what topology alone would have said, shown second
        replies = thread(fake_slack.messages(CHANNEL), msg["ts"])
        assert any("why is frontend unhealthy" in _text(r) for r in replies)  # from the top of the chain
        request = request_message(fake_slack, CHANNEL)
        assert request["thread_ts"] == msg["ts"] and "argocd.rollback" in _text(request)
        assert not [o for o in shop.world.operations if o["op"] == "rollback"]  # nothing runs without a click
        one = next(s for s in await bot.deps.store.incidents.listing() if "DBConnection" in s.incident.title)
        assert one.investigated_root == "frontend" and one.investigation["service"] == "checkout"
        kinds = [t.kind for t in await bot.deps.store.incidents.timeline(one.key)]
        assert "investigated" in kinds
        offered = [r for r in thread(fake_slack.messages(CHANNEL), msg["ts"]) if "📒 runbook" in r.get("text", "")
                   or "📒 runbook" in _text(r)]
        assert offered and "db-connection-pool" in _text(offered[0])  # its alert matches the team's runbook


async def test_a_recurrence_opens_a_new_incident_that_links_the_resolved_one(fake_slack: FakeSlack) -> None:
    """After the database incident resolved, the same alert firing again is never absorbed by it: a new incident,
    whose message names the old one."""
    world, bodies = storm()
    async with running_bot(fake_slack, config=storm_config(), SRE_BOT_ALERTMANAGER_TOKEN=TOKEN) as bot:
        await post_all(bot.http, bodies)
        await eventually(lambda: _settled(bot), what="the storm published")
        again = json.loads(json.dumps(bodies[0][1]))
        again["alerts"][0]["startsAt"] = datetime.now(timezone.utc).isoformat()
        await post_all(bot.http, [(0.0, again)])
        await eventually(lambda: len(top_level(fake_slack.messages(CHANNEL))) == 3, what="the recurrence")
        await eventually(lambda: _settled(bot), what="the recurrence published")
        new = top_level(fake_slack.messages(CHANNEL))[2]
        assert "#3 CRITICAL · PostgresTooManyConnections on payments-db" in _text(new)
        assert "recurs #1, which had resolved" in _text(new)
        old = await bot.deps.store.incidents.get(1)
        assert old is not None and old.incident.resolved and len(old.incident.alerts) == 12


def _advice(body: dict[str, Any], *, grounded: bool):
    """The model's merge suggestion: quoting a line of the briefs it was sent, or an invented one."""
    sent = body["messages"][0]["content"][0]["text"]
    line = next(ln for ln in sent.splitlines() if ln.startswith("#2 services:"))
    quote = line if grounded else "the database was struck by lightning at 08:00"
    return tool_use(call("incident_advice", {"suggestions": [
        {"kind": "merge", "incidents": [1, 2], "reason": "both began within minutes", "quote": quote}]}))


async def test_the_model_may_suggest_a_merge_shown_in_the_thread_never_applied(fake_slack: FakeSlack,
                                                                               tmp_path: Path) -> None:
    """With a model configured each new incident gets one question about its open neighbours; a grounded merge
    suggestion is posted in the thread as a suggestion, an invented quote is dropped, and nothing is merged."""
    _, bodies = storm()
    env = {"SRE_BOT_ALERTMANAGER_TOKEN": TOKEN, "SRE_BOT_DB_URL": f"sqlite+aiosqlite:///{tmp_path}/bot.db"}
    async with running_bot(fake_slack, config=storm_config(), incidents=False, **env) as bot:
        await post_all(bot.http, [b for b in bodies if b[1]["status"] == "firing"])  # both incidents in one batch
    with FakeAnthropic() as model:
        model.enqueue(lambda b: _advice(b, grounded=True), lambda b: _advice(b, grounded=False))
        env |= {"ANTHROPIC_API_KEY": "test-key", "ANTHROPIC_BASE_URL": model.url, "SRE_BOT_LLM_MAX_RETRIES": "0"}
        async with running_bot(fake_slack, config=storm_config(), **env) as bot:
            await eventually(lambda: model.remaining == 0 and len(model.bodies) == 2, what="two advice requests")
            await eventually(lambda: any("Suggestion from" in m.get("text", "")
                                         for m in fake_slack.messages(CHANNEL)), what="the suggestion")
            await eventually(lambda: _settled(bot), what="published")
            shown = [m for m in fake_slack.messages(CHANNEL) if "Suggestion from" in m.get("text", "")]
            assert len(shown) == 1 and "not applied" in shown[0]["text"] and "merge #1 and #2" in shown[0]["text"]
            assert "#2 services: search" in shown[0]["text"] and "lightning" not in json.dumps(shown)
            assert len(top_level(fake_slack.messages(CHANNEL))) == 2
            listing = await bot.deps.store.incidents.listing()
            assert sorted(len(s.incident.alerts) for s in listing) == [2, 12]  # nothing merged
            model.assert_clean()
