"""`/sre run eda.event …` through the real Bolt app over signed HTTP, approved in Slack, sent to the real
ansible-rulebook: one event per approval however many clicks or replicas, a refused signature reported as a
failure, the kill switch sends nothing; and the request's preview is the event that is sent."""

from __future__ import annotations

import asyncio
import json
from contextlib import AsyncExitStack

import pytest

from sre_bot.config import Config, parse_config
from tests.actions._support import APPROVE, ask, audit_kinds, button, click, message_with, request_message
from tests.eda.conftest import SECRET, TOKEN, Rulebook, eda_env
from tests.eda.test_backend_rulebook import recorded_before_marker
from tests.fakes.slack_api import FakeSlack
from tests.harness import running_bot

RUN = "run eda.event checkout cause=connection_pool_exhausted fix=restart_deployment incident_id=inc-42"


def _config() -> Config:
    return parse_config({"services": {"checkout": {"namespace": "shop"}},
                         "actions": {"approvers": {"users": ["W222", "W444"]}}})


async def _request(bot, fake: FakeSlack, n: int = 1) -> dict:
    answer = await ask(bot, fake, RUN)
    assert answer.get("response_type") == "ephemeral", answer
    await fake.wait_for("chat.postMessage", n)
    return request_message(fake)


def _sent(events: list[dict], rid: str) -> list[dict]:
    return [e["payload"] for e in events if e["payload"].get("request_id") == rid]


@pytest.fixture(params=["sqlite", "postgresql"])
def dialect(request: pytest.FixtureRequest) -> str | None:
    """None: each bot its own SQLite file (one bot); else the URL of a fresh PostgreSQL schema (two replicas)."""
    return None if request.param == "sqlite" else request.getfixturevalue("pg_url")


async def test_twenty_clicks_on_two_replicas_send_one_event(dialect: str | None, fake_slack: FakeSlack,
                                                            rulebook: Rulebook) -> None:
    """Twenty simultaneous Approve clicks by two approvers (on SQLite one bot; on PostgreSQL two bots sharing the
    store, as two replicas): the rulebook records exactly one event, the previewed one plus the approver."""
    env = eda_env(rulebook)
    async with AsyncExitStack() as stack:
        if dialect is not None:
            env["SRE_BOT_DB_URL"] = dialect
            bots = [await stack.enter_async_context(running_bot(fake_slack, config=_config(), incidents=False, **env))
                    for _ in range(2)]
        else:
            bots = [await stack.enter_async_context(running_bot(fake_slack, config=_config(), incidents=False,
                                                                **env))]
        msg = await _request(bots[0], fake_slack)
        rid = button(msg, APPROVE).split(":")[0]
        blocks = json.dumps(msg["blocks"], ensure_ascii=False)
        assert "Send this event to ansible-rulebook at http://127.0.0.1:" in blocks
        resps = await asyncio.gather(*(bots[i % len(bots)].post(click(APPROVE, msg, user="W222" if i % 2 else
                                                                      "W444")) for i in range(20)))
        assert all(r.status_code == 200 for r in resps)
        await fake_slack.wait_for("chat.postEphemeral", 19, timeout=30)
        done = await message_with(fake_slack, "ansible-rulebook received the event (200", timeout=30)
        assert "*done*" in json.dumps(done["blocks"])
        assert (await audit_kinds(bots[0], rid)).count("started") == 1
        before_marker = await recorded_before_marker(rulebook)
        [sent] = _sent(before_marker, rid)
        req = await bots[0].deps.store.get_request(rid)
        assert {k: v for k, v in sent.items() if k not in ("approver", "approver_name", "approved_at")} \
            == req.args["event"]
        assert sent["approver"] in ("W222", "W444") and sent["approver"] == req.decided_by
        assert (sent["service"], sent["namespace"], sent["cause"], sent["fix"], sent["incident_id"]) == (
            "checkout", "shop", "connection_pool_exhausted", "restart_deployment", "inc-42")
        assert (sent["requested_by"], sent["channel"], sent["source"]) == ("W111", "C111", "sre-bot")
        assert json.dumps(req.args["event"], sort_keys=True, ensure_ascii=False) in blocks.replace('\\"', '"')


