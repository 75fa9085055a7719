"""Deploy verdicts scored like answers, through the real Bolt app over signed HTTP, the fake Slack Web API and the
sandbox shop: the watcher's bad verdict carries "Right call?" buttons and is stored as an answer (answerer
`deploy_check`, its measured confidence) linked to its rollback request; a No vote is recorded; `/sre accuracy`
shows the verdicts on their own line; enough No votes on verdicts step `argocd.rollback` down; a posted suspicious
verdict is stored too, with no request."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sre_bot.actions.config import ActionsConfig
from sre_bot.config import Config
from sre_bot.deploys.config import DeploysConfig
from sre_bot.deploys.watcher import DeployWatcher
from sre_bot.feedback.autonomy import current_level
from sre_bot.sandbox import Sandbox, load_scenario
from sre_bot.services.deploy_check import ENGINE_VERSION, VERDICT_TRACK_RECORD, verdict_confidence
from sre_bot.slack.deploys import cycle
from sre_bot.slack.feedback_blocks import FEEDBACK_NO, FEEDBACK_PARTLY, FEEDBACK_YES
from tests.actions._support import ask
from tests.fakes.slack_api import FakeSlack
from tests.harness import BotUnderTest, running_bot
from tests.slack_signing import block_actions

CHANNEL = "C0DEPLOYS"
ROLLBACK = "argocd.rollback"


def _config(sb: Sandbox, **actions: Any) -> Config:
    return sb.config.model_copy(update={
        "deploys": DeploysConfig(channel=CHANNEL),
        "actions": ActionsConfig.model_validate({"approvers": {"users": ["W222"]}, "admins": {"users": ["W333"]},
                                                 "policies": {ROLLBACK: {"autonomy": "approve"}}, **actions})})


@asynccontextmanager
async def _shop(fake: FakeSlack, scenario: str = "checkout-bad-deploy", **actions: Any,
                ) -> AsyncIterator[tuple[Sandbox, BotUnderTest]]:
    async with Sandbox(load_scenario(scenario)) as sb, \
            running_bot(fake, config=_config(sb, **actions), incidents=False, **sb.urls.as_env()) as bot:
        yield sb, bot


def _text(message: dict) -> str:
    return json.dumps(message.get("blocks") or [], ensure_ascii=False) + (message.get("text") or "")


def _buttons(message: dict) -> dict[str, str]:
    return {e["action_id"]: e["value"] for b in message.get("blocks") or [] if b["type"] == "actions"
            for e in b["elements"]}


def _verdict_message(fake: FakeSlack) -> dict:
    [message] = [m for m in fake.messages(CHANNEL) if FEEDBACK_NO in _buttons(m)]
    return message


def _vote(action_id: str, message: dict, *, user: str = "W111"):
    return block_actions(action_id, _buttons(message)[action_id], user=user, channel=CHANNEL,
                         message_ts=message["ts"])


async def _ephemeral(fake: FakeSlack, n: int) -> str:
    return (await fake.wait_for("chat.postEphemeral", n))[n - 1].args["text"]


async def test_a_bad_verdict_is_an_answer_with_buttons_linked_to_its_rollback(fake_slack: FakeSlack):
    """checkout's bad deploy: the verdict message (in the channel, not its thread) gets "Right call?" with
    Yes / Partly / No and says how often bad verdicts were right; the stored answer is the deploy check's, with
    the hypothesis, the measured confidence and the rollback request it proposed."""
    async with _shop(fake_slack) as (sb, bot):
        assert await cycle(bot.bolt.client, bot.deps, DeployWatcher(bot.deps)) == 1
        message = _verdict_message(fake_slack)
        [stored_verdict] = await bot.deps.store.verdicts.latest()
        answer = await bot.deps.store.feedback.get_answer(_buttons(message)[FEEDBACK_YES])
        operations = list(sb.world.operations)
    text = _text(message)
    assert set(_buttons(message)) == {FEEDBACK_YES, FEEDBACK_PARTLY, FEEDBACK_NO}
    assert "Right call?" in text and "Right cause?" not in text and "Deploy check: checkout" in text
    right, of = VERDICT_TRACK_RECORD["bad"]
    assert f"Bad verdicts were right {right} of {of} times on the benchmark" in text
    assert "thread_ts" not in message
    assert answer is not None and answer.channel == CHANNEL and answer.message_ts == message["ts"]
    draft = answer.draft
    assert (draft.answered_by, draft.engine, draft.rateable) == ("deploy_check", ENGINE_VERSION, True)
    top = draft.top
    assert top is not None and top.cause == f"bad deploy of checkout ({stored_verdict.revision[:7]})"
    assert (top.service, top.cause_kind, top.calibrated) == ("checkout", "bad_deploy", None)
    assert top.confidence == verdict_confidence("bad") == round((right + 1) / (of + 2), 2)
    assert answer.requests == [(stored_verdict.request_id, ROLLBACK)]
    assert operations == []  # proposed only


async def test_a_no_vote_is_recorded_and_accuracy_shows_verdicts_apart(fake_slack: FakeSlack):
    """A No on the verdict is stored and audited as the deploy check's; `/sre accuracy` reports it on the deploy
    verdicts' own line (not as an investigation answer, not in the engine's calibration) and under the rollback."""
    async with _shop(fake_slack) as (sb, bot):
        await cycle(bot.bolt.client, bot.deps, DeployWatcher(bot.deps))
        message = _verdict_message(fake_slack)
        answer_id = _buttons(message)[FEEDBACK_NO]
        resp = await bot.post(_vote(FEEDBACK_NO, message))
        assert resp.status_code == 200
        thanks = await _ephemeral(fake_slack, 1)
        tally = await bot.deps.store.feedback.tally(answer_id)
        [record] = [r for r in await bot.deps.store.latest(50) if r.kind == "feedback"]
        report = json.dumps(await ask(bot, fake_slack, "accuracy 7", user="W111", name="acc"), ensure_ascii=False)
    assert "recorded *no*" in thanks and tally == {"no": 1}
    assert record.data["answered_by"] == "deploy_check" and record.data["actions"] == [ROLLBACK]
    assert "Answers rated: 1 of 1 that named a cause (deploy verdicts included)" in report
    assert "No votes yet on investigation answers" in report
    assert "Deploy verdicts (scored apart, never in the engine's calibration): accuracy 0.00" in report
    assert "0 yes · 0 partly · 1 no" in report
    assert "Engine: no rated answers" in report and "answered by the engine" not in report
    assert f"`{ROLLBACK}`: accuracy 0.00" in report


async def test_no_votes_on_verdicts_step_the_rollback_down(fake_slack: FakeSlack):
    """Three people vote No on the bad verdict (min_feedback 3, below 0.6): `argocd.rollback` drops from approve to
    suggest, audited, and the channel is told why; a Yes on it afterwards never raises it back."""
    step_down = {"below": 0.6, "window": "7d", "min_feedback": 3}
    async with _shop(fake_slack, step_down=step_down) as (sb, bot):
        await cycle(bot.bolt.client, bot.deps, DeployWatcher(bot.deps))
        message = _verdict_message(fake_slack)
        for n, user in enumerate(["W111", "W444", "W555"], start=1):
            await bot.post(_vote(FEEDBACK_NO, message, user=user))
            await _ephemeral(fake_slack, n)
            if n < 3:
                assert (await current_level(bot.deps, ROLLBACK)).level == "approve"
        notices: list[dict] = []
        for _ in range(200):
            notices = [m for m in fake_slack.messages(CHANNEL) if "stepped down" in m.get("text", "")]
            if notices:
                break
            await asyncio.sleep(0.02)
        level = await current_level(bot.deps, ROLLBACK)
        [record] = [r for r in await bot.deps.store.latest(100) if r.kind == "autonomy_stepped_down"]
        await bot.post(_vote(FEEDBACK_YES, message, user="W666"))
        await _ephemeral(fake_slack, 4)
        after_yes = await current_level(bot.deps, ROLLBACK)
    [notice] = notices
    assert "from `approve` to `suggest`" in notice["text"] and "3 vote(s) on 1 answer(s)" in notice["text"]
    assert (level.configured, level.level) == ("approve", "suggest")
    assert (record.data["before"], record.data["after"], record.data["votes"]) == ("approve", "suggest", 3)
    assert after_yes.level == "suggest"


async def test_a_posted_suspicious_verdict_is_an_answer_without_a_request(fake_slack: FakeSlack):
    """The red-herring frontend deploy (suspicious): its note keeps its text, gets the buttons, and is stored at
    the suspicious verdicts' measured confidence with no request; a Yes on it is recorded."""
    async with _shop(fake_slack, "red-herring-deploy-after-onset") as (sb, bot):
        assert await cycle(bot.bolt.client, bot.deps, DeployWatcher(bot.deps)) == 1
        message = _verdict_message(fake_slack)
        answer = await bot.deps.store.feedback.get_answer(_buttons(message)[FEEDBACK_YES])
        await bot.post(_vote(FEEDBACK_YES, message))
        thanks = await _ephemeral(fake_slack, 1)
    right, of = VERDICT_TRACK_RECORD["suspicious"]
    assert "suspicious: frontend" in message["text"] and "No rollback proposed" in message["text"]
    assert f"Suspicious verdicts were right {right} of {of} times on the benchmark" in message["text"]
    assert "Right call?" in _text(message)
    assert answer is not None and answer.message_ts == message["ts"] and answer.requests == []
    top = answer.draft.top
    assert answer.draft.answered_by == "deploy_check" and top is not None
    assert top.confidence == verdict_confidence("suspicious") == round((right + 1) / (of + 2), 2)
    assert "recorded *yes*" in thanks
