"""Each target as an approved action reaches it (Alertmanager silences, webhooks, Argo CD restarts), the `auto`
rung of the ladder with its rate limit and undo, and a target's refusal shown as it said it."""

from __future__ import annotations

import json
import time

from tests.actions._support import (
    APPROVE,
    UNDO,
    add_checkout,
    ask,
    audit_kinds,
    click,
    config,
    message_with,
    request_message,
)
from tests.fakes.argocd import FakeArgoCD
from tests.fakes.slack_api import FakeSlack
from tests.fakes.webhook import FakeWebhook
from tests.harness import running_bot

SILENCE = 'run alertmanager.silence service=checkout alertname=HighErrorRate duration=30m comment="rollback running"'


async def test_auto_silence_runs_without_a_click_and_can_be_undone(fake_slack: FakeSlack, shop) -> None:
    """At `auto`, a silence is created at once and announced with Undo; Undo expires it, once."""
    cfg = config(policies={"alertmanager.silence": {"autonomy": "auto"}}).model_copy(
        update={"services": shop.config.services})
    async with running_bot(fake_slack, config=cfg, **shop.urls.as_env()) as bot:
        await ask(bot, fake_slack, SILENCE)
        msg = await message_with(fake_slack, "Undo")
        text = json.dumps(msg["blocks"], ensure_ascii=False)
        assert "Ran: alertmanager.silence" in text and "the bot (autonomy: auto)" in text and APPROVE not in text
        [(sid, silence)] = shop.world.silences.items()
        assert {m.name: m.value for m in silence.matchers} == {"service": "checkout", "alertname": "HighErrorRate"}
        await bot.post(click(UNDO, msg, user="W999"))  # not an approver
        [eph] = await fake_slack.wait_for("chat.postEphemeral")
        assert "may not undo" in eph.args["text"]
        await bot.post(click(UNDO, msg, user="W222"))
        await bot.post(click(UNDO, msg, user="W222"))  # a double click
        await message_with(fake_slack, "Undone by <@W222>")
        assert shop.world.silences[sid].state(time.time()) == "expired"
        kinds = await audit_kinds(bot)
        assert kinds.count("succeeded") == 2 and kinds.count("approved") == 1  # the silence, then one undo


async def test_auto_respects_the_hourly_limit_and_the_kill_switch(fake_slack: FakeSlack, shop) -> None:
    """Past `auto_max_per_hour`, or with the kill switch on, an `auto` action waits for a person instead."""
    cfg = config(policies={"alertmanager.silence": {"autonomy": "auto"}}, auto_max_per_hour=1).model_copy(
        update={"services": shop.config.services})
    async with running_bot(fake_slack, config=cfg, **shop.urls.as_env()) as bot:
        await ask(bot, fake_slack, SILENCE, name="one")
        await ask(bot, fake_slack, SILENCE, name="two")
        await fake_slack.wait_for("chat.postMessage", 2)
        held = request_message(fake_slack)
        assert "limit of 1 automatic action" in json.dumps(held["blocks"]) and APPROVE in json.dumps(held["blocks"])
        assert len(shop.world.silences) == 1
        await ask(bot, fake_slack, "killswitch on", user="W333")
        await ask(bot, fake_slack, SILENCE, name="three")
        await fake_slack.wait_for("chat.postMessage", 3)
        assert "kill switch is on" in json.dumps(request_message(fake_slack)["blocks"])
        assert len(shop.world.silences) == 1
        assert (await audit_kinds(bot)).count("auto_held") == 2


async def test_webhook_gets_its_rendered_body_and_secret(fake_slack: FakeSlack, argocd_server: FakeArgoCD) -> None:
    """An approved webhook is called once with the configured body (placeholders filled) and the secret header;
    the high-risk webhook needs a high-risk approver."""
    add_checkout(argocd_server)
    with FakeWebhook() as hook:
        cfg = config(webhooks={"restart-checkout": {
            "url": f"{hook.url}/api/v2/job_templates/12/launch/", "description": "AWX: restart checkout",
            "headers": {"Authorization": "Bearer {secret}"},
            "body": {"extra_vars": {"service": "{service}", "request": "{request_id}", "approver": "{approver}"}}}})
        env = {"ARGOCD_URL": argocd_server.url, "ARGOCD_TOKEN": "test-token",
               "SRE_BOT_WEBHOOK_SECRETS": json.dumps({"restart-checkout": "awx-s3cret"})}
        async with running_bot(fake_slack, config=cfg, **env) as bot:
            await ask(bot, fake_slack, "run webhook name=restart-checkout service=checkout")
            msg = request_message(fake_slack)
            assert "awx-s3cret" not in json.dumps(msg)  # the preview never shows the secret
            await bot.post(click(APPROVE, msg, user="W222"))  # medium/low approver: not for a high-risk webhook
            [eph] = await fake_slack.wait_for("chat.postEphemeral")
            assert "not an approver" in eph.args["text"]
            await bot.post(click(APPROVE, msg, user="W333"))
            await message_with(fake_slack, "webhook restart-checkout answered 200")
            [call] = hook.received
            assert call.path == "/api/v2/job_templates/12/launch/"
            assert call.header("Authorization") == "Bearer awx-s3cret"
            rid = msg["blocks"][-1]["elements"][0]["value"].split(":")[0]
            assert call.json == {"extra_vars": {"service": "checkout", "request": rid, "approver": "W333"}}


async def test_restart_uses_the_argo_cd_resource_action(fake_slack: FakeSlack, argocd_server: FakeArgoCD) -> None:
    """`argocd.restart` finds the app's Deployment in the resource tree and runs Argo CD's `restart` action on it."""
    add_checkout(argocd_server)
    async with running_bot(fake_slack, config=config(), ARGOCD_URL=argocd_server.url,
                           ARGOCD_TOKEN="test-token") as bot:
        await ask(bot, fake_slack, "run argocd.restart checkout")
        msg = request_message(fake_slack)
        assert "Deployment `shop/checkout`" in json.dumps(msg["blocks"])
        await bot.post(click(APPROVE, msg, user="W222"))
        await message_with(fake_slack, "done")
        [op] = argocd_server.operations
        assert op["op"] == "resource_action" and op["body"]["action"] == "restart"
        assert op["body"]["resourceName"] == "checkout" and op["body"]["kind"] == "Deployment"


async def test_a_refusal_from_argo_cd_is_shown_as_it_said_it(fake_slack: FakeSlack,
                                                             argocd_server: FakeArgoCD) -> None:
    """Argo CD refusing the rollback (auto-sync on) ends the request `failed`, with Argo CD's words, run once."""
    add_checkout(argocd_server)
    argocd_server.auto_sync["checkout"] = True
    async with running_bot(fake_slack, config=config(), ARGOCD_URL=argocd_server.url,
                           ARGOCD_TOKEN="test-token") as bot:
        await ask(bot, fake_slack, "run argocd.rollback checkout")
        msg = request_message(fake_slack)
        await bot.post(click(APPROVE, msg, user="W222"))
        final = await message_with(fake_slack, "failed")
        assert "auto-sync" in json.dumps(final["blocks"])
        await bot.post(click(APPROVE, msg, user="W222"))
        await fake_slack.wait_for("chat.postEphemeral")
        assert (await audit_kinds(bot)).count("started") == 1
