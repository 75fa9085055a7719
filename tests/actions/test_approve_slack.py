"""Approve, reject, refuse: `/sre run` and the buttons through the real Bolt app over signed HTTP, against a fake
Argo CD that records every write."""

from __future__ import annotations

import asyncio
import json

from sre_bot.slack.action_blocks import REJECT_MODAL
from tests.actions._support import (
    APPROVE,
    REJECT,
    MutableClock,
    add_checkout,
    ask,
    audit_kinds,
    button,
    click,
    config,
    message_with,
    request_message,
)
from tests.fakes.argocd import FakeArgoCD
from tests.fakes.slack_api import FakeSlack
from tests.harness import running_bot
from tests.slack_signing import view_submission


def _env(argo: FakeArgoCD) -> dict[str, str]:
    return {"ARGOCD_URL": argo.url, "ARGOCD_TOKEN": "test-token"}


def _rollbacks(argo: FakeArgoCD) -> list[dict]:
    return [o for o in argo.operations if o["op"] == "rollback"]


async def _request(bot, fake: FakeSlack, text: str = "run argocd.rollback checkout", **kw) -> dict:
    answer = await ask(bot, fake, text, **kw)
    assert answer.get("response_type") == "ephemeral", answer
    await fake.wait_for("chat.postMessage")
    return request_message(fake)


async def test_approve_runs_exactly_one_rollback_and_redraws_the_message(fake_slack: FakeSlack,
                                                                         argocd_server: FakeArgoCD) -> None:
    """An approver's click rolls checkout back once, to the deploy before the current one, and says so in place."""
    add_checkout(argocd_server)
    async with running_bot(fake_slack, config=config(), **_env(argocd_server)) as bot:
        msg = await _request(bot, fake_slack)
        assert "from `bbb2222222` (history 2" in json.dumps(msg["blocks"])
        assert "to `aaa1111111` (history 1" in json.dumps(msg["blocks"])
        resp = await bot.post(click(APPROVE, msg, user="W222"))
        assert resp.status_code == 200
        await message_with(fake_slack, "*done*")
        assert [o["body"]["id"] for o in _rollbacks(argocd_server)] == [1]
        final = await message_with(fake_slack, "*done*")
        text = json.dumps(final["blocks"])
        assert "Approved by <@W222>" in text and "done" in text
        assert APPROVE not in text  # no buttons once decided
        rid = button(msg, APPROVE).split(":")[0]
        assert await audit_kinds(bot, rid) == ["suggested", "approved", "started", "succeeded"]
        [suggested] = [r for r in await bot.deps.store.latest(50) if r.kind == "suggested"]
        assert suggested.data["trigger"] == {"kind": "command", "text": "/sre run argocd.rollback checkout"}
        assert suggested.data["source"]["kind"] == "person" and suggested.actor == "W111"
        assert "Roll back Argo CD app `checkout`" in suggested.data["preview"]


async def test_reject_with_a_reason_runs_nothing(fake_slack: FakeSlack, argocd_server: FakeArgoCD) -> None:
    """Reject opens a modal; submitting it records the reason, redraws the message, and nothing reaches Argo CD."""
    add_checkout(argocd_server)
    async with running_bot(fake_slack, config=config(), **_env(argocd_server)) as bot:
        msg = await _request(bot, fake_slack)
        await bot.post(click(REJECT, msg, user="W222"))
        [opened] = await fake_slack.wait_for("views.open")
        view = opened.args["view"]
        assert view["callback_id"] == REJECT_MODAL
        values = {"reason": {"reason_text": {"type": "plain_text_input", "value": "wrong service, it's the DB"}}}
        resp = await bot.post(view_submission(REJECT_MODAL, private_metadata=view["private_metadata"],
                                              values=values, user="W222"))
        assert resp.status_code == 200
        text = json.dumps((await message_with(fake_slack, "Rejected by"))["blocks"], ensure_ascii=False)
        assert "Rejected by <@W222>" in text and "wrong service, it's the DB" in text
        await bot.post(click(APPROVE, msg, user="W222"))  # a late approve after the rejection
        await fake_slack.wait_for("chat.postEphemeral")
        assert _rollbacks(argocd_server) == []
        assert "rejected" in await audit_kinds(bot)


async def test_unauthorised_click_is_told_privately_and_changes_nothing(fake_slack: FakeSlack,
                                                                         argocd_server: FakeArgoCD) -> None:
    """Someone who is not an approver gets an ephemeral explanation naming who can; the request stays pending."""
    add_checkout(argocd_server)
    async with running_bot(fake_slack, config=config(), **_env(argocd_server)) as bot:
        msg = await _request(bot, fake_slack)
        await bot.post(click(APPROVE, msg, user="W999"))
        [eph] = await fake_slack.wait_for("chat.postEphemeral")
        assert eph.args["user"] == "W999" and "not an approver" in eph.args["text"] and "<@W222>" in eph.args["text"]
        assert _rollbacks(argocd_server) == [] and fake_slack.calls("chat.update") == []
        pending = await bot.deps.store.pending(bot.deps.clock())
        assert len(pending) == 1
        assert (await bot.deps.store.latest(1))[0].data["code"] == "unauthorised"


