"""Feedback in Slack: an investigation answer is stored and posted with "Right cause?" buttons; a vote is recorded
(a modal asks for the real cause after Partly or No); a step-down it causes is told in the channel. Also takes
`/sre autonomy …` lines (before the general `/sre` listener), to know the configured groups of whoever asks.

Each listener acks at once and leaves every decision to `sre_bot.feedback`; a refusal is told to the clicker alone.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from ..deps import Deps
from ..feedback.stepdown import StepDown
from ..feedback.votes import record_real_cause, record_vote
from ..logging import bind_request, get_logger
from ..services.commands import run_command
from ..services.reply import Reply
from ..store.errors import StoreError
from ..store.feedback import StoredAnswer
from ..store.records import ActionRequest, new_request_id
from .delivery import respond_or_log
from .feedback_blocks import (
    FEEDBACK_BLOCKS,
    REAL_CAUSE_BLOCK,
    REAL_CAUSE_MODAL,
    VERDICT_OF,
    answer_id_of,
    feedback_blocks,
    read_real_cause,
    real_cause_view,
)
from .render import render_reply
from .text import unescape
from .usergroups import GroupMembership

__all__ = ["register", "render_answer", "post_answer", "post_step_downs"]

log = get_logger(__name__)


async def render_answer(deps: Deps, reply: Reply, *, channel: str, ts: str | None,
                        thread_ts: str | None) -> tuple[str, list[dict]]:
    """`render_reply`, plus: an answer that named a cause is stored and gets the feedback buttons. `ts`: the
    message the answer will be (None when it is posted as a new message: `store.feedback.set_message` after)."""
    draft = reply.answer
    if draft is None or not draft.rateable or deps.store is None:
        return render_reply(reply)
    answer = StoredAnswer(id=new_request_id(), at=deps.clock(), channel=channel, message_ts=ts, thread_ts=thread_ts,
                          draft=draft, requests=[(r.id, r.action) for r in reply.requests])
    try:
        await deps.store.feedback.add_answer(answer)
    except StoreError as e:  # the answer matters more than its buttons
        log.warning("answer not stored; posted without feedback buttons", error=str(e))
        missing = "No feedback buttons on this answer: the store failed while recording it."
        return render_reply(reply.model_copy(update={"footer": " · ".join(filter(None, [reply.footer, missing]))}))
    text, blocks = render_reply(reply, reserve=FEEDBACK_BLOCKS)
    return text, blocks + feedback_blocks(answer.id)


async def post_answer(client: AsyncWebClient, deps: Deps, reply: Reply, *, channel: str, thread_ts: str | None,
                      requests: list[ActionRequest] | None = None) -> str:
    """Post an answer as a new message (an incident's investigation, in its thread) with the feedback buttons;
    `requests`: what it proposed, when they are not on the reply. Returns the message's ts."""
    if requests is not None:
        reply = reply.model_copy(update={"requests": requests})
    text, blocks = await render_answer(deps, reply, channel=channel, ts=None, thread_ts=thread_ts)
    posted = await client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=text, blocks=blocks)
    answer_id = answer_id_of(blocks)
    if answer_id is not None and deps.store is not None:
        try:
            await deps.store.feedback.set_message(answer_id, posted["ts"])
        except StoreError as e:  # the votes still work: the channel is checked, the message is not
            log.warning("answer's message not recorded", error=str(e))
    return posted["ts"]


async def post_step_downs(client: AsyncWebClient, steps: list[StepDown]) -> None:
    """Tell each step-down's channel why (a failed post is logged: the audit already holds it)."""
    for step in steps:
        try:
            await client.chat_postMessage(channel=step.channel, text=step.message())
        except SlackApiError as e:
            log.warning("step-down notice not posted", action=step.action, error=e.response.get("error"))


async def _tell(client: AsyncWebClient, channel: str, user: str, text: str) -> None:
    try:
        await client.chat_postEphemeral(channel=channel, user=user, text=text)
    except SlackApiError as e:
        log.warning("could not tell the voter", error=e.response.get("error"))


async def _is_autonomy(body: dict[str, Any]) -> bool:
    return unescape(body.get("text") or "").strip().lower().split(" ", 1)[0] == "autonomy"


def register(app: AsyncApp, deps: Deps, groups: GroupMembership) -> None:

    async def on_vote(ack: AsyncAck, body: dict, action: dict, client: AsyncWebClient) -> None:
        await ack()
        user = body.get("user") or {}
        container = body.get("container") or {}
        channel = (body.get("channel") or {}).get("id") or container.get("channel_id", "")
        verdict = VERDICT_OF.get(action.get("action_id", ""), "")
        bind_request(surface="slack", kind="feedback", user=user.get("id"), channel=channel)
        result = await record_vote(deps, answer_id=action.get("value", ""), verdict=verdict,
                                   voter=user.get("id", ""), voter_name=user.get("username") or user.get("name"),
                                   channel=channel, message_ts=container.get("message_ts"))
        if result.refusal is not None:
            log.info("feedback refused", reason=result.refusal[:80])
            await _tell(client, channel, user.get("id", ""), result.refusal)
            return
        assert result.answer is not None
        if result.asks_real_cause:
            try:
                await client.views_open(trigger_id=body.get("trigger_id", ""),
                                        view=real_cause_view(result.answer.id, verdict))
            except SlackApiError as e:  # the trigger expired (3 s): the vote stands without the real cause
                log.warning("could not open the real-cause modal", error=e.response.get("error"))
        await _tell(client, channel, user.get("id", ""), result.thanks)
        await post_step_downs(client, result.step_downs)
        deps.metrics.requests.labels("slack", "feedback", verdict).inc()

    for action_id in VERDICT_OF:
        app.action(action_id)(on_vote)

    @app.view(REAL_CAUSE_MODAL)
    async def on_real_cause(ack: AsyncAck, body: dict, view: dict) -> None:
        user = body.get("user") or {}
        answer_id, text = read_real_cause(view)
        bind_request(surface="slack", kind="feedback_cause", user=user.get("id"))
        refusal = await record_real_cause(deps, answer_id=answer_id, voter=user.get("id", ""),  # one quick write
                                          voter_name=user.get("username") or user.get("name"), text=text)
        if refusal is not None:  # said in the modal, which stays open
            await ack(response_action="errors", errors={REAL_CAUSE_BLOCK: refusal})
            return
        await ack()

    @app.command("/sre", matchers=[_is_autonomy])
    async def on_autonomy(ack: AsyncAck, command: dict, respond: AsyncRespond, client: AsyncWebClient) -> None:
        await ack(text="🔎 Looking at autonomy levels…", response_type="ephemeral")
        user = command.get("user_id", "")
        bind_request(surface="slack", kind="autonomy", user=user, channel=command.get("channel_id"))
        reply = await run_command(deps, unescape(command.get("text", "")), groups.caller_of_command(client, command))
        text, blocks = render_reply(reply)
        await respond_or_log(respond, text=text, blocks=blocks, replace_original=False,
                             response_type="ephemeral" if reply.ephemeral else "in_channel")
        deps.metrics.requests.labels("slack", "autonomy", reply.kind).inc()
