"""A mention's answer that matches runbooks gets, in its thread, the suggestion message with a **Run it** button per
runbook (the real Bolt app over signed HTTP, the fake Slack Web API, the sandbox shop); the button runs it there."""

from __future__ import annotations

import asyncio
import json

import pytest

from sre_bot.sandbox import Sandbox
from sre_bot.slack.runbook_blocks import RUN_RUNBOOK
from tests.fakes.slack_api import BOT_USER_ID
from tests.harness import running_bot
from tests.runbooks._support import bot_config, scenario
from tests.slack_signing import app_mention, block_actions


@pytest.fixture
async def shop():
    async with Sandbox(scenario("checkout-bad-deploy")) as sb:
        yield sb


async def _suggestion(fake, channel: str, timeout: float = 30) -> dict:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while loop.time() < end:
        for m in fake.messages(channel):
            if any((b.get("accessory") or {}).get("action_id") == RUN_RUNBOOK for b in m.get("blocks") or []):
                return m
        await asyncio.sleep(0.05)
    raise AssertionError(f"no Run it message; calls: {fake.describe()}")


async def test_the_answer_thread_gets_run_it_buttons_that_run_the_runbook(fake_slack, shop):
    async with running_bot(fake_slack, config=bot_config(shop.config), **shop.urls.as_env()) as bot:
        await bot.post(app_mention(f"<@{BOT_USER_ID}> why is payments-api slow?", channel="C7", ts="1700000100.000100"))
        msg = await _suggestion(fake_slack, "C7")
        assert msg["thread_ts"] == "1700000100.000100"
        buttons = [b for b in msg["blocks"] if (b.get("accessory") or {}).get("action_id") == RUN_RUNBOOK]
        text = json.dumps(buttons, ensure_ascii=False)
        assert "db-connection-pool" in text and "payments-db" in text
        db = next(b for b in buttons if "db-connection-pool" in json.dumps(b))
        await bot.post(block_actions(RUN_RUNBOOK, db["accessory"]["value"], user="W111", channel="C7",
                                     message_ts=msg["ts"], thread_ts="1700000100.000100"))
        loop = asyncio.get_running_loop()
        end = loop.time() + 30
        while loop.time() < end:
            kinds = [r.kind for r in await bot.deps.store.latest(100)]
            if "runbook_finished" in kinds:
                break
            await asyncio.sleep(0.1)
        started = [r for r in await bot.deps.store.latest(100) if r.kind == "runbook_started"]
        assert started and started[0].data["thread_ts"] == "1700000100.000100"


async def test_no_runbook_no_suggestion_message(fake_slack, shop, tmp_path):
    """With no runbook loaded nothing matches: the thread gets the answer only."""
    async with running_bot(fake_slack, config=bot_config(shop.config, runbooks_dir=tmp_path),
                           **shop.urls.as_env()) as bot:
        await bot.post(app_mention(f"<@{BOT_USER_ID}> why is payments-api slow?", channel="C8"))
        await fake_slack.wait_for("chat.update", timeout=30)
        await asyncio.sleep(0.3)
        assert not any(any((b.get("accessory") or {}).get("action_id") == RUN_RUNBOOK for b in m.get("blocks") or [])
                       for m in fake_slack.messages("C8"))
