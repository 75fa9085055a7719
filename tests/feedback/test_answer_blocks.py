"""How an answer gets its feedback buttons: only when it named a cause, within Slack's 50 blocks, and — posted as a
new message (an incident's investigation) — with the message recorded so a click on it is accepted."""

from __future__ import annotations

from datetime import timedelta

from slack_sdk.web.async_client import AsyncWebClient

from sre_bot.feedback.model import AnswerDraft
from sre_bot.feedback.votes import record_vote
from sre_bot.investigation import ENGINE_VERSION
from sre_bot.services.reply import Reply, Section
from sre_bot.slack.feedback import post_answer, render_answer
from sre_bot.slack.feedback_blocks import answer_id_of
from sre_bot.slack.render import MAX_BLOCKS
from sre_bot.store import ActionRequest, Store
from tests.fakes.slack_api import FakeSlack
from tests.feedback._support import T0, MutableClock, deps_on, draft


def _reply(answer: AnswerDraft | None, sections: int = 3) -> Reply:
    return Reply(kind="investigation", title="Why: checkout", summary="bad deploy", footer="Answered by the engine",
                 sections=[Section(title=f"{i}. cause", note="evidence") for i in range(sections)], answer=answer)


async def test_a_long_answer_keeps_its_footer_and_the_buttons_within_50_blocks(store: Store) -> None:
    """60 sections are cut to fit: the footer, the "not shown" note and the two feedback blocks all remain."""
    deps = deps_on(store, MutableClock(T0))
    text, blocks = await render_answer(deps, _reply(draft(), sections=60), channel="C1", ts="1.2", thread_ts="1.0")
    assert len(blocks) == MAX_BLOCKS and text == "bad deploy"
    assert blocks[-1]["type"] == "actions" and "Right cause?" in blocks[-2]["elements"][0]["text"]
    assert "more blocks not shown" in blocks[-3]["elements"][0]["text"]
    assert blocks[-4]["elements"][0]["text"] == "Answered by the engine"
    stored = await store.feedback.get_answer(answer_id_of(blocks) or "")
    assert stored is not None and (stored.channel, stored.message_ts, stored.thread_ts) == ("C1", "1.2", "1.0")


async def test_no_buttons_without_a_named_cause(store: Store) -> None:
    """A reply that is not an answer, or an answer with insufficient evidence, is rendered as before."""
    deps = deps_on(store, MutableClock(T0))
    abstained = AnswerDraft(question="why?", answered_by="engine", engine=ENGINE_VERSION, insufficient=True)
    for reply in (_reply(None), _reply(abstained)):
        _, blocks = await render_answer(deps, reply, channel="C1", ts="1.2", thread_ts=None)
        assert answer_id_of(blocks) is None and all(b["type"] != "actions" for b in blocks)
    assert await store.feedback.count_answers(since=T0 - timedelta(days=1)) == 0


async def test_an_answer_posted_as_a_new_message_takes_votes_on_that_message(store: Store,
                                                                             fake_slack: FakeSlack) -> None:
    """`post_answer` posts in the thread, records the new message's ts and the requests; a vote on it counts."""
    deps = deps_on(store, MutableClock(T0))
    req = ActionRequest(action="argocd.rollback", args={"service": "checkout"}, risk="medium", reversible=True,
                        channel="C1", created_at=T0, expires_at=T0 + timedelta(minutes=30))
    client = AsyncWebClient(token="xoxb-test", base_url=fake_slack.api_url)
    ts = await post_answer(client, deps, _reply(draft()), channel="C1", thread_ts="1700000000.000001",
                           requests=[req])
    [posted] = fake_slack.calls("chat.postMessage")
    assert posted.args["thread_ts"] == "1700000000.000001"
    answer_id = answer_id_of(posted.args["blocks"]) or ""
    stored = await store.feedback.get_answer(answer_id)
    assert stored is not None and stored.message_ts == ts and stored.requests == [(req.id, "argocd.rollback")]
    voted = await record_vote(deps, answer_id=answer_id, verdict="no", voter="W1", voter_name=None, channel="C1",
                              message_ts=ts)
    assert voted.refusal is None and voted.asks_real_cause