async def test_group_member_may_approve(fake_slack: FakeSlack, argocd_server: FakeArgoCD) -> None:
    """A member of a configured approver user group (usergroups.users.list) may approve."""
    add_checkout(argocd_server)
    fake_slack.add_usergroup("S0SRE", ["W444"])
    async with running_bot(fake_slack, config=config(), **_env(argocd_server)) as bot:
        msg = await _request(bot, fake_slack)
        await bot.post(click(APPROVE, msg, user="W444"))
        await message_with(fake_slack, "*done*")
        assert len(_rollbacks(argocd_server)) == 1


async def test_requester_may_not_approve_their_own_when_two_person(fake_slack: FakeSlack,
                                                                    argocd_server: FakeArgoCD) -> None:
    """With the two-person rule for the action's risk, the requester's own approval is refused."""
    add_checkout(argocd_server)
    fake_slack.add_usergroup("S0SRE", ["W444"])
    async with running_bot(fake_slack, config=config(two_person=["medium", "high"]), **_env(argocd_server)) as bot:
        msg = await _request(bot, fake_slack, user="W222")
        await bot.post(click(APPROVE, msg, user="W222"))
        [eph] = await fake_slack.wait_for("chat.postEphemeral")
        assert "someone other than the requester" in eph.args["text"]
        assert _rollbacks(argocd_server) == []
        await bot.post(click(APPROVE, msg, user="W444"))
        await message_with(fake_slack, "*done*")
        assert len(_rollbacks(argocd_server)) == 1


async def test_expired_request_is_refused_and_shown_expired(fake_slack: FakeSlack, argocd_server: FakeArgoCD) -> None:
    """Past `expire_after`, a click is refused, the message says it expired, nothing runs."""
    add_checkout(argocd_server)
    clock = MutableClock()
    async with running_bot(fake_slack, config=config(expire_after="10m"), clock=clock,
                           **_env(argocd_server)) as bot:
        msg = await _request(bot, fake_slack)
        clock.advance(minutes=11)
        await bot.post(click(APPROVE, msg, user="W222"))
        [eph] = await fake_slack.wait_for("chat.postEphemeral")
        assert "expired" in eph.args["text"]
        await message_with(fake_slack, "Expired")
        assert _rollbacks(argocd_server) == []
        assert "expired" in await audit_kinds(bot)


async def test_kill_switch_refuses_and_says_so_until_turned_off(fake_slack: FakeSlack,
                                                                 argocd_server: FakeArgoCD) -> None:
    """While the kill switch is on nothing executes (the request stays pending); once off, approval runs it."""
    add_checkout(argocd_server)
    async with running_bot(fake_slack, config=config(), **_env(argocd_server)) as bot:
        msg = await _request(bot, fake_slack)
        on = await ask(bot, fake_slack, "killswitch on", user="W222")  # any approver may stop everything
        assert "Kill switch ON" in json.dumps(on)
        status = await ask(bot, fake_slack, "killswitch status")
        assert "Kill switch is *on*" in json.dumps(status) and "<@W222>" in json.dumps(status)
        await bot.post(click(APPROVE, msg, user="W222"))
        [eph] = await fake_slack.wait_for("chat.postEphemeral")
        assert "kill switch is on" in eph.args["text"].lower()
        assert _rollbacks(argocd_server) == []
        listed = await ask(bot, fake_slack, "actions")
        assert "Kill switch is on" in json.dumps(listed)
        refused = await ask(bot, fake_slack, "killswitch off", user="W222")  # only admins start it again
        assert "Only <@W333>" in json.dumps(refused)
        await ask(bot, fake_slack, "killswitch off", user="W333")
        await bot.post(click(APPROVE, msg, user="W222"))
        await message_with(fake_slack, "*done*")
        assert len(_rollbacks(argocd_server)) == 1
        assert (await bot.deps.store.get_flag("kill_switch")).value is False


async def test_kill_switch_from_the_environment(fake_slack: FakeSlack, argocd_server: FakeArgoCD) -> None:
    """SRE_BOT_KILL_SWITCH=1 stops every execution whatever the store says."""
    add_checkout(argocd_server)
    async with running_bot(fake_slack, config=config(), SRE_BOT_KILL_SWITCH="1", **_env(argocd_server)) as bot:
        msg = await _request(bot, fake_slack)
        assert "Kill switch is on" in json.dumps(msg["blocks"])
        await bot.post(click(APPROVE, msg, user="W222"))
        [eph] = await fake_slack.wait_for("chat.postEphemeral")
        assert "SRE_BOT_KILL_SWITCH" in eph.args["text"]
        assert _rollbacks(argocd_server) == []


