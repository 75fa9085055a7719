"""Runbooks through Slack: the real Bolt app over signed HTTP, the fake Slack Web API, the sandbox shop. One
message per run redrawn in place, the remediation as an approval request in its thread, bad input refused
before anything runs, the "runbook X matches: run it?" suggestion and its button."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from sre_bot.runbooks.match import match_runbooks
from sre_bot.sandbox import Sandbox
from sre_bot.slack.runbook_blocks import RUN_RUNBOOK
from sre_bot.slack.runbooks import post_runbook_suggestions
from tests.actions._support import APPROVE, click, message_with, request_message
from tests.fakes.slack_api import BOT_USER_ID, FakeSlack
from tests.harness import running_bot
from tests.runbooks._support import bot_config, scenario
from tests.slack_signing import app_mention, block_actions, slash_command

THREAD = "1700000000.000100"


@pytest.fixture
async def shop():
    async with Sandbox(scenario("checkout-bad-deploy")) as sb:
        yield sb


def _text(message: dict[str, Any]) -> str:
    return json.dumps(message.get("blocks") or [], ensure_ascii=False)


async def _finished_run(fake: FakeSlack, channel: str = "C111", timeout: float = 20) -> dict[str, Any]:
    """The run's message once its final redraw has landed (its summary no longer says `Running`)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while loop.time() < end:
        runs = [m for m in fake.messages(channel) if "📒 Runbook" in m.get("text", "") + _text(m)]
        if runs and "Running:" not in _text(runs[-1]) and "Remediation" in _text(runs[-1]):
            return runs[-1]
        await asyncio.sleep(0.05)
    raise AssertionError(f"no finished run message; calls: {fake.describe()}")


async def test_a_run_is_one_message_redrawn_in_place_and_its_fix_waits_for_approval(fake_slack, shop):
    """`/sre runbook high-error-rate-after-deploy checkout` posts one message, updates it as steps finish (status,
    quoted and linked evidence, interpretation), ends early at the root cause, and posts the rollback in the run's
    thread as an approval request; only the approver's click rolls checkout back, once."""
    async with running_bot(fake_slack, config=bot_config(shop.config), **shop.urls.as_env()) as bot:
        resp = await bot.post(slash_command(text="runbook high-error-rate-after-deploy checkout",
                                            response_url=fake_slack.response_url()))
        assert resp.status_code == 200 and "Starting runbook" in resp.text
        msg = await _finished_run(fake_slack)
        text = _text(msg)
        [posted] = [c for c in fake_slack.calls("chat.postMessage") if "📒 Runbook" in _text(c.args)]
        assert "⏸️ 1. 5xx ratio over the last 30 minutes — pending" in json.dumps(posted.args["blocks"],
                                                                                  ensure_ascii=False)
        updates = fake_slack.calls("chat.update")
        assert updates and {u.args["ts"] for u in updates} == {msg["ts"]} and "thread_ts" not in msg
        assert "🔄 1. 5xx ratio over the last 30 minutes — running" in _text(updates[0].args)
        assert "Root cause found: the service was deployed in the hour before the errors" in text
        for line in ("🔎 1. 5xx ratio over the last 30 minutes — finding", "🔎 2. Error lines in the service's logs — "
                     "finding", "🔎 3. Was the service deployed shortly before? — finding",
                     "⏭️ 4. Anything else deployed in the last hour? — skipped"):
            assert line in text
        assert "`value &gt; 0.05` holds (value = " in text and "/graph?g0.expr=" in text
        assert "timeout calling payments-api" in text and "/applications/checkout" in text
        assert "argocd.rollback(service=checkout) — approval requested below" in text
        await fake_slack.wait_for("chat.postMessage", 2)  # the request is posted after the run's last redraw
        request = request_message(fake_slack)
        assert request["thread_ts"] == msg["ts"] and "argocd.rollback" in _text(request)
        assert not [o for o in shop.world.operations if o["op"] == "rollback"]
        await bot.post(click(APPROVE, request, user="W222"))
        await message_with(fake_slack, "*done*")
        assert len([o for o in shop.world.operations if o["op"] == "rollback"]) == 1
        kinds = [r.kind for r in reversed(await bot.deps.store.latest(50))]
        assert kinds[0] == "runbook_started" and kinds.count("runbook_step") == 4
        assert kinds.index("runbook_finished") < kinds.index("approved") < kinds.index("succeeded")
        [started] = [r for r in await bot.deps.store.latest(50) if r.kind == "runbook_started"]
        assert started.actor == "W111" and started.data["trigger"] == {
            "kind": "command", "text": "/sre runbook high-error-rate-after-deploy checkout",
            "message_ts": msg["ts"]}


