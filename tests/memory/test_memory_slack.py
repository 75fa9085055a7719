"""Incident memory through the real Bolt app over signed HTTP, on the sandbox shop: a confirmed answer becomes a
case, the next answer says "Seen before" with the fix offered through the approval gate, and `/sre history`
lists, corrects and forgets cases (approvers only, every refusal audited)."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

from sre_bot.actions.config import ActionsConfig
from sre_bot.slack.action_blocks import APPROVE
from sre_bot.slack.feedback_blocks import FEEDBACK_YES
from sre_bot.store.cases import Case, new_case_id
from tests.actions._support import ask, audit_kinds, click, message_with, request_message
from tests.fakes.slack_api import BOT_USER_ID, FakeSlack
from tests.harness import BotUnderTest, running_bot
from tests.slack_signing import app_mention, block_actions

QUESTION = f"<@{BOT_USER_ID}> why is payments-api slow?"


def _config(shop: Any) -> Any:
    return shop.config.model_copy(update={"actions": ActionsConfig.model_validate(
        {"approvers": {"users": ["W222"]}, "admins": {"users": ["W333"]}})})


async def _answer(bot: BotUnderTest, fake: FakeSlack, channel: str = "C111") -> dict[str, Any]:
    """Mention the bot and return the final chat.update of that answer (its args: channel, ts, blocks)."""
    done = len([c for c in fake.calls("chat.update") if not c.args["text"].startswith("🔎")])
    await bot.post(app_mention(QUESTION, channel=channel, user="W111"))
    loop = asyncio.get_running_loop()
    end = loop.time() + 30
    while loop.time() < end:
        answers = [c for c in fake.calls("chat.update") if not c.args["text"].startswith("🔎")]
        if len(answers) > done:
            await asyncio.sleep(0.3)  # approval requests are posted right after the answer
            return answers[done].args
        await asyncio.sleep(0.02)
    raise AssertionError(f"no answer; calls: {fake.describe()}")


def _yes(update: dict[str, Any], user: str = "W111") -> Any:
    value = next(e["value"] for b in update["blocks"] if b["type"] == "actions" for e in b["elements"]
                 if e["action_id"] == FEEDBACK_YES)
    return block_actions(FEEDBACK_YES, value, user=user, channel=update["channel"], message_ts=update["ts"])


def _text(update: dict[str, Any]) -> str:
    return json.dumps(update["blocks"], ensure_ascii=False)


async def test_a_confirmed_answer_is_seen_before_with_its_fix_offered(fake_slack: FakeSlack, shop: Any) -> None:
    """Ask, approve the proposed rollback, answer "Right cause?" with Yes: a case is recorded (audited) with the fix
    and its approver; asked again, the answer says "Seen before" with that case and why it is similar; the rollback is
    not offered again, since the revision it blamed no longer runs."""
    async with running_bot(fake_slack, config=_config(shop), **shop.urls.as_env()) as bot:
        first = await _answer(bot, fake_slack)
        assert "Seen before" not in _text(first)
        req_msg = request_message(fake_slack)
        assert (await bot.post(click(APPROVE, req_msg, user="W222"))).status_code == 200
        await message_with(fake_slack, "*done*")
        [cand] = await bot.deps.store.cases.list(statuses=("candidate",))  # the approved fix, on the answer's case
        assert cand.fix is not None and cand.fix["action"] == "argocd.rollback"
        assert (await bot.post(_yes(first))).status_code == 200
        for _ in range(100):
            if cases := await bot.deps.store.cases.list():
                break
            await asyncio.sleep(0.05)
        [case] = cases
        assert case.service == "checkout" and case.cause_kind == "bad_deploy" and case.status == "active"
        assert case.fix is not None and case.fix["action"] == "argocd.rollback" and case.fix["approved_by"] == "W222"
        assert case.source["confirmed_by"]["kind"] == "vote" and "case_recorded" in await audit_kinds(bot)

        pending_before = len(await bot.deps.store.pending(bot.deps.clock()))
        second = await _answer(bot, fake_slack)
        text = _text(second)
        assert "Seen before" in text and f"#{case.id}" in text
        assert "fixed by `argocd.rollback checkout` (approved by @w222)" in text, text[text.index("Seen before"):][:1500]
        assert "similar because" in text and "same root service checkout" in text
        pending = await bot.deps.store.pending(bot.deps.clock())
        # checkout was rolled back: the blamed revision no longer runs, so no rollback is offered again (it would
        # return to the bad deploy) and the answer says why
        assert len(pending) == pending_before and not [r for r in pending if r.action == "argocd.rollback"]
        assert "no longer runs" in text


async def test_a_past_fix_is_proposed_with_source_memory(fake_slack: FakeSlack, shop: Any) -> None:
    """A past case of checkout fixed by a restart: today's answer offers the restart as an approval request whose
    source is the memory (the case and the similarity), citing today's evidence about checkout."""
    async with running_bot(fake_slack, config=_config(shop), **shop.urls.as_env()) as bot:
        first = await _answer(bot, fake_slack)  # what the shop looks like today, as a case from last week
        [cand] = await bot.deps.store.cases.list(statuses=("candidate",))
        week_ago = bot.deps.clock() - timedelta(days=7)
        past = await bot.deps.store.cases.add(Case(
            id=new_case_id(), occurred_at=week_ago, created_at=week_ago, updated_at=week_ago, status="active",
            service="checkout", cause_kind="bad_deploy", summary="checkout pods wedged after a config push",
            source={"kind": "vote"}, fingerprint={**cand.fingerprint, "suspects": ["checkout"]},
            fix={"action": "argocd.restart", "args": {"service": "checkout"}, "approved_by": "W222",
                 "at": week_ago.isoformat(), "recovered_in_s": 360}))
        assert "Seen before" not in _text(first)
        second = await _answer(bot, fake_slack)
        text = _text(second)
        assert f"#{past.id}" in text and "checkout pods wedged after a config push" in text
        assert "fixed by `argocd.restart checkout` (approved by @W222), recovered in 6 min" in text
        assert " similar because same root service checkout" in text or "same root service checkout" in text
        [restart] = [r for r in await bot.deps.store.pending(bot.deps.clock()) if r.action == "argocd.restart"]
        assert restart.source["kind"] == "memory" and restart.source["case"] == past.id
        assert restart.source["similarity"] >= 0.9 and restart.evidence_ids
        assert f"seen before: case #{past.id}" in restart.reason
        msg = request_message(fake_slack, index=-1)
        assert "argocd.restart" in json.dumps(msg, ensure_ascii=False) or any(
            "argocd.restart" in json.dumps(m, ensure_ascii=False) for m in fake_slack.messages("C111"))


