"""Feedback through the real Bolt app over signed HTTP, on the sandbox shop: every answer that names a cause
carries "Right cause?" buttons and is stored with its claims; votes, the real-cause modal, refusals; bad feedback
steps the rollback down and tells the channel; only a person raises it back; `/sre accuracy` reports it."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from sre_bot.actions.config import ActionsConfig
from sre_bot.investigation import ENGINE_VERSION
from sre_bot.services.answer import library_calibration
from sre_bot.slack.action_blocks import APPROVE
from sre_bot.slack.feedback_blocks import FEEDBACK_NO, FEEDBACK_PARTLY, FEEDBACK_YES, REAL_CAUSE_MODAL
from tests.actions._support import MutableClock, ask
from tests.fakes.slack_api import BOT_USER_ID, FakeSlack
from tests.harness import BotUnderTest, running_bot
from tests.slack_signing import app_mention, block_actions, view_submission

QUESTION = f"<@{BOT_USER_ID}> why is payments-api slow?"
ROLLBACK = "argocd.rollback"


def _config(shop, **actions: Any):
    return shop.config.model_copy(update={"actions": ActionsConfig.model_validate(
        {"approvers": {"users": ["W222"]}, "admins": {"users": ["W333"]}, **actions})})


async def _answer(bot: BotUnderTest, fake: FakeSlack, channel: str = "C111") -> dict[str, Any]:
    """Mention the bot and return the final chat.update of that answer (its args: channel, ts, blocks)."""
    done = len([c for c in fake.calls("chat.update") if not c.args["text"].startswith("🔎")])
    await bot.post(app_mention(QUESTION, channel=channel, user="W111"))
    loop = asyncio.get_running_loop()
    end = loop.time() + 30
    while loop.time() < end:
        answers = [c for c in fake.calls("chat.update") if not c.args["text"].startswith("🔎")]
        if len(answers) > done:
            await asyncio.sleep(0.2)  # approval requests are posted right after the answer
            return answers[done].args
        await asyncio.sleep(0.02)
    raise AssertionError(f"no answer; calls: {fake.describe()}")


def _buttons(update: dict[str, Any]) -> dict[str, str]:
    return {e["action_id"]: e["value"] for b in update["blocks"] if b["type"] == "actions" for e in b["elements"]}


def _vote(action_id: str, update: dict[str, Any], *, user: str = "W111", channel: str | None = None,
          value: str | None = None, ts: str | None = None):
    return block_actions(action_id, value if value is not None else _buttons(update)[action_id], user=user,
                         channel=channel or update["channel"], message_ts=ts or update["ts"])


async def _ephemeral(fake: FakeSlack, n: int) -> str:
    return (await fake.wait_for("chat.postEphemeral", n))[n - 1].args["text"]


async def _kinds(bot: BotUnderTest) -> list[str]:
    return [r.kind for r in reversed(await bot.deps.store.latest(200))]


async def test_an_answer_carries_the_buttons_and_is_stored_with_its_claims(fake_slack: FakeSlack, shop) -> None:
    """The engine's answer ends with Yes / Partly / No whose values are only the answer id; the store holds its
    hypotheses, confidences, where it was posted and the rollback request it proposed."""
    async with running_bot(fake_slack, config=_config(shop), **shop.urls.as_env()) as bot:
        update = await _answer(bot, fake_slack)
        buttons = _buttons(update)
        assert set(buttons) >= {FEEDBACK_YES, FEEDBACK_PARTLY, FEEDBACK_NO}
        [answer_id] = {buttons[a] for a in (FEEDBACK_YES, FEEDBACK_PARTLY, FEEDBACK_NO)}
        assert "Right cause?" in json.dumps(update["blocks"]) and len(update["blocks"]) <= 50
        stored = await bot.deps.store.feedback.get_answer(answer_id)
        assert stored is not None and (stored.channel, stored.message_ts) == ("C111", update["ts"])
        top = stored.draft.top
        assert stored.draft.answered_by == "engine" and stored.draft.engine == ENGINE_VERSION
        assert top is not None and top.service == "checkout" and top.cause_kind and 0 < top.confidence <= 1
        cal = library_calibration()  # what the person read is what was stored: the calibrated probability
        assert cal is not None and stored.draft.calibration == cal.describe() and top.calibrated is None
        assert f"confidence {top.confidence:.2f}" in json.dumps(update["blocks"])
        [request] = await bot.deps.store.pending(bot.deps.clock())
        assert stored.requests == [(request.id, ROLLBACK)]
        assert stored.draft.question.startswith("why is payments-api slow")


async def test_a_no_vote_asks_for_the_real_cause_and_one_person_counts_once(fake_slack: FakeSlack, shop) -> None:
    """No is recorded with thanks and opens the real-cause modal; the text is stored with the vote; voting Yes
    afterwards replaces the No; every step is audited."""
    async with running_bot(fake_slack, config=_config(shop), **shop.urls.as_env()) as bot:
        update = await _answer(bot, fake_slack)
        answer_id = _buttons(update)[FEEDBACK_NO]
        await bot.post(_vote(FEEDBACK_NO, update))
        assert "recorded *no*" in await _ephemeral(fake_slack, 1)
        [opened] = await fake_slack.wait_for("views.open")
        view = opened.args["view"]
        assert view["callback_id"] == REAL_CAUSE_MODAL and json.loads(view["private_metadata"]) == \
            {"answer_id": answer_id}
        submitted = view_submission(REAL_CAUSE_MODAL, private_metadata=view["private_metadata"], user="W111",
                                    values={"real_cause": {"real_cause_text": {"type": "plain_text_input",
                                                                              "value": "payments-db failover"}}})
        assert (await bot.post(submitted)).status_code == 200
        [point] = await bot.deps.store.feedback.points(since=bot.deps.clock().replace(year=2000))
        assert (point.verdict, point.real_cause, point.voter) == ("no", "payments-db failover", "W111")
        await bot.post(_vote(FEEDBACK_YES, update))
        assert "replaces your earlier one" in await _ephemeral(fake_slack, 2)
        assert await bot.deps.store.feedback.tally(answer_id) == {"yes": 1}
        assert len(fake_slack.calls("views.open")) == 1  # Yes asks nothing more
        kinds = await _kinds(bot)
        assert kinds.count("feedback") == 2 and "feedback_cause" in kinds


async def test_a_real_cause_without_a_vote_is_refused_in_the_modal(fake_slack: FakeSlack, shop) -> None:
    """Someone who has not voted cannot attach a real cause: the modal answers with an error and nothing is kept."""
    async with running_bot(fake_slack, config=_config(shop), **shop.urls.as_env()) as bot:
        update = await _answer(bot, fake_slack)
        meta = json.dumps({"answer_id": _buttons(update)[FEEDBACK_NO]})
        resp = await bot.post(view_submission(REAL_CAUSE_MODAL, private_metadata=meta, user="W777", values={
            "real_cause": {"real_cause_text": {"type": "plain_text_input", "value": "dns"}}}))
        body = resp.json()
        assert body["response_action"] == "errors" and "Vote on the answer first" in body["errors"]["real_cause"]
        assert await bot.deps.store.feedback.tally(_buttons(update)[FEEDBACK_NO]) == {}


async def test_clicks_that_are_not_on_a_known_answer_are_refused_politely(fake_slack: FakeSlack, shop) -> None:
    """An unknown id, an id clicked in another channel or on another message, and an expired answer: each gets
    a private note, nothing is recorded, nothing runs."""
    clock = MutableClock()
    async with running_bot(fake_slack, config=_config(shop), clock=clock, **shop.urls.as_env()) as bot:
        update = await _answer(bot, fake_slack)
        answer_id = _buttons(update)[FEEDBACK_NO]
        await bot.post(_vote(FEEDBACK_NO, update, value="AAAAAAAAAAAAAAAAAAAAAA"))
        assert "no record of this answer" in await _ephemeral(fake_slack, 1)
        await bot.post(_vote(FEEDBACK_NO, update, value="not an id: {\"verdict\": \"yes\"}"))
        assert "no record of this answer" in await _ephemeral(fake_slack, 2)
        await bot.post(_vote(FEEDBACK_NO, update, channel="C999"))
        assert "does not belong to the answer" in await _ephemeral(fake_slack, 3)
        await bot.post(_vote(FEEDBACK_NO, update, ts="1700000000.999999"))
        assert "does not belong to the answer" in await _ephemeral(fake_slack, 4)
        clock.advance(days=31)
        await bot.post(_vote(FEEDBACK_NO, update))
        assert "votes close after 30 days" in await _ephemeral(fake_slack, 5)
        assert await bot.deps.store.feedback.tally(answer_id) == {}
        assert fake_slack.calls("views.open") == []
        refused = [r.data["code"] for r in await bot.deps.store.latest(50) if r.kind == "refused"]
        assert sorted(refused) == sorted(["feedback_unknown", "feedback_unknown", "feedback_tampered",
                                          "feedback_tampered", "feedback_expired"])
        assert not [o for o in shop.world.operations if o["op"] == "rollback"]


async def test_bad_feedback_steps_the_rollback_down_and_only_a_person_raises_it(fake_slack: FakeSlack, shop) -> None:
    """Two No votes on answers that proposed the rollback (min_feedback 2): it drops to `suggest`, the channel is
    told why with the numbers, the next answer only suggests it; `/sre autonomy` by a non-approver is refused, by
    an approver raises it (audited), and the answer after that offers the rollback for approval again."""
    config = _config(shop, step_down={"below": 0.6, "window": "7d", "min_feedback": 2})
    async with running_bot(fake_slack, config=config, **shop.urls.as_env()) as bot:
        first, second = await _answer(bot, fake_slack), await _answer(bot, fake_slack)
        assert len(await bot.deps.store.pending(bot.deps.clock())) == 2
        await bot.post(_vote(FEEDBACK_NO, first))
        await _ephemeral(fake_slack, 1)
        assert "autonomy_stepped_down" not in await _kinds(bot)  # one vote is below min_feedback
        await bot.post(_vote(FEEDBACK_NO, second, user="W444"))
        await _ephemeral(fake_slack, 2)
        notices = [m for m in fake_slack.messages("C111") if "stepped down" in m.get("text", "")]
        for _ in range(100):
            if notices:
                break
            await asyncio.sleep(0.02)
            notices = [m for m in fake_slack.messages("C111") if "stepped down" in m.get("text", "")]
        [notice] = notices
        assert "from `approve` to `suggest`" in notice["text"] and "0.00 accurate (threshold 0.60)" in notice["text"]
        assert "2 vote(s) on 2 answer(s)" in notice["text"] and "thread_ts" not in notice
        assert "/sre autonomy argocd.rollback approve" in notice["text"]
        [record] = [r for r in await bot.deps.store.latest(50) if r.kind == "autonomy_stepped_down"]
        assert (record.data["action"], record.data["before"], record.data["after"]) == (ROLLBACK, "approve", "suggest")

        third = await _answer(bot, fake_slack)
        shown = json.dumps(third["blocks"], ensure_ascii=False)
        assert "Suggested actions, not offered for approval" in shown and "feedback monitor" in shown
        assert len(await bot.deps.store.pending(bot.deps.clock())) == 2  # no new request

        refused = await ask(bot, fake_slack, f"autonomy {ROLLBACK} approve", user="W111", name="a1")
        assert "approvers" in json.dumps(refused) and refused["response_type"] == "ephemeral"
        status = await ask(bot, fake_slack, "autonomy", user="W111", name="a2")
        assert "acts at `suggest` (configured `approve`)" in json.dumps(status, ensure_ascii=False)
        raised = await ask(bot, fake_slack, f"autonomy {ROLLBACK} approve", user="W222", name="a3")
        assert "raised from `suggest` to `approve`" in json.dumps(raised) and raised["response_type"] == "in_channel"
        assert (await _kinds(bot))[-1] == "autonomy_raised"

        fourth = await _answer(bot, fake_slack)
        assert len(await bot.deps.store.pending(bot.deps.clock())) == 3
        assert APPROVE not in _buttons(fourth)  # the request is its own message; the answer has only feedback
        report = await ask(bot, fake_slack, "accuracy 7", user="W111", name="acc")
        text = json.dumps(report, ensure_ascii=False)
        assert "Answers rated: 2 of 4" in text and "accuracy 0.00" in text and "Calibration in use" in text
        assert "`argocd.rollback`: accuracy 0.00" in text


async def test_bad_accuracy_input_is_a_clear_error(fake_slack: FakeSlack, shop) -> None:
    """`/sre accuracy abc` says what it takes; nothing else happens."""
    async with running_bot(fake_slack, config=_config(shop), **shop.urls.as_env()) as bot:
        reply = await ask(bot, fake_slack, "accuracy abc", user="W111")
        assert "not a number of days" in json.dumps(reply) and reply["response_type"] == "ephemeral"
        assert await _kinds(bot) == []


async def test_the_models_answer_is_stored_as_the_models(fake_slack: FakeSlack, shop) -> None:
    """When the model answers, the stored answer names the model and keeps its (uncalibrated) confidence."""
    from tests.fakes.anthropic_api import FakeAnthropic
    from tests.llm.test_llm_slack import _grounded_answer, _investigate_then_answer

    with FakeAnthropic() as model:
        model.enqueue(_investigate_then_answer, _grounded_answer)
        env = {**shop.urls.as_env(), "ANTHROPIC_API_KEY": "test-key", "ANTHROPIC_BASE_URL": model.url,
               "SRE_BOT_LLM_MAX_RETRIES": "0"}
        async with running_bot(fake_slack, config=_config(shop), **env) as bot:
            update = await _answer(bot, fake_slack)
            stored = await bot.deps.store.feedback.get_answer(_buttons(update)[FEEDBACK_PARTLY])
            assert stored is not None and stored.draft.answered_by == "llm"
            assert stored.draft.model == "claude-sonnet-5-5 (investigator-v1)"
            top = stored.draft.top
            assert top is not None and (top.service, top.confidence, top.calibrated) == ("checkout", 0.8, None)
            assert [a for _, a in stored.requests] == [ROLLBACK]