@pytest.mark.parametrize("text, error", [
    ("runbook no-such-runbook checkout", "no runbook named `no-such-runbook`"),
    ("runbook high-error-rate-after-deploy ghost-service", "unknown service `ghost-service`"),
    ("runbook high-error-rate-after-deploy", "checks one service: `/sre runbook high-error-rate-after-deploy"),
])
async def test_bad_input_is_refused_and_nothing_runs(fake_slack, shop, text, error):
    """An unknown runbook, an unknown service or a missing one is said to the person alone; nothing is posted,
    read or audited."""
    async with running_bot(fake_slack, config=bot_config(shop.config), **shop.urls.as_env()) as bot:
        await bot.post(slash_command(text=text, response_url=fake_slack.response_url()))
        [call] = await fake_slack.wait_for("response_url", timeout=10)
        assert call.args["response_type"] == "ephemeral" and error in json.dumps(call.args, ensure_ascii=False)
        assert fake_slack.calls("chat.postMessage") == [] and await bot.deps.store.latest(5) == []


async def test_list_and_a_malformed_line_are_answered_in_the_ack(fake_slack, shop):
    """`/sre runbook list` describes the loaded runbooks; too many words is an error; both ephemeral, at once."""
    async with running_bot(fake_slack, config=bot_config(shop.config), **shop.urls.as_env()) as bot:
        listed = (await bot.post(slash_command(text="runbook list"))).json()
        bad = (await bot.post(slash_command(text="runbook a b c"))).json()
    assert listed["response_type"] == "ephemeral" and "Runbooks (4)" in str(listed)
    assert "`/sre runbook db-connection-pool &lt;service&gt;`" in str(listed)  # Slack shows it as <service>
    assert "alerts DBConnectionPoolExhausted" in str(listed)
    assert bad["response_type"] == "ephemeral" and "at most one service" in str(bad)


async def test_a_mention_answer_names_the_runbooks_that_match(fake_slack, shop):
    """The investigation of `@sre-bot why is payments-api slow?` ends with the runbooks its firing alerts and
    hypotheses match, each for the service concerned, with the command that runs it."""
    async with running_bot(fake_slack, config=bot_config(shop.config, approvers=False), **shop.urls.as_env()) as bot:
        await bot.post(app_mention(f"<@{BOT_USER_ID}> why is payments-api slow?", channel="C7"))
        [update] = await fake_slack.wait_for("chat.update", timeout=30)
    text = _text(update.args)
    assert "*Runbooks that match*" in text
    assert ("runbook `db-connection-pool` matches for payments-db (alert DBConnectionPoolExhausted, hypothesis "
            "resource_saturation): run it? `/sre runbook db-connection-pool payments-db`") in text
    assert ("runbook `high-error-rate-after-deploy` matches for checkout (alert HighErrorRate, hypothesis "
            "bad_deploy): run it? `/sre runbook high-error-rate-after-deploy checkout`") in text
    assert "pod-crash-loop" not in text


async def test_the_suggestion_button_starts_the_run_in_that_thread(fake_slack, shop):
    """"runbook db-connection-pool matches for payments-db: run it?" has a button; clicking it runs the runbook in
    the incident's thread, its rollback request in the same thread; a second click on it starts nothing."""
    async with running_bot(fake_slack, config=bot_config(shop.config), **shop.urls.as_env()) as bot:
        matches = match_runbooks(bot.deps.runbooks.all(), alert_names=[("DBConnectionPoolExhausted", "payments-db")])
        await post_runbook_suggestions(bot.bolt.client, bot.deps, channel="C111", thread_ts=THREAD, matches=matches)
        [suggestion] = fake_slack.messages("C111")
        assert suggestion["thread_ts"] == THREAD and "matches for *payments-db*: run it?" in _text(suggestion)
        value = suggestion["blocks"][0]["accessory"]["value"]
        assert suggestion["blocks"][0]["accessory"]["action_id"] == RUN_RUNBOOK
        await bot.post(block_actions(RUN_RUNBOOK, value, user="W111", channel="C111",
                                     message_ts=suggestion["ts"], thread_ts=THREAD))
        msg = await _finished_run(fake_slack)
        assert msg["thread_ts"] == THREAD and "Root cause found" in _text(msg)
        assert "argocd.rollback(service=checkout)" in _text(msg)
        await fake_slack.wait_for("chat.postMessage", 3)  # suggestion, run, then the request
        request = request_message(fake_slack)
        assert request["thread_ts"] == THREAD
        await bot.post(block_actions(RUN_RUNBOOK, value, user="W111", channel="C111",
                                     message_ts=suggestion["ts"], thread_ts=THREAD))
        [told] = await fake_slack.wait_for("chat.postEphemeral", timeout=10)
        assert "was just started from this message" in told.args["text"]
        [started] = [r for r in await bot.deps.store.latest(50) if r.kind == "runbook_started"]
        assert started.data["trigger"]["kind"] == "suggestion" and started.data["thread_ts"] == THREAD
