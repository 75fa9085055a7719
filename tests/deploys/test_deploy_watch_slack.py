"""The deploy watcher through the real Bolt app, the fake Slack Web API and the sandbox shop: a bad deploy gets a
verdict message with its evidence and a rollback approval request in its thread, without anyone asking; the kill
switch leaves that rollback proposed, never run; a red-herring deploy gets a note, no rollback; `/sre deploy-check`
answers on demand and refuses an unknown app."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sre_bot.actions.config import ActionsConfig, Approvers
from sre_bot.config import Config
from sre_bot.deploys.config import DeploysConfig
from sre_bot.deploys.watcher import DeployWatcher
from sre_bot.sandbox import Sandbox, load_scenario
from sre_bot.slack.deploys import cycle
from tests.actions._support import APPROVE, ask, click
from tests.fakes.slack_api import FakeSlack
from tests.harness import BotUnderTest, running_bot

CHANNEL = "C0DEPLOYS"


def _config(sb: Sandbox, **deploys: object) -> Config:
    return sb.config.model_copy(update={
        "deploys": DeploysConfig(channel=CHANNEL, **deploys),  # type: ignore[arg-type]
        "actions": ActionsConfig(approvers=Approvers(users=["W222"]))})


@asynccontextmanager
async def _shop(fake: FakeSlack, scenario: str = "checkout-bad-deploy", **deploys: object,
                ) -> AsyncIterator[tuple[Sandbox, BotUnderTest]]:
    """The sandbox scenario and the bot on it, deploys posted to CHANNEL, W222 an approver, no incident loop."""
    async with Sandbox(load_scenario(scenario)) as sb, \
            running_bot(fake, config=_config(sb, **deploys), incidents=False, **sb.urls.as_env()) as bot:
        yield sb, bot


def _text(message: dict) -> str:
    return json.dumps(message.get("blocks") or [], ensure_ascii=False) + (message.get("text") or "")


def _requests(fake: FakeSlack) -> list[dict]:
    return [m for m in fake.messages(CHANNEL) if any(
        b.get("type") == "header" and "🔧" in b["text"]["text"] for b in m.get("blocks") or [])]


async def test_a_bad_deploy_gets_a_verdict_and_a_rollback_request_without_asking(fake_slack: FakeSlack):
    """checkout's bad deploy (25 min ago) is judged `bad` on the first cycle: the deploys channel gets the verdict
    with its numbers, the rollback request is in its thread, the store keeps all three; a second cycle posts
    nothing more."""
    async with _shop(fake_slack, "checkout-bad-deploy") as (sb, bot):
        watcher = DeployWatcher(bot.deps)
        assert await cycle(bot.bolt.client, bot.deps, watcher) == 1
        assert await cycle(bot.bolt.client, bot.deps, watcher) == 0
        [verdict_msg] = [m for m in fake_slack.messages(CHANNEL) if "Deploy check" in _text(m)]
        [request] = _requests(fake_slack)
        [stored] = await bot.deps.store.verdicts.latest()
        operations = list(sb.world.operations)
    text = _text(verdict_msg)
    assert "bad: checkout 4f1c2e9" in text and "checkout error ratio" in text and "before →" in text
    assert "p=" in text and "effect +" in text
    assert request["thread_ts"] == verdict_msg["ts"]
    assert "argocd.rollback" in _text(request) or "Roll back" in _text(request)
    assert stored.verdict == "bad" and stored.app == "checkout" and stored.revision.startswith("4f1c2e9")
    assert stored.channel == CHANNEL and stored.message_ts == verdict_msg["ts"] and stored.request_id
    assert stored.doc["engine"] == "change-verdict-v1" and stored.doc["reasons"]
    assert operations == []  # proposed only


async def test_the_kill_switch_leaves_the_rollback_proposed_never_run(fake_slack: FakeSlack):
    """With the kill switch on, the watcher still proposes the rollback (a proposal is not an execution); an
    approver's click is refused and Argo CD receives nothing."""
    async with _shop(fake_slack, "checkout-bad-deploy") as (sb, bot):
        await ask(bot, fake_slack, "killswitch on", user="W222")
        assert await cycle(bot.bolt.client, bot.deps, DeployWatcher(bot.deps)) == 1
        [request] = _requests(fake_slack)
        resp = await bot.post(click(APPROVE, request, user="W222", channel=CHANNEL))
        assert resp.status_code == 200
        [stored] = await bot.deps.store.verdicts.latest()
        req = await bot.deps.store.get_request(stored.request_id or "")
        kinds = [r.kind for r in await bot.deps.store.latest(100) if r.request_id == stored.request_id]
        operations = list(sb.world.operations)
    assert req is not None and req.status == "pending" and req.source["kind"] == "deploy_check"
    assert req.source["verdict"] == stored.id
    assert "started" not in kinds and "succeeded" not in kinds
    assert operations == []