async def test_history_lists_corrects_and_forgets_approvers_only(fake_slack: FakeSlack, shop: Any) -> None:
    """`/sre history` lists cases newest first; forget/correct by someone who is not an approver, of an unknown
    id, or without a cause are refused and audited; an approver's correction and forgetting are audited."""
    async with running_bot(fake_slack, config=_config(shop), **shop.urls.as_env()) as bot:
        now = bot.deps.clock()
        cases = [await bot.deps.store.cases.add(Case(
            id=new_case_id(), occurred_at=now - timedelta(days=d), created_at=now, updated_at=now, status="active",
            service=s, cause_kind="bad_deploy", summary=f"bad deploy of {s}", source={"kind": "vote"},
            fingerprint={"suspects": [s]})) for d, s in ((3, "checkout"), (1, "payments-db"))]
        listed = json.dumps(await ask(bot, fake_slack, "history", name="h1"), ensure_ascii=False)
        assert listed.index(f"#{cases[1].id}") < listed.index(f"#{cases[0].id}")  # newest first
        only = json.dumps(await ask(bot, fake_slack, "history checkout", name="h2"), ensure_ascii=False)
        assert f"#{cases[0].id}" in only and f"#{cases[1].id}" not in only

        refused = json.dumps(await ask(bot, fake_slack, f"history forget {cases[0].id}", user="W111", name="h3"))
        assert "Only approvers and admins" in refused
        unknown = json.dumps(await ask(bot, fake_slack, "history forget zzzzzzzz", user="W222", name="h4"))
        assert "There is no case #zzzzzzzz" in unknown
        empty = json.dumps(await ask(bot, fake_slack, f"history correct {cases[0].id}", user="W222", name="h5"))
        assert "say what to correct" in empty
        nothing = json.dumps(await ask(bot, fake_slack, "history confirm", user="W222", name="h9"))
        assert "No unconfirmed answer here" in nothing
        refusals = [r for r in await bot.deps.store.latest(50) if r.kind == "refused"]
        assert {r.data["code"] for r in refusals} >= {"unauthorised", "unknown_case", "bad_input"}

        fixed = json.dumps(await ask(bot, fake_slack, f'history correct {cases[0].id} cause="expired TLS cert on '
                                     'checkout"', user="W222", name="h6"), ensure_ascii=False)
        assert "corrected" in fixed and "expired TLS cert on checkout" in fixed
        got = await bot.deps.store.cases.get(cases[0].id)
        assert got is not None and got.summary == "expired TLS cert on checkout" and got.version == 2
        await ask(bot, fake_slack, f"history forget #{cases[0].id}", user="W333", name="h7")
        gone = await bot.deps.store.cases.get(cases[0].id)
        assert gone is not None and gone.status == "forgotten"
        after = json.dumps(await ask(bot, fake_slack, "history", name="h8"), ensure_ascii=False)
        assert f"#{cases[0].id}" not in after and f"#{cases[1].id}" in after
        kinds = await audit_kinds(bot)
        assert "case_correct" in kinds and "case_forget" in kinds