async def test_fifty_concurrent_approvals_run_once(fake_slack: FakeSlack, argocd_server: FakeArgoCD) -> None:
    """Fifty simultaneous Approve clicks by two approvers: one rollback; the others hear it was already decided."""
    add_checkout(argocd_server)
    fake_slack.add_usergroup("S0SRE", ["W444"])
    async with running_bot(fake_slack, config=config(), **_env(argocd_server)) as bot:
        msg = await _request(bot, fake_slack)
        resps = await asyncio.gather(*(bot.post(click(APPROVE, msg, user="W222" if i % 2 else "W444"))
                                       for i in range(50)))
        assert all(r.status_code == 200 for r in resps)
        await fake_slack.wait_for("chat.postEphemeral", 49, timeout=30)
        await message_with(fake_slack, "done", timeout=15)
        assert len(_rollbacks(argocd_server)) == 1
        rid = button(msg, APPROVE).split(":")[0]
        assert (await audit_kinds(bot, rid)).count("started") == 1


async def test_tampered_buttons_are_refused_and_logged(fake_slack: FakeSlack, argocd_server: FakeArgoCD) -> None:
    """Another request's id on this message, another channel, an edited fingerprint, a junk value: all refused."""
    add_checkout(argocd_server)
    async with running_bot(fake_slack, config=config(), **_env(argocd_server)) as bot:
        first = await _request(bot, fake_slack)
        await ask(bot, fake_slack, "run argocd.rollback checkout to_history_id=1", name="second")
        await fake_slack.wait_for("chat.postMessage", 2)
        second = request_message(fake_slack)
        rid, digest = button(first, APPROVE).split(":")
        forged = [
            click(APPROVE, first, user="W222", value=button(second, APPROVE)),  # another request's button here
            click(APPROVE, first, user="W222", channel="C999"),  # the same button from another channel
            click(APPROVE, first, user="W222", value=f"{rid}:{'0' * len(digest)}"),  # edited fingerprint
            click(APPROVE, first, user="W222", value='{"action":"argocd.sync","revision":"evil"}'),
        ]
        for body in forged:
            await bot.post(body)
        await fake_slack.wait_for("chat.postEphemeral", len(forged))
        assert argocd_server.operations == []
        refused = [r for r in await bot.deps.store.latest(50) if r.kind == "refused"]
        assert [r.data["code"] for r in refused] == ["tampered"] * len(forged)
        assert len(await bot.deps.store.pending(bot.deps.clock())) == 2


async def test_bad_run_arguments_are_explained(fake_slack: FakeSlack, argocd_server: FakeArgoCD) -> None:
    """Unknown action, unknown argument, unknown service, bad history id: a clear error, nothing posted."""
    add_checkout(argocd_server)
    async with running_bot(fake_slack, config=config(), **_env(argocd_server)) as bot:
        cases = {
            "run": "needs an action",
            "run argocd.nuke checkout": "unknown action",
            "run argocd.rollback checkout colour=red": "has no argument `colour`",
            "run argocd.rollback nosuch": "unknown service",
            "run argocd.rollback checkout to_history_id=77": "no history id 77",
            "run alertmanager.silence duration=48h comment=x": "",
        }
        for i, (text, expected) in enumerate(cases.items()):
            answer = await ask(bot, fake_slack, text, name=f"c{i}")
            assert answer["response_type"] == "ephemeral" and "can't do that" in json.dumps(answer), text
            assert expected in json.dumps(answer), (text, answer)
        assert fake_slack.calls("chat.postMessage") == [] and argocd_server.operations == []


async def test_a_channel_the_bot_cannot_post_in_refuses_the_request(fake_slack: FakeSlack,
                                                                      argocd_server: FakeArgoCD) -> None:
    """When Slack refuses the approval message (bot not in the channel), the asker is told how to fix it and the
    request is closed as refused, so nothing is left waiting that nobody can see."""
    add_checkout(argocd_server)
    fake_slack.script_error("chat.postMessage", "not_in_channel")
    async with running_bot(fake_slack, config=config(), **_env(argocd_server)) as bot:
        answer = json.dumps(await ask(bot, fake_slack, "run argocd.rollback checkout"))
        assert "not_in_channel" in answer and "/invite @sre-bot" in answer
        [req] = await bot.deps.store.recent(1)
        assert req.status == "refused" and "not_in_channel" in (req.reason_rejected or "")
        assert await bot.deps.store.pending(bot.deps.clock()) == []