async def test_a_red_herring_deploy_gets_a_note_and_no_rollback(fake_slack: FakeSlack):
    """The frontend deploy that landed after search-index's slowdown began is `suspicious` (search-api was already
    slower before it): a short note in the channel, no rollback request."""
    async with _shop(fake_slack, "red-herring-deploy-after-onset") as (sb, bot):
        assert await cycle(bot.bolt.client, bot.deps, DeployWatcher(bot.deps)) == 1
        [stored] = await bot.deps.store.verdicts.latest()
    assert stored.app == "frontend" and stored.verdict == "suspicious"
    [note] = fake_slack.messages(CHANNEL)
    assert "suspicious: frontend" in note["text"] and "search-api" in note["text"] and "already worse" in note["text"]
    assert _requests(fake_slack) == [] and stored.request_id is None


async def test_healthy_deploys_post_nothing(fake_slack: FakeSlack):
    """In the checkout scenario, catalog's deploy (2 h ago, within a 3 h lookback) is healthy: recorded, not
    posted; only checkout's bad one reaches the channel."""
    async with _shop(fake_slack, lookback="3h", callers=False) as (sb, bot):
        await cycle(bot.bolt.client, bot.deps, DeployWatcher(bot.deps))
        verdicts = {v.app: v.verdict for v in await bot.deps.store.verdicts.latest()}
    assert verdicts["checkout"] == "bad" and verdicts["catalog"] == "healthy"
    posted = [m for m in fake_slack.messages(CHANNEL) if "Deploy check" in _text(m) or "suspicious" in _text(m)]
    assert len(posted) == 1 and "checkout" in _text(posted[0])


async def test_deploy_check_on_demand_and_bad_input(fake_slack: FakeSlack):
    """`/sre deploy-check checkout` answers with the verdict and the rollback request; an unknown app or no app
    is a plain error."""
    async with _shop(fake_slack, "checkout-bad-deploy") as (sb, bot):
        answer = await ask(bot, fake_slack, "deploy-check checkout", channel="C111")
        unknown = await ask(bot, fake_slack, "deploy-check no-such-app", channel="C111")
        empty = await ask(bot, fake_slack, "deploy-check", channel="C111")
        revision = await ask(bot, fake_slack, "deploy-check checkout zzzzzzz", channel="C111")
    assert "bad: checkout" in _text(answer) and "checkout error ratio" in _text(answer)
    assert "no Argo CD application named 'no-such-app'" in _text(unknown)
    assert "needs an Argo CD app" in _text(empty)
    assert "no deploy of revision 'zzzzzzz'" in _text(revision)
    assert [m for m in fake_slack.messages("C111") if "🔧" in _text(m)], "the rollback request is posted"


async def test_a_route_sends_the_verdict_to_its_channel(fake_slack: FakeSlack):
    """A route on the Argo CD project (`shop`) takes the verdict and its rollback request to that channel."""
    from sre_bot.incidents.config import Route

    async with _shop(fake_slack, routes=[Route(match={"project": "shop"}, channel="C0SHOP")]) as (sb, bot):
        await cycle(bot.bolt.client, bot.deps, DeployWatcher(bot.deps))
        [stored] = await bot.deps.store.verdicts.latest()
    assert stored.channel == "C0SHOP" and fake_slack.messages(CHANNEL) == []
    assert any("Deploy check" in _text(m) for m in fake_slack.messages("C0SHOP"))


async def test_one_replica_judges(fake_slack: FakeSlack):
    """Two watchers on one store: the lease holder judges the sync, the other does nothing; an app outside
    `deploys.apps` is never judged."""
    async with _shop(fake_slack) as (sb, bot):
        first, second = DeployWatcher(bot.deps, holder="a"), DeployWatcher(bot.deps, holder="b")
        assert len(await first.step()) == 1
        assert await second.step() == []
        await first.release()
    async with _shop(fake_slack, apps=["catalog"]) as (sb, bot):
        assert await DeployWatcher(bot.deps).step() == []


async def test_deploy_check_without_argo_cd_says_so_from_a_command_and_a_mention(fake_slack: FakeSlack):
    """With no Argo CD configured, `/sre deploy-check checkout` and `@sre-bot deploy-check checkout` both reach the
    verb and say what to set."""
    from tests.fakes.slack_api import BOT_USER_ID
    from tests.slack_signing import app_mention

    async with running_bot(fake_slack, config=Config(), incidents=False) as bot:
        answer = await ask(bot, fake_slack, "deploy-check checkout")
        await bot.post(app_mention(f"<@{BOT_USER_ID}> deploy-check checkout", channel="C7"))
        [posted] = await fake_slack.wait_for("chat.update", timeout=10)
    assert "Argo CD is not configured (set ARGOCD_URL)" in _text(answer)
    assert "Argo CD is not configured" in json.dumps(posted.args, ensure_ascii=False)
