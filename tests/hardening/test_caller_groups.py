"""Issue 14, item 14: a person's Slack user groups count on every surface, not only on `/sre`.

`@sre-bot killswitch on` from someone who is an approver only through a user group went through a Caller built
without groups and was refused, while `/sre killswitch on` worked. Driven through the real Bolt app over signed
HTTP; the fake Slack answers `usergroups.users.list`.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from sre_bot.cli.console import ask_console
from sre_bot.slack.usergroups import GroupMembership
from tests.actions._support import ask, config
from tests.fakes.slack_api import BOT_USER_ID, FakeSlack
from tests.harness import BotUnderTest, running_bot
from tests.slack_signing import app_mention


async def _mention_answer(bot: BotUnderTest, fake: FakeSlack, text: str, *, user: str) -> str:
    """Mention the bot and return the text of the answer it put in place of its "looking…" message."""
    before = len(fake.calls("chat.update"))
    await bot.post(app_mention(f"<@{BOT_USER_ID}> {text}", user=user, channel="C111"))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 15
    while loop.time() < deadline:
        done = [c for c in fake.calls("chat.update")[before:] if not c.args.get("text", "").startswith("🔎")]
        if done:
            return json.dumps(done[-1].args, ensure_ascii=False)
        await asyncio.sleep(0.05)
    raise AssertionError(f"no answer to the mention; calls: {[c.method for c in fake.calls()]}")


async def _kill_switch(bot: BotUnderTest) -> Any:
    return await bot.deps.store.get_flag("kill_switch")


async def test_mention_killswitch_on_by_a_group_approver_is_accepted(fake_slack: FakeSlack) -> None:
    """`@sre-bot killswitch on` from an approver only through user group S0SRE turns the switch on."""
    fake_slack.add_usergroup("S0SRE", ["W444"])
    async with running_bot(fake_slack, config=config(), incidents=False) as bot:
        shown = await _mention_answer(bot, fake_slack, "killswitch on", user="W444")
        flag = await _kill_switch(bot)
    assert "Kill switch ON" in shown and "not an approver" not in shown
    assert flag.value is True and flag.set_by == "W444"
    assert [c.args["usergroup"] for c in fake_slack.calls("usergroups.users.list")] == ["S0SRE"]


async def test_mention_killswitch_on_by_someone_in_no_group_is_refused(fake_slack: FakeSlack) -> None:
    """The same mention from someone in none of the configured groups is refused, and the switch stays off."""
    fake_slack.add_usergroup("S0SRE", ["W444"])
    async with running_bot(fake_slack, config=config(), incidents=False) as bot:
        shown = await _mention_answer(bot, fake_slack, "killswitch on", user="W999")
        flag = await _kill_switch(bot)
    assert "Kill switch ON" not in shown and flag.value is False


async def test_slash_and_mention_resolve_groups_alike(fake_slack: FakeSlack) -> None:
    """`/sre killswitch on` and `@sre-bot killswitch on` agree for a group member; groups are listed only for
    verbs that act on the person's authority (listing pending actions asks Slack nothing)."""
    fake_slack.add_usergroup("S0SRE", ["W444"])
    async with running_bot(fake_slack, config=config(), incidents=False) as bot:
        await ask(bot, fake_slack, "actions", user="W444")
        assert fake_slack.calls("usergroups.users.list") == []
        slash = await ask(bot, fake_slack, "killswitch on", user="W444")
        assert "Kill switch ON" in json.dumps(slash, ensure_ascii=False)
        await ask(bot, fake_slack, "killswitch off", user="W333")  # an admin turns it off again
        assert (await _kill_switch(bot)).value is False
        shown = await _mention_answer(bot, fake_slack, "killswitch on", user="W444")
        assert "Kill switch ON" in shown and (await _kill_switch(bot)).value is True


async def test_console_caller_resolves_groups_through_the_same_caller(fake_slack: FakeSlack) -> None:
    """The console surface takes the same Caller: built by GroupMembership, its groups are resolved on demand."""
    fake_slack.add_usergroup("S0SRE", ["W444"])
    async with running_bot(fake_slack, config=config(), incidents=False) as bot:
        client = AsyncWebClient(token="xoxb-test-token", base_url=fake_slack.api_url)
        caller = GroupMembership(["S0SRE"]).caller(client, user="W444", channel="C111")
        reply = await ask_console(bot.deps, "@sre-bot killswitch on", caller=caller)
        assert reply.kind == "killswitch" and "Kill switch ON" in (reply.text or "")
        assert (await _kill_switch(bot)).value is True
        refused = await ask_console(bot.deps, "/sre killswitch off")  # no caller: nobody in Slack
        assert refused.kind == "error" and "from Slack" in (refused.text or "")
