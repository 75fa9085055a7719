"""Issue 14, item 9: every refused click is audited exactly once, the losers of a race included.

Fifty simultaneous Approve clicks (and fifty simultaneous Undo clicks) go through the real Bolt app over signed
HTTP, on SQLite and on PostgreSQL: one execution, and one `refused` record for each of the other 49 clicks.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from sre_bot.store.records import AuditRecord
from tests.actions._support import APPROVE, UNDO, add_checkout, ask, button, config, message_with, request_message
from tests.fakes.argocd import FakeArgoCD
from tests.fakes.slack_api import FakeSlack
from tests.harness import BotUnderTest, running_bot
from tests.slack_signing import SlackBody, block_actions
from tests.store.conftest import pg_url, postgres_available, sqlite_url, store_url  # noqa: F401

CLICKS = 50
SILENCE = 'run alertmanager.silence service=checkout alertname=HighErrorRate duration=30m comment="rollback running"'


def _click(action_id: str, msg: dict[str, Any], user: str) -> SlackBody:
    """One click as Slack sends it: every click has its own trigger id."""
    return block_actions(action_id, button(msg, action_id), user=user, channel="C111", message_ts=msg["ts"],
                         trigger_id=f"{int(time.time())}.{uuid.uuid4().hex}")


async def _records(bot: BotUnderTest, request_id: str, expected_refusals: int) -> list[AuditRecord]:
    """The audit records of `request_id`, once its refusals have all been written (or after 15 s)."""
    deadline = time.monotonic() + 15
    while True:
        records = [r for r in await bot.deps.store.latest(1000) if r.request_id == request_id]
        if sum(r.kind == "refused" for r in records) >= expected_refusals or time.monotonic() > deadline:
            await asyncio.sleep(0.3)  # anything written twice would show up now
            return [r for r in await bot.deps.store.latest(1000) if r.request_id == request_id]
        await asyncio.sleep(0.05)


async def test_fifty_concurrent_approvals_audit_all_49_refusals(fake_slack: FakeSlack, argocd_server: FakeArgoCD,
                                                                store_url: str) -> None:  # noqa: F811
    """Fifty simultaneous Approve clicks: one rollback, and exactly 49 `refused` audit records, one per loser."""
    add_checkout(argocd_server)
    fake_slack.add_usergroup("S0SRE", ["W444"])
    env = {"ARGOCD_URL": argocd_server.url, "ARGOCD_TOKEN": "test-token", "SRE_BOT_DB_URL": store_url}
    async with running_bot(fake_slack, config=config(), **env) as bot:
        await ask(bot, fake_slack, "run argocd.rollback checkout")
        await fake_slack.wait_for("chat.postMessage")
        msg = request_message(fake_slack)
        rid = button(msg, APPROVE).split(":")[0]
        resps = await asyncio.gather(*(bot.post(_click(APPROVE, msg, "W222" if i % 2 else "W444"))
                                       for i in range(CLICKS)))
        assert [r.status_code for r in resps] == [200] * CLICKS
        await fake_slack.wait_for("chat.postEphemeral", CLICKS - 1, timeout=30)
        await message_with(fake_slack, "*done*", timeout=15)
        records = await _records(bot, rid, CLICKS - 1)
    assert len([o for o in argocd_server.operations if o["op"] == "rollback"]) == 1
    kinds = [r.kind for r in records]
    assert kinds.count("approved") == 1 and kinds.count("started") == 1 and kinds.count("succeeded") == 1
    refused = [r for r in records if r.kind == "refused"]
    assert len(refused) == CLICKS - 1, kinds
    assert {r.data["code"] for r in refused} == {"decided"}
    assert {r.actor for r in refused} <= {"W222", "W444"}


async def test_fifty_concurrent_undos_audit_all_49_refusals(fake_slack: FakeSlack, shop: Any,
                                                            store_url: str) -> None:  # noqa: F811
    """Fifty simultaneous Undo clicks on an automatic silence: it is expired once, and exactly 49 `refused` audit
    records name the original request, one per losing click."""
    cfg = config(policies={"alertmanager.silence": {"autonomy": "auto"}}).model_copy(
        update={"services": shop.config.services})
    async with running_bot(fake_slack, config=cfg, SRE_BOT_DB_URL=store_url, **shop.urls.as_env()) as bot:
        await ask(bot, fake_slack, SILENCE)
        msg = await message_with(fake_slack, "Undo")
        rid = button(msg, UNDO).split(":")[0]
        [(sid, _)] = shop.world.silences.items()
        resps = await asyncio.gather(*(bot.post(_click(UNDO, msg, "W222")) for _ in range(CLICKS)))
        assert [r.status_code for r in resps] == [200] * CLICKS
        await fake_slack.wait_for("chat.postEphemeral", CLICKS - 1, timeout=30)
        await message_with(fake_slack, "Undone by <@W222>", timeout=15)
        records = await _records(bot, rid, CLICKS - 1)
        undo = [r for r in await bot.deps.store.latest(1000) if r.request_id == f"undo-{rid}"]
    assert shop.world.silences[sid].state(time.time()) == "expired"
    assert [r.kind for r in undo].count("started") == 1
    refused = [r for r in records if r.kind == "refused"]
    assert len(refused) == CLICKS - 1, [r.kind for r in records]
    assert {r.data["code"] for r in refused} == {"decided"} and {r.actor for r in refused} == {"W222"}