async def test_a_refused_signature_is_reported_and_nothing_runs(fake_slack: FakeSlack, rulebook: Rulebook) -> None:
    """The bot's HMAC secret differs from the rulebook's: the source refuses, the request ends failed with its
    words in the message and the audit, and neither the secret nor the token appears anywhere."""
    wrong = "a-wrong-hmac-secret-0000"
    async with running_bot(fake_slack, config=_config(), incidents=False, **eda_env(rulebook, secret=wrong)) as bot:
        msg = await _request(bot, fake_slack)
        rid = button(msg, APPROVE).split(":")[0]
        await bot.post(click(APPROVE, msg, user="W222"))
        final = await message_with(fake_slack, "HMAC verification failed", timeout=30)
        assert "SRE_BOT_EDA_HMAC_SECRET" in json.dumps(final["blocks"])
        assert await audit_kinds(bot, rid) == ["suggested", "approved", "started", "failed"]
        records = [r for r in await bot.deps.store.latest(50) if r.request_id == rid]
        failed = next(r for r in records if r.kind == "failed")
        assert failed.data["response"] == {"error": "Unauthorized", "status": 401}
        assert "refused the event (401): HMAC verification failed" in failed.summary
        everything = json.dumps([r.data for r in records]) + json.dumps(fake_slack.describe())
        assert wrong not in everything and TOKEN not in everything and SECRET not in everything
        assert (await bot.deps.store.get_request(rid)).status == "failed"
    assert _sent(await recorded_before_marker(rulebook), rid) == []


async def test_the_kill_switch_sends_nothing(fake_slack: FakeSlack, rulebook: Rulebook) -> None:
    """SRE_BOT_KILL_SWITCH=1: the approval is refused, and the rulebook receives nothing for the request."""
    async with running_bot(fake_slack, config=_config(), incidents=False, SRE_BOT_KILL_SWITCH="1",
                           **eda_env(rulebook)) as bot:
        msg = await _request(bot, fake_slack)
        rid = button(msg, APPROVE).split(":")[0]
        assert "Kill switch is on" in json.dumps(msg["blocks"])
        await bot.post(click(APPROVE, msg, user="W222"))
        [eph] = await fake_slack.wait_for("chat.postEphemeral")
        assert "SRE_BOT_KILL_SWITCH" in eph.args["text"]
        assert "started" not in await audit_kinds(bot, rid)
    assert _sent(await recorded_before_marker(rulebook), rid) == []


async def test_not_configured_says_which_settings_to_set(fake_slack: FakeSlack) -> None:
    """Without SRE_BOT_EDA_URL the request is refused to the person, naming the settings; nothing is posted."""
    async with running_bot(fake_slack, config=_config(), incidents=False) as bot:
        answer = await ask(bot, fake_slack, RUN)
        text = json.dumps(answer)
        assert "SRE_BOT_EDA_URL" in text and "SRE_BOT_EDA_HMAC_SECRET" in text
        assert fake_slack.calls("chat.postMessage") == []


@pytest.mark.parametrize("args, words", [
    ("checkout cause=Pool! fix=restart_deployment", "cause"),
    ("checkout cause=connection_pool_exhausted", "fix"),
    ("checkout cause=connection_pool_exhausted fix=restart_deployment playbook=/etc/shadow", "playbook"),
])
async def test_bad_arguments_are_refused_before_anything_is_prepared(fake_slack: FakeSlack, rulebook: Rulebook,
                                                                     args: str, words: str) -> None:
    """A cause or fix outside the catalog's pattern, a missing one, an unknown argument: said to the person, no
    request posted, nothing sent."""
    async with running_bot(fake_slack, config=_config(), incidents=False, **eda_env(rulebook)) as bot:
        answer = await ask(bot, fake_slack, f"run eda.event {args}")
        assert answer.get("response_type") == "ephemeral" and words in json.dumps(answer)
        assert fake_slack.calls("chat.postMessage") == []
