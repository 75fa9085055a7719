"""Actions suggested by an investigation (the statistics engine, or the model after grounding) become approval
requests in the thread, and an approval reaches the target; nothing runs without the click."""

from __future__ import annotations

import json

from sre_bot.actions.config import ActionsConfig
from sre_bot.investigation import ENGINE_VERSION
from tests.actions._support import APPROVE, click, message_with, request_message
from tests.fakes.slack_api import BOT_USER_ID, FakeSlack
from tests.harness import running_bot
from tests.slack_signing import app_mention


def _config(shop, **actions):
    return shop.config.model_copy(update={"actions": ActionsConfig.model_validate(
        {"approvers": {"users": ["W222"]}, **actions})})


async def test_engine_suggests_a_rollback_and_the_approval_reaches_argo_cd(fake_slack: FakeSlack, shop) -> None:
    """With no model, the engine's bad-deploy hypothesis becomes a rollback request citing the deploy; approving it
    rolls the sandbox's checkout back, once."""
    async with running_bot(fake_slack, config=_config(shop), **shop.urls.as_env()) as bot:
        await bot.post(app_mention(f"<@{BOT_USER_ID}> why is payments-api slow?", channel="C111", user="W111"))
        await fake_slack.wait_for("chat.postMessage", 2, timeout=30)
        msg = request_message(fake_slack)
        text = json.dumps(msg["blocks"], ensure_ascii=False)
        assert "argocd.rollback" in text and "checkout" in text and "statistics engine" in text
        assert msg.get("thread_ts")  # in the investigation's thread
        assert not [o for o in shop.world.operations if o["op"] == "rollback"]
        [suggested] = [r for r in await bot.deps.store.latest(20) if r.kind == "suggested"]
        source = suggested.data["source"]  # the chain: who suggested it, and how sure, as the answer showed it
        assert source["kind"] == "engine" and source["version"] == ENGINE_VERSION
        assert 0.5 <= source["confidence"] <= 1 and 0 < source["engine_confidence"] <= 1
        assert "calibrated on the scenario library" in source["calibration"]
        assert suggested.data["trigger"]["question"].startswith("why is payments-api slow")
        assert suggested.data["evidence"] and suggested.data["evidence"][0]["id"] in suggested.data["evidence_ids"]
        await bot.post(click(APPROVE, msg, user="W222"))
        await message_with(fake_slack, "*done*")
        assert len([o for o in shop.world.operations if o["op"] == "rollback"]) == 1


async def test_suggest_level_shows_text_only(fake_slack: FakeSlack, shop) -> None:
    """At autonomy `suggest` the answer names the action and why it is not offered; no buttons are posted."""
    config = _config(shop, policies={"argocd.rollback": {"autonomy": "suggest"}})
    async with running_bot(fake_slack, config=config, **shop.urls.as_env()) as bot:
        await bot.post(app_mention(f"<@{BOT_USER_ID}> why is payments-api slow?", channel="C111"))
        [update] = await fake_slack.wait_for("chat.update", timeout=30)
        text = json.dumps(update.args["blocks"], ensure_ascii=False)
        assert "Suggested actions, not offered for approval" in text and "set to `suggest`" in text
        assert len(fake_slack.calls("chat.postMessage")) == 1  # only the answer
        assert await bot.deps.store.pending(bot.deps.clock()) == []


async def test_no_approvers_means_suggest_only(fake_slack: FakeSlack, shop) -> None:
    """With nobody configured to approve, nothing is offered for approval, and the answer says why."""
    config = shop.config  # no `actions:` section at all
    async with running_bot(fake_slack, config=config, **shop.urls.as_env()) as bot:
        await bot.post(app_mention(f"<@{BOT_USER_ID}> why is payments-api slow?", channel="C111"))
        [update] = await fake_slack.wait_for("chat.update", timeout=30)
        assert "no approvers configured" in json.dumps(update.args["blocks"])
        assert len(fake_slack.calls("chat.postMessage")) == 1


async def test_model_suggestion_becomes_a_request_with_its_provenance(fake_slack: FakeSlack, shop) -> None:
    """The model's grounded rollback becomes a request whose audit names the model, the prompt version and what
    it was sent about the cited deploy; an action outside the catalog is never offered; approval still rules."""
    from tests.fakes.anthropic_api import FakeAnthropic
    from tests.llm.test_llm_slack import _grounded_answer, _investigate_then_answer

    with FakeAnthropic() as model:
        model.enqueue(_investigate_then_answer, _grounded_answer)
        env = {**shop.urls.as_env(), "ANTHROPIC_API_KEY": "test-key", "ANTHROPIC_BASE_URL": model.url,
               "SRE_BOT_LLM_MAX_RETRIES": "0"}
        async with running_bot(fake_slack, config=_config(shop), **env) as bot:
            await bot.post(app_mention(f"<@{BOT_USER_ID}> why is payments-api slow?", channel="C111"))
            await fake_slack.wait_for("chat.postMessage", 2, timeout=30)
            msg = request_message(fake_slack)
            text = json.dumps(msg["blocks"], ensure_ascii=False)
            assert "argocd.rollback" in text and "drafted by claude-sonnet-5-5 (investigator-v1)" in text
            requests = [m for m in fake_slack.messages("C111") if "🔧" in m.get("text", "")]
            assert len(requests) == 1 and "drop_tables" not in json.dumps(requests)
            [suggested] = [r for r in await bot.deps.store.latest(20) if r.kind == "suggested"]
            source = suggested.data["source"]
            assert source["kind"] == "llm" and source["model"] == "claude-sonnet-5-5"
            assert source["prompt_version"] == "investigator-v1"
            [(eid, sent)] = source["sent"].items()
            assert eid in suggested.data["evidence_ids"] and "4f1c2e9" in sent
            assert not [o for o in shop.world.operations if o["op"] == "rollback"]
            await bot.post(click(APPROVE, msg, user="W222"))
            await message_with(fake_slack, "*done*")
            assert len([o for o in shop.world.operations if o["op"] == "rollback"]) == 1
